package stack_test

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
)

// TestPermissions is the permission test: for every kind of the table, the
// synthesised function role carries exactly that kind's statements (Sid,
// effect, actions, resources), and cdk-nag's record on the role carries the
// kind's suppressions. A kind that is off in the config has none of them.
func TestPermissions(t *testing.T) {
	on := stack.DefaultConfig()
	on.StopDatabases = true
	on.DeactivateNewAccessKeys = true
	off := stack.DefaultConfig()
	withKinds := build(t, on, "us-east-1")
	withoutOptional := build(t, off, "us-east-1")

	for _, k := range stack.Permissions {
		t.Run(k.Kind, func(t *testing.T) {
			b := withKinds
			if !k.Enabled(on) {
				t.Fatalf("%s is not enabled even with every option on", k.Kind)
			}
			bySid := map[string]map[string]any{}
			role := b.functionRole(t)
			for _, st := range b.roleStatements(role) {
				if sid, ok := st["Sid"].(string); ok {
					if bySid[sid] != nil {
						t.Errorf("Sid %s appears twice", sid)
					}
					bySid[sid] = st
				}
			}
			for _, want := range k.Statements {
				got := bySid[want.Sid]
				if got == nil {
					t.Errorf("role has no statement %s", want.Sid)
					continue
				}
				effect := map[bool]string{false: "Allow", true: "Deny"}[want.Deny]
				if got["Effect"] != effect {
					t.Errorf("%s: effect %v, want %s", want.Sid, got["Effect"], effect)
				}
				var wantActions, wantResources []any
				for _, a := range want.Actions {
					wantActions = append(wantActions, a)
				}
				for _, r := range want.Resources {
					wantResources = append(wantResources, cfnResource(r))
				}
				if g, w := sortedStrings(got["Action"]), sortedStrings(wantActions); !reflect.DeepEqual(g, w) {
					t.Errorf("%s: actions %v, want %v", want.Sid, g, w)
				}
				if g, w := sortedStrings(got["Resource"]), sortedStrings(wantResources); !reflect.DeepEqual(g, w) {
					t.Errorf("%s: resources %v, want %v", want.Sid, g, w)
				}
				if !reflect.DeepEqual(got["Condition"], cfnConditions(want.Conditions)) {
					t.Errorf("%s: condition %v, want %v", want.Sid, got["Condition"], cfnConditions(want.Conditions))
				}
			}

			suppressed := map[string]bool{}
			for _, id := range append([]string{role}, b.ofType("AWS::IAM::Policy")...) {
				for _, s := range b.nagSuppressions(id) {
					for _, at := range list(s["applies_to"]) {
						if r, _ := s["reason"].(string); strings.HasPrefix(r, k.Kind+": ") {
							suppressed[s["id"].(string)+" "+at.(string)] = true
						}
					}
				}
			}
			for _, s := range k.Suppressions {
				if !suppressed[s.Rule+" "+s.AppliesTo()] {
					t.Errorf("no %s suppression for %s with a reason naming %q", s.Rule, s.AppliesTo(), k.Kind)
				}
			}

			if !k.Enabled(off) || hasOptionalStatement(k, off) {
				sids := map[string]bool{}
				for _, st := range withoutOptional.roleStatements(withoutOptional.functionRole(t)) {
					if sid, ok := st["Sid"].(string); ok {
						sids[sid] = true
					}
				}
				for _, s := range k.Statements {
					if sids[s.Sid] && !(k.Enabled(off) && s.Enabled(off)) {
						t.Errorf("%s: %s is off by default, but the role has it", k.Kind, s.Sid)
					}
				}
			}
		})
	}
}

