package stack_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/guard"
)

// TestQuarantinePolicyIsTheGuardDocument: the deployed policy is exactly
// guard.QuarantineDocument resolved for the stack's account (the one the
// evaluator tests read): the template's pseudo parameters are filled in
// and the two compared as JSON. It is attached to nothing.
func TestQuarantinePolicyIsTheGuardDocument(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.BreakGlassARNs = []string{"arn:aws:iam::123456789012:role/break-glass", "arn:aws:iam::123456789012:user/bg"}
	b := build(t, cfg, "us-east-1")
	id := b.one(t, "AWS::IAM::ManagedPolicy", "ManagedPolicyName", stack.QuarantinePolicyName)
	p := b.props(id)
	for _, k := range []string{"Users", "Groups", "Roles"} {
		if p[k] != nil {
			t.Errorf("the quarantine policy is attached at deploy (%s: %v); only a trip attaches it", k, p[k])
		}
	}
	got := normalizeJSON(resolveCFN(p["PolicyDocument"], "aws", "us-east-1", "123456789012"))
	want := normalizeJSON(guard.QuarantineDocument(cfg.BreakGlassARNs).Resolve("aws", "us-east-1", "123456789012"))
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("template policy:\n got %s\nwant %s", g, w)
	}
}

// resolveCFN fills a template value's pseudo-parameter Refs and joins its
// Fn::Joins.
func resolveCFN(v any, partition, region, account string) any {
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["Ref"].(string); ok && len(x) == 1 {
			switch r {
			case "AWS::Partition":
				return partition
			case "AWS::Region":
				return region
			case "AWS::AccountId":
				return account
			}
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(x) == 1 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, resolveCFN(p, partition, region, account).(string))
			}
			return strings.Join(parts, j[0].(string))
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = resolveCFN(e, partition, region, account)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolveCFN(e, partition, region, account)
		}
		return out
	}
	return v
}

// normalizeJSON round-trips v through JSON and writes every one-element
// list as its element, as the CDK does.
func normalizeJSON(v any) any {
	raw, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(raw, &out)
	var norm func(any) any
	norm = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = norm(e)
			}
		case []any:
			if len(x) == 1 {
				return norm(x[0])
			}
			for i, e := range x {
				x[i] = norm(e)
			}
		}
		return v
	}
	return norm(out)
}

// TestTripTopicOnlyTheOwnersAlarmsAndBreakGlass: the trip topic's allows
// name the stack's own budget and alarm by exact ARN (no wildcard anywhere),
// and an explicit Deny covers every principal but AWS services and the
// break-glass principals.
func TestTripTopicOnlyTheOwnersAlarmsAndBreakGlass(t *testing.T) {
	for name, bg := range map[string][]string{
		"no break-glass":   nil,
		"with break-glass": {"arn:aws:iam::123456789012:role/break-glass", "arn:aws:iam::123456789012:user/bg"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := stack.DefaultConfig()
			cfg.BreakGlassARNs = bg
			b := build(t, cfg, "us-east-1")
			trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
			var statements []map[string]any
			for _, id := range b.ofType("AWS::SNS::TopicPolicy") {
				if reflect.DeepEqual(b.props(id)["Topics"], []any{ref(trip)}) {
					for _, s := range b.props(id)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
						statements = append(statements, s.(map[string]any))
					}
				}
			}
			var deny map[string]any
			for _, s := range statements {
				raw, _ := json.Marshal(s["Condition"])
				if s["Effect"] == "Allow" {
					if strings.Contains(string(raw), "*") || !strings.Contains(string(raw), `"ArnEquals":{"aws:SourceArn"`) {
						t.Errorf("allow without an exact aws:SourceArn: %s", raw)
					}
				}
				if s["Sid"] == stack.TripDenySid {
					deny = s
				}
			}
			if deny == nil {
				t.Fatalf("no %s statement in %v", stack.TripDenySid, statements)
			}
			cond := deny["Condition"].(map[string]any)
			if deny["Effect"] != "Deny" || deny["Action"] != "sns:Publish" || !reflect.DeepEqual(deny["Principal"], map[string]any{"AWS": "*"}) ||
				!reflect.DeepEqual(cond["BoolIfExists"], map[string]any{"aws:PrincipalIsAWSService": "false"}) {
				t.Errorf("deny statement %v", deny)
			}
			var wantExcept any
			if len(bg) > 0 {
				var l []any
				for _, a := range bg {
					l = append(l, a)
				}
				wantExcept = map[string]any{"aws:PrincipalArn": l}
			}
			if !reflect.DeepEqual(cond["ArnNotEquals"], wantExcept) {
				t.Errorf("deny exempts %v, want %v", cond["ArnNotEquals"], wantExcept)
			}
		})
	}
}

// TestRolesHaveTheFixedPathAndNames: the function recognises its own roles
// by guard.RolePath and guard.OwnRoleNames, so every role of the stack has
// them.
func TestRolesHaveTheFixedPathAndNames(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.SlackWorkspaceID, cfg.SlackChannelID = "T0123ABCD", "C0123ABCD"
	b := build(t, cfg, "us-east-1")
	roles := b.ofType("AWS::IAM::Role")
	if len(roles) != len(guard.OwnRoleNames) {
		t.Errorf("%d roles, want %d (one per own role name)", len(roles), len(guard.OwnRoleNames))
	}
	for _, id := range roles {
		p := b.props(id)
		name, _ := p["RoleName"].(string)
		path, _ := p["Path"].(string)
		if !guard.OwnRole(path, name) {
			t.Errorf("role %s: path %q name %q is not one the quarantine recognises as the switch's own", id, path, name)
		}
	}
}

func TestQuarantineOff(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.Quarantine = "off"
	b := build(t, cfg, "us-east-1")
	if p := b.ofType("AWS::IAM::ManagedPolicy"); len(p) != 0 {
		t.Errorf("quarantine off still creates %v", p)
	}
	if v := b.functionEnv(t)["KILLSWITCH_QUARANTINE_POLICY_ARN"]; v != "" {
		t.Errorf("KILLSWITCH_QUARANTINE_POLICY_ARN = %v, want empty", v)
	}
	for _, s := range b.roleStatements(b.functionRole(t)) {
		if s["Sid"] == "AttachTheQuarantinePolicyOnly" {
			t.Errorf("quarantine off still allows attaching it")
		}
	}
}
