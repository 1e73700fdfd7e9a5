package stack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/guard"
)

// cfnDocument is a guard document as the template holds it: every string
// with a pseudo-parameter as an Fn::Join.
func cfnDocument(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var plain any
	if err := json.Unmarshal(raw, &plain); err != nil {
		t.Fatal(err)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case string:
			return cfnResource(x)
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
		}
		return x
	}
	return walk(plain)
}

// TestDisarmKeyIsTheGuardPolicy: the disarm key is an HMAC_256 key for
// MACs whose policy is exactly guard.DisarmKeyPolicy; the function gets
// its ARN and may only verify with it; the CLI finds it in an output.
func TestDisarmKeyIsTheGuardPolicy(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.BreakGlassARNs = []string{"arn:aws:iam::123456789012:role/break-glass"}
	b := build(t, cfg, "us-east-1")
	keys := b.ofType("AWS::KMS::Key")
	if len(keys) != 1 {
		t.Fatalf("%d KMS keys, want the disarm key only", len(keys))
	}
	key := keys[0]
	p := b.props(key)
	if p["KeySpec"] != "HMAC_256" || p["KeyUsage"] != "GENERATE_VERIFY_MAC" || p["EnableKeyRotation"] != nil {
		t.Errorf("disarm key spec %v usage %v rotation %v; want HMAC_256, GENERATE_VERIFY_MAC, no rotation", p["KeySpec"], p["KeyUsage"], p["EnableKeyRotation"])
	}
	if want := cfnDocument(t, guard.DisarmKeyPolicy(cfg.BreakGlassARNs)); !reflectEqualJSON(p["KeyPolicy"], want) {
		got, _ := json.MarshalIndent(p["KeyPolicy"], "", " ")
		t.Errorf("key policy is not guard.DisarmKeyPolicy:\n%s", got)
	}
	b.one(t, "AWS::KMS::Alias", "AliasName", guard.DisarmKeyAlias)
	var kms5 bool
	for _, s := range b.nagSuppressions(key) {
		kms5 = kms5 || s["id"] == "AwsSolutions-KMS5"
	}
	if !kms5 {
		t.Error("the rotation finding (AwsSolutions-KMS5) is not suppressed with its reason")
	}

	if got := b.functionEnv(t)["KILLSWITCH_DISARM_KEY_ARN"]; !reflectEqualJSON(got, getAtt(key, "Arn")) {
		t.Errorf("KILLSWITCH_DISARM_KEY_ARN = %v, want the key's ARN", got)
	}
	var verify int
	for _, s := range b.roleStatements(b.functionRole(t)) {
		var kmsActions []string
		for _, a := range list(s["Action"]) {
			if strings.HasPrefix(strings.ToLower(a.(string)), "kms:") {
				kmsActions = append(kmsActions, a.(string))
			}
		}
		if len(kmsActions) == 0 {
			continue
		}
		verify++
		if len(kmsActions) != 1 || kmsActions[0] != "kms:VerifyMac" || s["Effect"] != "Allow" ||
			!reflectEqualJSON(list(s["Resource"]), []any{getAtt(key, "Arn")}) {
			t.Errorf("function role KMS statement %v; want only kms:VerifyMac on the disarm key", s)
		}
	}
	if verify != 1 {
		t.Errorf("%d KMS statements on the function role, want the one kms:VerifyMac", verify)
	}
	out, _ := b.json["Outputs"].(map[string]any)[stack.DisarmKeyOutput].(map[string]any)
	if out == nil || !reflectEqualJSON(out["Value"], getAtt(key, "Arn")) {
		t.Errorf("output %s = %v, want the key's ARN", stack.DisarmKeyOutput, out)
	}
}