// TestPermissionsTableIsConsistent keeps the table honest without a synth:
// every allowed wildcard resource has its suppression in the same entry,
// every suppression matches a resource of the entry, every reason says why,
// and kinds and Sids are unique.
func TestPermissionsTableIsConsistent(t *testing.T) {
	kinds := map[string]bool{}
	sids := map[string]bool{}
	for _, k := range stack.Permissions {
		if k.Kind == "" || kinds[k.Kind] {
			t.Errorf("kind %q is empty or listed twice", k.Kind)
		}
		kinds[k.Kind] = true
		allowed := map[string]bool{}
		for _, s := range k.Statements {
			if sids[s.Sid] || s.Sid == "" {
				t.Errorf("%s: Sid %q is empty or used twice", k.Kind, s.Sid)
			}
			sids[s.Sid] = true
			if len(s.Actions) == 0 || len(s.Resources) == 0 {
				t.Errorf("%s: %s has no actions or no resources", k.Kind, s.Sid)
			}
			for _, a := range s.Actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: %s: wildcard action %q", k.Kind, s.Sid, a)
				}
			}
			for _, r := range s.Resources {
				if !s.Deny && strings.Contains(r, "*") {
					allowed[r] = true
				}
				if r != "*" && !strings.Contains(r, ":${Account}:") {
					t.Errorf("%s: %s: resource %q is not limited to this account", k.Kind, s.Sid, r)
				}
			}
		}
		suppressed := map[string]bool{}
		for _, s := range k.Suppressions {
			suppressed[s.Resource] = true
			if !allowed[s.Resource] {
				t.Errorf("%s: suppression for %q, which no Allow statement of the kind uses", k.Kind, s.Resource)
			}
			if s.Rule != "AwsSolutions-IAM5" || len(s.Reason) < 40 {
				t.Errorf("%s: suppression %s for %q needs rule AwsSolutions-IAM5 and a reason, got %q", k.Kind, s.Rule, s.Resource, s.Reason)
			}
		}
		for r := range allowed {
			if !suppressed[r] {
				t.Errorf("%s: wildcard resource %q has no suppression", k.Kind, r)
			}
		}
	}
}

// TestOwnFunctionCannotBeThrottled: the Lambda kind may set any function's
// reserved concurrency except the kill switch's own.
func TestOwnFunctionCannotBeThrottled(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	own := cfnResource("arn:${Partition}:lambda:${Region}:${Account}:function:" + stack.FunctionName)
	found := false
	for _, st := range b.roleStatements(b.functionRole(t)) {
		if st["Effect"] != "Deny" {
			continue
		}
		acts := sortedStrings(st["Action"])
		if containsString(acts, `"lambda:PutFunctionConcurrency"`) && containsString(acts, `"lambda:DeleteFunctionConcurrency"`) &&
			containsString(sortedStrings(st["Resource"]), sortedStrings(own)[0]) {
			found = true
		}
	}
	if !found {
		t.Errorf("no Deny of lambda:PutFunctionConcurrency and lambda:DeleteFunctionConcurrency on the kill switch's own function")
	}
}

// TestInfraDoesNotImportTheEngine: the CDK app reads the settings table,
// never the engine or the AWS SDK clients behind it, so that synth stays
// cheap and the stack cannot come to depend on engine internals.
func TestInfraDoesNotImportTheEngine(t *testing.T) {
	root, err := stack.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "./infra/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./infra/...: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/killswitch/killswitch/internal/engine" || strings.HasPrefix(pkg, "github.com/killswitch/killswitch/internal/engine/") {
			t.Errorf("infra depends on %s (go list -deps ./infra/...); infra may import internal/settings, never the engine", pkg)
		}
	}
}

// hasOptionalStatement says whether a kind has a statement that cfg leaves out.
func hasOptionalStatement(k stack.KindPermissions, cfg stack.Config) bool {
	for _, s := range k.Statements {
		if !s.Enabled(cfg) {
			return true
		}
	}
	return false
}

// cfnConditions is how Statement.Conditions appear in the template (nil for
// none): every value a list, each resolved like a resource.
func cfnConditions(c map[string]map[string][]string) any {
	if c == nil {
		return nil
	}
	out := map[string]any{}
	for op, kv := range c {
		m := map[string]any{}
		for k, vs := range kv {
			var values []any
			for _, v := range vs {
				values = append(values, cfnResource(v))
			}
			m[k] = values
		}
		out[op] = m
	}
	var generic any
	raw, _ := json.Marshal(out)
	_ = json.Unmarshal(raw, &generic)
	return generic
}
