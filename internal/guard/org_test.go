package guard_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/iamsim"
)

// fullAccess is the FullAWSAccess SCP every level of an organization has
// unless it was taken off.
var fullAccess = iamsim.Policy{Name: "FullAWSAccess", Policy: map[string]any{
	"Version":   "2012-10-17",
	"Statement": []any{map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}},
}}

// accountKeyPolicy is KMS's default key policy: the account's IAM policies
// decide. KMS needs a key policy to allow anything at all.
var accountKeyPolicy = map[string]any{
	"Version": "2012-10-17",
	"Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"}, "Action": "kms:*", "Resource": "*",
	}},
}

// scpCall is one request by an admin of a member account, evaluated with
// the SCP attached at the root beside FullAWSAccess.
type scpCall struct {
	name                        string
	principal, action, resource string
	ctx                         map[string]any
	denied                      bool
}

func evalSCP(t *testing.T, scp guard.Document, calls []scpCall) []iamsim.Result {
	t.Helper()
	var sims []iamsim.Simulation
	for _, c := range calls {
		var resourcePolicy any
		if strings.HasPrefix(c.action, "kms:") {
			resourcePolicy = accountKeyPolicy
		}
		sims = append(sims, iamsim.Simulation{
			ResourcePolicy: resourcePolicy,
			Principal:      c.principal, Action: c.action, Resource: c.resource, ResourceAccount: acct, Context: c.ctx,
			Identity: []iamsim.Policy{admin},
			SCPs: []iamsim.OrgPolicies{
				{OrgIdentifier: "r-root", Policies: []iamsim.Policy{fullAccess, {Name: "scp", Policy: scp}}},
				{OrgIdentifier: acct, Policies: []iamsim.Policy{fullAccess}},
			},
		})
	}
	got, err := iamsim.Evaluate(context.Background(), sims)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range calls {
		if got[i].Denied() != c.denied {
			t.Errorf("%s (%s %s by %s): %s, want denied=%v", c.name, c.action, c.resource, c.principal, got[i].Answer, c.denied)
		}
	}
	return got
}

