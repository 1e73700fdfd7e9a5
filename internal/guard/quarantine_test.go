package guard_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/guard"
)

// IAM cannot be simulated here (moto does not evaluate policies), so the
// document's content is asserted: every action the issue lists is denied,
// the switch's own resources are denied by ARN, and nothing is allowed.
func TestQuarantineDocumentDeniesLaunchingAndTampering(t *testing.T) {
	t.Parallel()
	bg := []string{"arn:aws:iam::111122223333:role/break-glass", "arn:aws:iam::111122223333:user/ops/bg"}
	doc := guard.QuarantineDocument(bg).Resolve("aws", "us-east-1", "111122223333")

	denied := map[string][]string{} // action -> resources
	for _, s := range doc.Statement {
		if s.Effect != "Deny" {
			t.Errorf("%s: effect %s; the quarantine must only deny", s.Sid, s.Effect)
		}
		for _, a := range s.Action {
			denied[a] = append(denied[a], s.Resource...)
		}
	}
	launch := []string{
		"ec2:RunInstances", "ec2:StartInstances", "ec2:RequestSpotInstances", "ec2:RequestSpotFleet", "ec2:CreateFleet",
		"autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup", "autoscaling:SetDesiredCapacity",
		"ecs:CreateService", "ecs:UpdateService", "ecs:RunTask", "ecs:StartTask",
		"eks:CreateNodegroup", "eks:UpdateNodegroupConfig",
		"sagemaker:CreateNotebookInstance", "sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob", "sagemaker:CreateTransformJob",
		"batch:CreateComputeEnvironment", "batch:UpdateComputeEnvironment", "batch:SubmitJob",
		"lambda:CreateFunction", "lightsail:Create*",
		"iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile",
	}
	for _, a := range launch {
		if !slices.Contains(denied[a], "*") {
			t.Errorf("%s is not denied on every resource: %v", a, denied[a])
		}
	}

	const (
		fn     = "arn:aws:lambda:us-east-1:111122223333:function:killswitch"
		trip   = "arn:aws:sns:us-east-1:111122223333:killswitch-trip"
		notify = "arn:aws:sns:us-east-1:111122223333:killswitch-notify"
		policy = "arn:aws:iam::111122223333:policy/killswitch-quarantine"
	)
	tamper := []struct {
		action, resource string
	}{
		{"lambda:UpdateFunctionConfiguration", fn}, {"lambda:UpdateFunctionCode", fn}, {"lambda:DeleteFunction", fn},
		{"lambda:PutFunctionConcurrency", fn}, {"lambda:DeleteFunctionConcurrency", fn}, {"lambda:RemovePermission", fn},
		{"lambda:InvokeFunction", fn}, {"lambda:InvokeFunction", fn + ":*"},
		{"sns:Unsubscribe", trip}, {"sns:DeleteTopic", trip}, {"sns:SetTopicAttributes", trip}, {"sns:DeleteTopic", notify}, {"sns:Unsubscribe", notify},
		{"budgets:ModifyBudget", "arn:aws:budgets::111122223333:budget/killswitch-monthly"},
		{"cloudwatch:DeleteAlarms", "arn:aws:cloudwatch:us-east-1:111122223333:alarm:killswitch-estimated-charges"},
		{"cloudwatch:DisableAlarmActions", "arn:aws:cloudwatch:us-east-1:111122223333:alarm:killswitch-estimated-charges"},
		{"scheduler:DeleteSchedule", "arn:aws:scheduler:us-east-1:111122223333:schedule/default/killswitch-resweep"},
		{"scheduler:UpdateSchedule", "arn:aws:scheduler:us-east-1:111122223333:schedule/default/killswitch-resweep"},
		{"ssm:PutParameter", "arn:aws:ssm:us-east-1:111122223333:parameter/killswitch/latch"},
		{"ssm:DeleteParameter", "arn:aws:ssm:us-east-1:111122223333:parameter/killswitch/latch"},
		{"cloudformation:DeleteStack", "arn:aws:cloudformation:us-east-1:111122223333:stack/Killswitch/*"},
		{"cloudformation:UpdateStack", "arn:aws:cloudformation:us-east-1:111122223333:stack/Killswitch/*"},
		{"iam:CreatePolicyVersion", policy}, {"iam:SetDefaultPolicyVersion", policy}, {"iam:DeletePolicy", policy},
		{"iam:UpdateAssumeRolePolicy", "arn:aws:iam::111122223333:role/killswitch/*"},
		{"iam:UpdateAssumeRolePolicy", bg[0]}, {"iam:UpdateLoginProfile", bg[1]},
	}
	for _, tc := range tamper {
		if !slices.Contains(denied[tc.action], tc.resource) {
			t.Errorf("%s is not denied on %s: %v", tc.action, tc.resource, denied[tc.action])
		}
	}

	// Detaching is denied for this policy only, by the iam:PolicyARN key.
	var detach *guard.Statement
	for i, s := range doc.Statement {
		if s.Sid == "DenyDetachingTheQuarantinePolicy" {
			detach = &doc.Statement[i]
		}
	}
	if detach == nil || !slices.Equal(detach.Condition["ArnEquals"]["iam:PolicyARN"], []string{policy}) {
		t.Fatalf("no statement denies detaching exactly %s: %+v", policy, detach)
	}
	for _, a := range []string{"iam:DetachUserPolicy", "iam:DetachGroupPolicy", "iam:DetachRolePolicy"} {
		if !slices.Contains(detach.Action, a) {
			t.Errorf("detaching with %s is not denied", a)
		}
	}

	// Every switch resource is an ARN of this account, none a wildcard
	// beyond the stack's own id suffix and the role path.
	raw, _ := json.Marshal(doc)
	if strings.Contains(string(raw), "${") {
		t.Errorf("unresolved placeholder in %s", raw)
	}
	// IAM's managed-policy limit is 6,144 characters without whitespace.
	if n := len(raw); n > 6144 {
		t.Errorf("policy is %d characters, over IAM's 6,144", n)
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
