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
// guard.QuarantineDocument (the one the content test and the integration
// tests read), with the stack's pseudo-parameters, attached to nothing.
func TestQuarantinePolicyIsTheGuardDocument(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.BreakGlassARNs = []string{"arn:aws:iam::123456789012:role/break-glass"}
	b := build(t, cfg, "us-east-1")
	id := b.one(t, "AWS::IAM::ManagedPolicy", "ManagedPolicyName", stack.QuarantinePolicyName)
	p := b.props(id)
	for _, k := range []string{"Users", "Groups", "Roles"} {
		if p[k] != nil {
			t.Errorf("the quarantine policy is attached at deploy (%s: %v); only a trip attaches it", k, p[k])
		}
	}
	got := p["PolicyDocument"].(map[string]any)["Statement"].([]any)
	doc := guard.QuarantineDocument(cfg.BreakGlassARNs)
	if len(got) != len(doc.Statement) {
		t.Fatalf("%d statements, want %d", len(got), len(doc.Statement))
	}
	for i, w := range doc.Statement {
		g := got[i].(map[string]any)
		var wantRes []any
		for _, r := range w.Resource {
			wantRes = append(wantRes, cfnResource(r))
		}
		var wantAct []any
		for _, a := range w.Action {
			wantAct = append(wantAct, a)
		}
		if g["Sid"] != w.Sid || g["Effect"] != "Deny" ||
			!reflect.DeepEqual(sortedStrings(g["Action"]), sortedStrings(wantAct)) ||
			!reflect.DeepEqual(sortedStrings(g["Resource"]), sortedStrings(wantRes)) ||
			!reflect.DeepEqual(g["Condition"], cfnConditions(w.Condition)) {
			t.Errorf("statement %d:\n got %v\nwant %+v", i, g, w)
		}
	}
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
