package guard_test

import (
	"encoding/json"
	"path"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/guard"
)

// moto does not evaluate SCPs, so this evaluates the guard SCP's Deny
// statements the way IAM does for ArnLike/ArnNotLike and wildcards, for the
// principals and calls that matter: an attacker with admin rights in a
// member account, the StackSet's execution role, the switch's own roles and
// an org admin.
type call struct {
	principal, action, resource string
	ctx                         map[string]string // other condition keys
}

// like is IAM's ArnLike/StringLike: * and ? wildcards, case-sensitive.
func like(pattern, s string) bool {
	// path.Match treats / specially; IAM does not, so compare segment-free.
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

func denied(doc guard.Document, c call) (bool, string) {
	for _, st := range doc.Statement {
		if st.Effect != "Deny" {
			continue
		}
		actionHit := false
		for _, a := range st.Action {
			actionHit = actionHit || like(strings.ToLower(a), strings.ToLower(c.action))
		}
		resourceHit := false
		for _, r := range st.Resource {
			resourceHit = resourceHit || like(r, c.resource)
		}
		if !actionHit || !resourceHit {
			continue
		}
		condsHold := true
		for op, kv := range st.Condition {
			for key, values := range kv {
				v := c.ctx[key]
				if key == "aws:PrincipalArn" {
					v = c.principal
				}
				any := false
				for _, p := range values {
					any = any || like(p, v)
				}
				switch op {
				case "ArnNotLike":
					condsHold = condsHold && !any
				case "ArnLike":
					condsHold = condsHold && v != "" && any
				default:
					panic("operator the test does not evaluate: " + op)
				}
			}
		}
		if condsHold {
			return true, st.Sid
		}
	}
	return false, ""
}

func TestGuardSCPEvaluation(t *testing.T) {
	t.Parallel()
	const acct = "111122223333"
	admin := "arn:aws:iam::*:role/OrgSecurityAdmin"
	except := []string{guard.StackSetExecRolePattern, guard.FunctionRolePattern, guard.ScheduleRolePattern, admin}
	for i := range except {
		except[i] = guard.Resolve(except[i], "aws", "*", "*")
	}
	doc := guard.GuardSCP(except, []string{admin}).Resolve("aws", "*", "*")

	attacker := "arn:aws:iam::" + acct + ":role/Admin"
	root := "arn:aws:iam::" + acct + ":root"
	execRole := "arn:aws:iam::" + acct + ":role/stacksets-exec-0123456789abcdef"
	fnRole := "arn:aws:iam::" + acct + ":role/killswitch/killswitch-function"
	schedRole := "arn:aws:iam::" + acct + ":role/killswitch/killswitch-resweep-scheduler"
	orgAdmin := "arn:aws:iam::" + acct + ":role/OrgSecurityAdmin"
	fn := "arn:aws:lambda:us-east-1:" + acct + ":function:killswitch"
	latch := "arn:aws:ssm:us-east-1:" + acct + ":parameter/killswitch/latch"
	stackARN := "arn:aws:cloudformation:us-east-1:" + acct + ":stack/StackSet-killswitch-member-8d2f1c4e/0a1b2c3d"
	quarantine := "arn:aws:iam::" + acct + ":policy/killswitch-quarantine"

	cases := []struct {
		name string
		c    call
		want bool
	}{
		{"attacker deletes the function", call{attacker, "lambda:DeleteFunction", fn, nil}, true},
		{"root changes its configuration", call{root, "lambda:UpdateFunctionConfiguration", fn, nil}, true},
		{"attacker throttles it to 0", call{attacker, "lambda:PutFunctionConcurrency", fn, nil}, true},
		{"attacker disarms it by a direct invoke", call{attacker, "lambda:InvokeFunction", fn, nil}, true},
		{"attacker deletes the member stack", call{attacker, "cloudformation:DeleteStack", stackARN, nil}, true},
		{"attacker deletes the trip topic", call{attacker, "sns:DeleteTopic", "arn:aws:sns:us-east-1:" + acct + ":killswitch-trip", nil}, true},
		{"attacker unsubscribes the function", call{attacker, "sns:Unsubscribe", "arn:aws:sns:us-east-1:" + acct + ":killswitch-trip:0f1e2d3c", nil}, true},
		{"attacker raises the budget", call{attacker, "budgets:ModifyBudget", "arn:aws:budgets::" + acct + ":budget/killswitch-monthly", nil}, true},
		{"attacker deletes the alarm", call{attacker, "cloudwatch:DeleteAlarms", "arn:aws:cloudwatch:us-east-1:" + acct + ":alarm:killswitch-estimated-charges", nil}, true},
		{"attacker deletes the schedule", call{attacker, "scheduler:DeleteSchedule", "arn:aws:scheduler:us-east-1:" + acct + ":schedule/default/killswitch-resweep", nil}, true},
		{"attacker resets the latch", call{attacker, "ssm:PutParameter", latch, nil}, true},
		{"attacker rewrites a manifest", call{attacker, "s3:PutObject", "arn:aws:s3:::killswitch-manifests-" + acct + "-us-east-1/trips/x", nil}, true},
		{"attacker empties the quarantine policy", call{attacker, "iam:CreatePolicyVersion", quarantine, nil}, true},
		{"attacker detaches the quarantine from itself", call{attacker, "iam:DetachRolePolicy", attacker, map[string]string{"iam:PolicyARN": quarantine}}, true},
		{"attacker trusts itself in the function's role", call{attacker, "iam:UpdateAssumeRolePolicy", fnRole, nil}, true},
		{"attacker makes a role named like the execution role", call{attacker, "iam:CreateRole", "arn:aws:iam::" + acct + ":role/stacksets-exec-evil", nil}, true},
		{"attacker makes a role named like the org admin", call{attacker, "iam:CreateRole", orgAdmin, nil}, true},

		{"attacker's own function is not the switch", call{attacker, "lambda:DeleteFunction", "arn:aws:lambda:us-east-1:" + acct + ":function:killswitch-other", nil}, false},
		{"attacker detaches another policy", call{attacker, "iam:DetachRolePolicy", attacker, map[string]string{"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}}, false},
		{"attacker writes another parameter", call{attacker, "ssm:PutParameter", "arn:aws:ssm:us-east-1:" + acct + ":parameter/app/x", nil}, false},
		{"StackSet execution role updates the function", call{execRole, "lambda:UpdateFunctionCode", fn, nil}, false},
		{"StackSet execution role updates the stack", call{execRole, "cloudformation:UpdateStack", stackARN, nil}, false},
		{"the function sets its latch", call{fnRole, "ssm:PutParameter", latch, nil}, false},
		{"the schedule invokes the function", call{schedRole, "lambda:InvokeFunction", fn, nil}, false},
		{"an org admin disarms a member", call{orgAdmin, "lambda:InvokeFunction", fn, nil}, false},
		{"an org admin detaches the quarantine", call{orgAdmin, "iam:DetachUserPolicy", "arn:aws:iam::" + acct + ":user/bob", map[string]string{"iam:PolicyARN": quarantine}}, false},
	}
	for _, c := range cases {
		got, sid := denied(doc, c.c)
		if got != c.want {
			t.Errorf("%s: denied=%v (%s), want %v", c.name, got, sid, c.want)
		}
	}

	// Every statement only denies, and the document fits an SCP.
	b, _ := json.Marshal(guard.GuardSCP(except, []string{admin}).Resolve("aws-us-gov", "*", "*"))
	if len(b) > 5120 {
		t.Errorf("guard SCP is %d characters, over the 5,120 limit", len(b))
	}
}

func TestOrgQuarantineSCPDeniesLaunchingToEveryoneButTheExceptions(t *testing.T) {
	t.Parallel()
	exec := "arn:aws:iam::*:role/stacksets-exec-*"
	doc := guard.OrgQuarantineSCP([]string{exec}).Resolve("aws", "*", "*")
	const acct = "111122223333"
	for _, c := range []struct {
		c    call
		want bool
	}{
		{call{"arn:aws:iam::" + acct + ":root", "ec2:RunInstances", "arn:aws:ec2:us-east-1:" + acct + ":instance/*", nil}, true},
		{call{"arn:aws:iam::" + acct + ":role/killswitch/killswitch-function", "ec2:StartInstances", "*", nil}, true},
		{call{"arn:aws:iam::" + acct + ":user/new", "iam:CreateAccessKey", "arn:aws:iam::" + acct + ":user/new", nil}, true},
		{call{"arn:aws:iam::" + acct + ":root", "lightsail:CreateInstances", "*", nil}, true},
		{call{"arn:aws:iam::" + acct + ":role/stacksets-exec-abc", "lambda:CreateFunction", "*", nil}, false},
		{call{"arn:aws:iam::" + acct + ":root", "ec2:StopInstances", "*", nil}, false},
	} {
		if got, _ := denied(doc, c.c); got != c.want {
			t.Errorf("%s %s: denied=%v, want %v", c.c.principal, c.c.action, got, c.want)
		}
	}
}
