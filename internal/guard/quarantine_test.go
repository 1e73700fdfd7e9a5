package guard_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/iamsim"
)

const acct = "111122223333"

// admin is AdministratorAccess, as the attacker holds it.
var admin = iamsim.Policy{Name: "AdministratorAccess", Policy: map[string]any{
	"Version":   "2012-10-17",
	"Statement": []any{map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}},
}}

// IAM counts a policy's characters without whitespace: json.Marshal's
// compact form. Ten break-glass roles of a realistic maximal length (the
// longest partition, a path, a 64-character name) must fit in 6,144.
func TestQuarantineDocumentFitsWithTenBreakGlassRoles(t *testing.T) {
	t.Parallel()
	var bg []string
	for i := range 10 {
		name := strings.Repeat("b", 62) + string(rune('a'+i)) + "x"
		bg = append(bg, "arn:aws-us-gov:iam::123456789012:role/break-glass/emergency-access/"+name)
	}
	raw, err := json.Marshal(guard.QuarantineDocument(bg).Resolve("aws-us-gov", "us-gov-west-1", "123456789012"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "${") {
		t.Errorf("unresolved placeholder in %s", raw)
	}
	t.Logf("quarantine policy with 10 break-glass roles: %d characters", len(raw))
	if n := len(raw); n > 6144 {
		t.Errorf("quarantine policy with 10 break-glass roles is %d characters, over IAM's 6,144", n)
	}
	for _, a := range bg {
		if !strings.Contains(string(raw), a) {
			t.Errorf("break-glass role %s is not in the policy", a)
		}
	}
}

// The quarantine beside AdministratorAccess, attached or as a boundary, in
// the real evaluator: everything is denied but who-am-I and assuming a
// break-glass role.
func TestQuarantineDocumentDeniesByDefault(t *testing.T) {
	t.Parallel()
	const bgRole = "arn:aws:iam::" + acct + ":role/break-glass"
	doc := guard.QuarantineDocument([]string{bgRole, "arn:aws:iam::" + acct + ":user/ops/bg"}).Resolve("aws", "us-east-1", acct)
	none := guard.QuarantineDocument(nil).Resolve("aws", "us-east-1", acct)
	q := iamsim.Policy{Name: guard.QuarantinePolicyName, Policy: doc}
	const user = "arn:aws:iam::" + acct + ":user/alice"
	type req struct{ action, resource string }
	reqs := []struct {
		req
		allowed bool
	}{
		{req{"ec2:RunInstances", "arn:aws:ec2:us-east-1:" + acct + ":instance/*"}, false},
		{req{"bedrock:InvokeModel", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-opus-20240229-v1:0"}, false},
		{req{"lambda:InvokeFunction", "arn:aws:lambda:us-east-1:" + acct + ":function:killswitch"}, false},
		{req{"iam:DetachUserPolicy", user}, false},
		{req{"iam:DeleteUserPermissionsBoundary", user}, false},
		{req{"sts:AssumeRole", "arn:aws:iam::" + acct + ":role/other"}, false},
		{req{"sts:AssumeRole", "arn:aws:iam::444455556666:role/elsewhere"}, false},
		{req{"sts:GetCallerIdentity", "*"}, true},
		{req{"sts:AssumeRole", bgRole}, true},
	}
	var sims []iamsim.Simulation
	for _, r := range reqs {
		base := iamsim.Simulation{Principal: user, Action: r.action, Resource: r.resource, ResourceAccount: acct}
		attached, boundary := base, base
		attached.Identity = []iamsim.Policy{admin, q}
		boundary.Identity = []iamsim.Policy{admin}
		boundary.Boundaries = []iamsim.Policy{q}
		sims = append(sims, attached, boundary)
	}
	// With no break-glass role, no role at all may be assumed.
	sims = append(sims, iamsim.Simulation{Principal: user, Action: "sts:AssumeRole", Resource: bgRole, ResourceAccount: acct,
		Identity: []iamsim.Policy{admin, {Name: "q", Policy: none}}})
	got, err := iamsim.Evaluate(context.Background(), sims)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		for j, how := range []string{"attached", "as a boundary"} {
			res := got[2*i+j]
			if res.Denied() == r.allowed {
				t.Errorf("quarantine %s: %s on %s: %s, want allowed=%v", how, r.action, r.resource, res.Answer, r.allowed)
			}
		}
	}
	if last := got[len(got)-1]; !last.Denied() {
		t.Errorf("quarantine without break-glass roles: sts:AssumeRole is %s", last.Answer)
	}
}

// The scheduler role trusts EventBridge Scheduler for the switch's own
// schedule group in this account only.
func TestScheduleRoleTrust(t *testing.T) {
	t.Parallel()
	trust := guard.ScheduleRoleTrust().Resolve("aws", "us-east-1", acct)
	role := "arn:aws:iam::" + acct + ":role/killswitch/" + guard.ScheduleRoleName
	group := guard.Resolve(guard.ScheduleGroupARN, "aws", "us-east-1", acct)
	for _, tc := range []struct {
		name, principal, sourceArn, sourceAccount string
		allowed                                   bool
	}{
		{"the switch's group", guard.SchedulerService, group, acct, true},
		{"the default group", guard.SchedulerService, "arn:aws:scheduler:us-east-1:" + acct + ":schedule-group/default", acct, false},
		{"another group", guard.SchedulerService, "arn:aws:scheduler:us-east-1:" + acct + ":schedule-group/killswitch-evil", acct, false},
		{"another account", guard.SchedulerService, "arn:aws:scheduler:us-east-1:444455556666:schedule-group/killswitch", "444455556666", false},
		{"another service", "lambda.amazonaws.com", group, acct, false},
	} {
		got, err := iamsim.Evaluate(context.Background(), []iamsim.Simulation{{
			Principal: tc.principal, Action: "sts:AssumeRole", Resource: role, ResourceAccount: acct,
			Context:        map[string]any{"aws:SourceArn": tc.sourceArn, "aws:SourceAccount": tc.sourceAccount},
			ResourcePolicy: trust,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Denied() == tc.allowed {
			t.Errorf("%s: %s, want allowed=%v", tc.name, got[0].Answer, tc.allowed)
		}
	}
}

func TestOwnRoleIsExactlyTheStacksRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, name string
		own        bool
	}{
		{guard.RolePath, guard.FunctionRoleName, true},
		{guard.RolePath, guard.ScheduleRoleName, true},
		{guard.RolePath, guard.SlackRoleName, true},
		{guard.RolePath, "killswitch-helper", false}, // an attacker's role under the path
		{"/", guard.FunctionRoleName, false},         // the name elsewhere
		{"/killswitch/x/", guard.FunctionRoleName, false},
	} {
		if got := guard.OwnRole(tc.path, tc.name); got != tc.own {
			t.Errorf("OwnRole(%q, %q) = %v, want %v", tc.path, tc.name, got, tc.own)
		}
	}
	for path, managed := range map[string]bool{"/aws-service-role/spot.amazonaws.com/": true, "/aws-reserved/sso.amazonaws.com/": true, "/": false, "/service-role/": false} {
		if guard.AWSManagedRolePath(path) != managed {
			t.Errorf("AWSManagedRolePath(%q) = %v", path, !managed)
		}
	}
}