func TestGuardSCPEvaluation(t *testing.T) {
	t.Parallel()
	orgAdminPattern := "arn:aws:iam::*:role/OrgSecurityAdmin"
	except := []string{guard.StackSetExecRolePattern, guard.FunctionRolePattern, guard.ScheduleRolePattern, orgAdminPattern}
	for i := range except {
		except[i] = guard.Resolve(except[i], "aws", "*", "*")
	}
	doc := guard.GuardSCP(except, []string{orgAdminPattern}).Resolve("aws", "*", "*")

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
	trip := "arn:aws:sns:us-east-1:" + acct + ":killswitch-trip"
	notify := "arn:aws:sns:us-east-1:" + acct + ":killswitch-notify"
	group := "arn:aws:scheduler:us-east-1:" + acct + ":schedule-group/killswitch"
	key := "arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	alarm := func(name string) string { return "arn:aws:cloudwatch:us-east-1:" + acct + ":alarm:" + name }
	disarmKey := map[string]any{"kms:ResourceAliases": []string{guard.DisarmKeyAlias}}
	bob := "arn:aws:iam::" + acct + ":user/bob"

	// IAM authorizes the subscription calls (Unsubscribe,
	// SetSubscriptionAttributes) on the topic (the Service Authorization
	// Reference gives them the topic resource type), so they are asked on
	// the topic ARN.
	calls := []scpCall{
		{"attacker deletes the function", attacker, "lambda:DeleteFunction", fn, nil, true},
		{"root changes its configuration", root, "lambda:UpdateFunctionConfiguration", fn, nil, true},
		{"attacker throttles it to 0", attacker, "lambda:PutFunctionConcurrency", fn, nil, true},
		{"attacker disarms it by a direct invoke", attacker, "lambda:InvokeFunction", fn, nil, true},
		{"attacker deletes the member stack", attacker, "cloudformation:DeleteStack", stackARN, nil, true},
		{"attacker deletes the trip topic", attacker, "sns:DeleteTopic", trip, nil, true},
		{"attacker unsubscribes the function", attacker, "sns:Unsubscribe", trip, nil, true},
		{"attacker filters the owner's email", attacker, "sns:SetSubscriptionAttributes", notify, nil, true},
		{"attacker subscribes to the notify topic", attacker, "sns:Subscribe", notify, nil, true},
		{"attacker rewrites the topic policy", attacker, "sns:SetTopicAttributes", notify, nil, true},
		{"attacker raises the budget", attacker, "budgets:ModifyBudget", "arn:aws:budgets::" + acct + ":budget/killswitch-monthly", nil, true},
		{"attacker deletes the billing alarm", attacker, "cloudwatch:DeleteAlarms", alarm(guard.BillingAlarmName), nil, true},
		{"attacker deletes the function-errors alarm", attacker, "cloudwatch:DeleteAlarms", alarm(guard.FunctionErrorsAlarmName), nil, true},
		{"attacker silences the self-test alarm", attacker, "cloudwatch:DisableAlarmActions", alarm(guard.SelfTestAlarmName), nil, true},
		{"attacker rewrites the no-census alarm", attacker, "cloudwatch:PutMetricAlarm", alarm(guard.NoCensusAlarmName), nil, true},
		{"attacker deletes the schedule", attacker, "scheduler:DeleteSchedule", group[:len(group)-len("schedule-group/killswitch")] + "schedule/killswitch/killswitch-resweep", nil, true},
		{"attacker adds a schedule to the group", attacker, "scheduler:CreateSchedule", group[:len(group)-len("schedule-group/killswitch")] + "schedule/killswitch/disarm", nil, true},
		{"attacker deletes the group", attacker, "scheduler:DeleteScheduleGroup", group, nil, true},
		{"attacker passes the scheduler role", attacker, "iam:PassRole", schedRole, nil, true},
		{"attacker passes the function role", attacker, "iam:PassRole", fnRole, nil, true},
		{"attacker resets the latch", attacker, "ssm:PutParameter", latch, nil, true},
		{"attacker rewrites a manifest", attacker, "s3:PutObject", "arn:aws:s3:::killswitch-manifests-" + acct + "-us-east-1/trips/x", nil, true},
		{"attacker empties the quarantine policy", attacker, "iam:CreatePolicyVersion", quarantine, nil, true},
		{"attacker rewrites the function's overflow policy", attacker, "iam:CreatePolicyVersion", "arn:aws:iam::" + acct + ":policy" + guard.RolePath + guard.FunctionOverflowPolicy(1), nil, true},
		{"attacker detaches the quarantine from itself", attacker, "iam:DetachRolePolicy", attacker, map[string]any{"iam:PolicyARN": quarantine}, true},
		{"attacker removes the quarantine boundary", attacker, "iam:DeleteUserPermissionsBoundary", bob, map[string]any{"iam:PermissionsBoundary": quarantine}, true},
		{"attacker removes a role's quarantine boundary", attacker, "iam:DeleteRolePermissionsBoundary", attacker, map[string]any{"iam:PermissionsBoundary": quarantine}, true},
		{"attacker trusts itself in the function's role", attacker, "iam:UpdateAssumeRolePolicy", fnRole, nil, true},
		{"attacker makes a role named like the execution role", attacker, "iam:CreateRole", "arn:aws:iam::" + acct + ":role/stacksets-exec-evil", nil, true},
		{"attacker makes a role named like the org admin", attacker, "iam:CreateRole", orgAdmin, nil, true},
		{"attacker makes a disarm MAC", attacker, "kms:GenerateMac", key, disarmKey, true},
		{"attacker schedules the disarm key's deletion", root, "kms:ScheduleKeyDeletion", key, disarmKey, true},
		{"attacker rewrites the disarm key's policy", attacker, "kms:PutKeyPolicy", key, disarmKey, true},

		{"attacker's own function is not the switch", attacker, "lambda:DeleteFunction", "arn:aws:lambda:us-east-1:" + acct + ":function:killswitch-other", nil, false},
		{"attacker detaches another policy", attacker, "iam:DetachRolePolicy", attacker, map[string]any{"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, false},
		{"attacker removes another boundary", attacker, "iam:DeleteUserPermissionsBoundary", bob, map[string]any{"iam:PermissionsBoundary": "arn:aws:iam::" + acct + ":policy/dev-boundary"}, false},
		{"attacker writes another parameter", attacker, "ssm:PutParameter", "arn:aws:ssm:us-east-1:" + acct + ":parameter/app/x", nil, false},
		{"attacker publishes to the notify topic", attacker, "sns:Publish", notify, nil, false},
		{"attacker uses another key", attacker, "kms:GenerateMac", key, map[string]any{"kms:ResourceAliases": []string{"alias/app"}}, false},
		{"anyone verifies a disarm MAC", attacker, "kms:VerifyMac", key, disarmKey, false},
		{"StackSet execution role updates the function", execRole, "lambda:UpdateFunctionCode", fn, nil, false},
		{"StackSet execution role updates the stack", execRole, "cloudformation:UpdateStack", stackARN, nil, false},
		{"StackSet execution role passes the function role", execRole, "iam:PassRole", fnRole, nil, false},
		{"the function sets its latch", fnRole, "ssm:PutParameter", latch, nil, false},
		{"the function subscribes the owner", fnRole, "sns:Subscribe", notify, nil, false},
		{"the schedule invokes the function", schedRole, "lambda:InvokeFunction", fn, nil, false},
		{"an org admin disarms a member", orgAdmin, "lambda:InvokeFunction", fn, nil, false},
		{"an org admin makes a disarm MAC", orgAdmin, "kms:GenerateMac", key, disarmKey, false},
		{"an org admin detaches the quarantine", orgAdmin, "iam:DetachUserPolicy", bob, map[string]any{"iam:PolicyARN": quarantine}, false},
		{"an org admin removes the quarantine boundary", orgAdmin, "iam:DeleteUserPermissionsBoundary", bob, map[string]any{"iam:PermissionsBoundary": quarantine}, false},
	}
	got := evalSCP(t, doc, calls)
	for _, name := range append([]string{guard.BillingAlarmName}, guard.HealthAlarmNames...) {
		if !strings.HasPrefix(name, guard.AlarmNamePrefix) {
			t.Errorf("alarm %s lacks the prefix %s the guard SCP matches", name, guard.AlarmNamePrefix)
		}
	}
	// A condition key the action does not support never matches in AWS:
	// the evaluator drops it, and the statement would deny nothing.
	for i, c := range calls {
		if len(got[i].IgnoredContextKeys) > 0 {
			t.Errorf("%s: %s does not support the condition keys %v", c.name, c.action, got[i].IgnoredContextKeys)
		}
	}

	b, _ := json.Marshal(guard.GuardSCP(except, []string{orgAdminPattern}).Resolve("aws-us-gov", "*", "*"))
	t.Logf("guard SCP: %d characters", len(b))
	if len(b) > 5120 {
		t.Errorf("guard SCP is %d characters, over the 5,120 limit", len(b))
	}
}

func TestOrgQuarantineSCPDeniesEverythingButTheExceptions(t *testing.T) {
	t.Parallel()
	exec := "arn:aws:iam::*:role/stacksets-exec-*"
	doc := guard.OrgQuarantineSCP([]string{exec}).Resolve("aws", "*", "*")
	root := "arn:aws:iam::" + acct + ":root"
	evalSCP(t, doc, []scpCall{
		{"root launches", root, "ec2:RunInstances", "arn:aws:ec2:us-east-1:" + acct + ":instance/*", nil, true},
		{"a user makes a key", "arn:aws:iam::" + acct + ":user/new", "iam:CreateAccessKey", "arn:aws:iam::" + acct + ":user/new", nil, true},
		{"root opens Lightsail", root, "lightsail:CreateInstances", "*", nil, true},
		{"root invokes a model", root, "bedrock:InvokeModel", "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1", nil, true},
		{"an admin role enables a region", "arn:aws:iam::" + acct + ":role/Admin", "account:EnableRegion", "*", nil, true},
		{"the StackSet deploys", "arn:aws:iam::" + acct + ":role/stacksets-exec-abc", "lambda:CreateFunction", "*", nil, false},
		{"the member's switch stops instances", "arn:aws:iam::" + acct + ":role/killswitch/killswitch-function", "ec2:StopInstances", "arn:aws:ec2:us-east-1:" + acct + ":instance/i-0123456789abcdef0", nil, false},
	})
	raw, _ := json.Marshal(guard.OrgQuarantineSCP([]string{exec, "arn:aws:iam::*:role/OrgSecurityAdmin"}).Resolve("aws-us-gov", "*", "*"))
	if len(raw) > 5120 {
		t.Errorf("org quarantine SCP is %d characters, over 5,120", len(raw))
	}
}
