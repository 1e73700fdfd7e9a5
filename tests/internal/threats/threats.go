// Package threats is the table of what an attacker with the account's
// stolen admin credentials tries after a trip, and what break-glass must
// still do. tests/lockdown_eval_test.go evaluates every row in a real IAM
// evaluator against the policies the switch leaves on moto; `make
// readme-threats` writes README's threat-model table from the same rows,
// so the README claims nothing the evaluator did not answer.
package threats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/killswitch/killswitch/internal/guard"
)

// Who makes a request.
type Who string

const (
	// Attacker is every principal the trip quarantined (the attacker's
	// user and role, and the owner's own user): each row is asked as each.
	Attacker Who = "attacker"
	// Owner is the owner's quarantined user, with MFA, reaching break-glass.
	Owner Who = "owner"
	// BreakGlass is the break-glass role, with AdministratorAccess.
	BreakGlass Who = "break-glass"
)

// Groups of requests, in README order.
const (
	Disarm    = "Disarm the switch"
	Spend     = "Spend"
	Blind     = "Blind the owner"
	StayFree  = "Stay free of the quarantine"
	Tamper    = "Tamper with the switch"
	Elsewhere = "Launch where the switch has no kind"
	Recover   = "Break-glass recovers"
)

var groupOrder = []string{Disarm, Spend, Blind, StayFree, Tamper, Elsewhere, Recover}

// Request is one row: a call and whether it must be allowed.
type Request struct {
	Group    string
	Who      Who
	Action   string
	Resource string
	// What the row means, for the README ("" for the action alone).
	What    string
	Context map[string]any
	// KeyPolicy: KMS needs a key policy to allow anything; the row is
	// asked with the key's default policy (the account decides).
	KeyPolicy bool
	// Trust: the row is an sts:AssumeRole, asked with the role's trust
	// policy read back from IAM.
	Trust   bool
	Allowed bool
}

// Service is the action's service prefix.
func (r Request) Service() string { return strings.SplitN(r.Action, ":", 2)[0] }

// Requests are the rows for an account and its switch's region. optIn is
// a region the account has not enabled.
func Requests(account, region, optIn string) []Request {
	a := func(s string) string { return guard.Resolve(s, "aws", region, account) }
	arn := func(service, rest string) string {
		return "arn:aws:" + service + ":" + region + ":" + account + ":" + rest
	}
	iam := func(rest string) string { return "arn:aws:iam::" + account + ":" + rest }
	fn := a(guard.FunctionARN)
	schedRole := iam("role" + guard.RolePath + guard.ScheduleRoleName)
	fnRole := iam("role" + guard.RolePath + guard.FunctionRoleName)
	key := arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab")
	quarantine := a(guard.QuarantinePolicyARN)
	attacker := iam("user/miner")
	bgRole := iam("role/break-glass")
	trip, notify := a(guard.TripTopicARN), a(guard.NotifyTopicARN)
	alarm := func(name string) string { return a(guard.AlarmARN(name)) }
	manifest := a(guard.ManifestBucketARN)
	stack := guard.Resolve(guard.StackARN, "aws", region, account)
	stack = strings.TrimSuffix(stack, "*") + "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
	instance := arn("ec2", "instance/i-0123456789abcdef0")

	deny := func(group, action, resource, what string) Request {
		return Request{Group: group, Who: Attacker, Action: action, Resource: resource, What: what}
	}
	rows := []Request{
		deny(Disarm, "scheduler:CreateSchedule", arn("scheduler", "schedule/killswitch/disarm"), "a schedule in the switch's own group"),
		deny(Disarm, "scheduler:CreateSchedule", arn("scheduler", "schedule/default/disarm"), "a schedule in the default group"),
		deny(Disarm, "scheduler:UpdateSchedule", a(guard.ResweepScheduleARN), "retarget the re-sweep schedule"),
		deny(Disarm, "scheduler:DeleteSchedule", a(guard.ResweepScheduleARN), "delete the re-sweep schedule"),
		deny(Disarm, "scheduler:DeleteScheduleGroup", a(guard.ScheduleGroupARN), "delete the schedule group"),
		deny(Disarm, "iam:PassRole", schedRole, "pass the scheduler role"),
		deny(Disarm, "iam:PassRole", fnRole, "pass the function's role"),
		deny(Disarm, "lambda:InvokeFunction", fn, `invoke the function with {"killswitch":"disarm"}`),
		deny(Disarm, "lambda:InvokeFunction", fn+":1", "invoke a version of it"),
		deny(Disarm, "lambda:CreateFunction", arn("lambda", "function:helper"), "a function of its own, to run as the switch's role"),
		{Group: Disarm, Who: Attacker, Action: "kms:GenerateMac", Resource: key, What: "a disarm MAC from the disarm key", KeyPolicy: true,
			Context: map[string]any{"kms:ResourceAliases": []string{guard.DisarmKeyAlias}}},
		{Group: Disarm, Who: Attacker, Action: "sts:AssumeRole", Resource: bgRole, What: "assume the break-glass role without MFA", Trust: true},

		deny(Spend, "ec2:RunInstances", instance, "GPU instances"),
		deny(Spend, "ec2:StartInstances", instance, "start what was stopped"),
		deny(Spend, "ec2:RequestSpotInstances", arn("ec2", "spot-instances-request/*"), ""),
		deny(Spend, "ec2:AllocateHosts", arn("ec2", "dedicated-host/*"), "Dedicated Hosts"),
		deny(Spend, "ec2:CreateCapacityReservation", arn("ec2", "capacity-reservation/*"), "capacity reservations"),
		deny(Spend, "autoscaling:UpdateAutoScalingGroup", arn("autoscaling", "autoScalingGroup:8d2f1c4e-0a1b-2c3d-4e5f-6a7b8c9d0e1f:autoScalingGroupName/miners"), "scale a group back up"),
		deny(Spend, "application-autoscaling:PutScheduledAction", arn("application-autoscaling", "scalable-target/0123456789abcdef0123456789abcdef"), "have Application Auto Scaling raise an ECS service again"),
		deny(Spend, "ecs:UpdateService", arn("ecs", "service/default/miner"), ""),
		deny(Spend, "lambda:PutFunctionConcurrency", arn("lambda", "function:miner"), "give a function its concurrency back"),
		deny(Spend, "bedrock:InvokeModel", "arn:aws:bedrock:"+region+"::foundation-model/anthropic.claude-3-opus-20240229-v1:0", "LLM inference"),
		deny(Spend, "bedrock:CallWithBearerToken", "*", "Bedrock API keys"),
		deny(Spend, "bedrock:CreateModelCustomizationJob", arn("bedrock", "custom-model/miner"), ""),
		deny(Spend, "codebuild:StartBuild", arn("codebuild", "project/miner"), ""),
		deny(Spend, "glue:StartJobRun", arn("glue", "job/miner"), ""),
		deny(Spend, "elasticmapreduce:RunJobFlow", "*", "an EMR cluster"),
		deny(Spend, "sagemaker:CreateEndpoint", arn("sagemaker", "endpoint/miner"), ""),
		deny(Spend, "sagemaker:CreateTrainingJob", arn("sagemaker", "training-job/miner"), ""),
		deny(Spend, "savingsplans:CreateSavingsPlan", "*", "a commitment that cannot be undone"),
		deny(Spend, "cloudformation:CreateStack", arn("cloudformation", "stack/miner/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"), "launch through a stack"),
		deny(Spend, "account:EnableRegion", "arn:aws:account::"+account+":account", "open another region"),

		deny(Blind, "sns:SetSubscriptionAttributes", notify, "a filter policy on the owner's email subscription"),
		deny(Blind, "sns:SetSubscriptionAttributes", trip, "a filter policy on the function's subscription"),
		deny(Blind, "sns:Unsubscribe", notify, "unsubscribe the owner"),
		deny(Blind, "sns:Unsubscribe", trip, "unsubscribe the function"),
		deny(Blind, "sns:Subscribe", notify, ""),
		deny(Blind, "sns:SetTopicAttributes", trip, "rewrite the trip topic's policy"),
		deny(Blind, "sns:DeleteTopic", notify, ""),
		deny(Blind, "cloudwatch:DeleteAlarms", alarm(guard.FunctionErrorsAlarmName), "delete a health alarm"),
		deny(Blind, "cloudwatch:DeleteAlarms", alarm(guard.SelfTestAlarmName), ""),
		deny(Blind, "cloudwatch:DisableAlarmActions", alarm(guard.NoCensusAlarmName), ""),
		deny(Blind, "cloudwatch:PutMetricAlarm", alarm(guard.BillingAlarmName), "raise the billing alarm's threshold"),
		deny(Blind, "budgets:ModifyBudget", a(guard.BudgetARN), "raise the budget"),

		deny(StayFree, "iam:DetachUserPolicy", attacker, "detach the quarantine"),
		deny(StayFree, "iam:DeleteUserPermissionsBoundary", attacker, "remove the quarantine boundary"),
		deny(StayFree, "iam:PutUserPermissionsBoundary", attacker, "replace the quarantine boundary"),
		deny(StayFree, "iam:DeleteRolePermissionsBoundary", iam("role/miner-ec2"), ""),
		deny(StayFree, "iam:CreatePolicyVersion", quarantine, "empty the quarantine policy"),
		deny(StayFree, "iam:SetDefaultPolicyVersion", quarantine, ""),
		deny(StayFree, "iam:CreateUser", iam("user/miner2"), "a fresh user"),
		deny(StayFree, "iam:CreateAccessKey", attacker, "a fresh key"),
		deny(StayFree, "iam:CreateLoginProfile", attacker, ""),
		deny(StayFree, "iam:UpdateAccessKey", attacker, "revive a deactivated key"),
		deny(StayFree, "iam:CreateServiceSpecificCredential", attacker, "a Bedrock API key"),
		deny(StayFree, "iam:CreateRole", iam("role/miner2"), ""),
		deny(StayFree, "sts:AssumeRole", iam("role/miner-ec2"), "assume another role of the account"),
		deny(StayFree, "sts:AssumeRole", "arn:aws:iam::444455556666:role/miner", "assume a role in another account"),
		deny(StayFree, "iam:UpdateAssumeRolePolicy", bgRole, "trust itself in the break-glass role"),
		deny(StayFree, "iam:AttachRolePolicy", iam("role/miner-ec2"), "give a role more"),

		deny(Tamper, "lambda:UpdateFunctionCode", fn, ""),
		deny(Tamper, "lambda:UpdateFunctionConfiguration", fn, ""),
		deny(Tamper, "lambda:DeleteFunction", fn, ""),
		deny(Tamper, "lambda:RemovePermission", fn, ""),
		deny(Tamper, "ssm:PutParameter", a(guard.LatchParameterARN), "reset the latch"),
		deny(Tamper, "ssm:DeleteParameter", a(guard.LatchParameterARN), ""),
		deny(Tamper, "s3:PutObject", manifest+"/trips/x/manifest.json", "rewrite a restore manifest"),
		deny(Tamper, "s3:DeleteBucket", manifest, ""),
		deny(Tamper, "s3:PutBucketPolicy", manifest, ""),
		deny(Tamper, "cloudformation:DeleteStack", stack, "delete the switch's stack"),
		deny(Tamper, "cloudformation:UpdateStack", stack, ""),
		deny(Tamper, "iam:DeletePolicy", quarantine, ""),
		deny(Tamper, "iam:PutRolePolicy", fnRole, "give the function's role more"),

		deny(Elsewhere, "ec2:RunInstances", "arn:aws:ec2:"+optIn+":"+account+":instance/*", "instances in an opt-in region"),
		deny(Elsewhere, "lightsail:CreateInstances", "*", ""),
		deny(Elsewhere, "apprunner:CreateService", arn("apprunner", "service/miner/0123456789abcdef0123456789abcdef"), ""),
		deny(Elsewhere, "ecs:CreateCluster", arn("ecs", "cluster/miners"), ""),
		deny(Elsewhere, "ecs:RunTask", arn("ecs", "task-definition/miner:1"), ""),
		deny(Elsewhere, "eks:CreateCluster", "*", ""),
		deny(Elsewhere, "batch:SubmitJob", arn("batch", "job-queue/miners"), ""),
		deny(Elsewhere, "emr-serverless:StartJobRun", arn("emr-serverless", "/applications/00f1a2b3c4d5e6f7"), ""),
		deny(Elsewhere, "organizations:CreateAccount", "*", "a new account"),
		deny(Elsewhere, "ses:SendEmail", arn("ses", "identity/example.com"), "spam"),
		deny(Elsewhere, "amplify:CreateApp", "*", ""),
		deny(Elsewhere, "gamelift:CreateFleet", "*", ""),
		deny(Elsewhere, "rds:CreateDBInstance", arn("rds", "db:miner"), ""),
		deny(Elsewhere, "redshift:CreateCluster", arn("redshift", "cluster:miner"), ""),
		deny(Elsewhere, "workspaces:CreateWorkspaces", arn("workspaces", "workspace/*"), ""),
		deny(Elsewhere, "states:StartExecution", arn("states", "stateMachine:miner"), ""),
		deny(Elsewhere, "route53domains:RegisterDomain", "*", "buy domains"),
		deny(Elsewhere, "aws-marketplace:Subscribe", "*", "Marketplace subscriptions"),
		deny(Elsewhere, "ec2:CreateNatGateway", arn("ec2", "natgateway/*"), "NAT gateways"),
		deny(Elsewhere, "kinesis:CreateStream", arn("kinesis", "stream/miner"), ""),

		{Group: Recover, Who: Owner, Action: "sts:AssumeRole", Resource: bgRole, What: "the owner's quarantined user, with MFA, assumes break-glass",
			Trust: true, Context: map[string]any{"aws:MultiFactorAuthPresent": "true"}, Allowed: true},
		{Group: Recover, Who: Owner, Action: "sts:GetCallerIdentity", Resource: "*", What: "any quarantined principal: who am I", Allowed: true},
		{Group: Recover, Who: BreakGlass, Action: "ec2:StopInstances", Resource: instance, Allowed: true},
		{Group: Recover, Who: BreakGlass, Action: "lambda:InvokeFunction", Resource: fn, What: "disarm", Allowed: true},
		{Group: Recover, Who: BreakGlass, Action: "iam:DetachUserPolicy", Resource: attacker, What: "lift the quarantine",
			Context: map[string]any{"iam:PolicyARN": quarantine}, Allowed: true},
		{Group: Recover, Who: BreakGlass, Action: "iam:DeleteUserPermissionsBoundary", Resource: attacker, Allowed: true},
		{Group: Recover, Who: BreakGlass, Action: "kms:GenerateMac", Resource: key, What: "the disarm MAC", KeyPolicy: true,
			Context: map[string]any{"kms:ResourceAliases": []string{guard.DisarmKeyAlias}}, Allowed: true},
	}
	return rows
}

// ReadmeBegin and ReadmeEnd enclose README.md's generated table.
const (
	ReadmeBegin = "<!-- threats:begin (make readme-threats) -->"
	ReadmeEnd   = "<!-- threats:end -->"
)

// ReadmeTable is README's "What it withstands" table: each group, the
// requests asked and the evaluator's answer all of them must get.
func ReadmeTable() string {
	rows := Requests("111122223333", "us-east-1", "ap-east-1")
	by := map[string][]Request{}
	services := map[string]bool{}
	attackers := 0
	for _, r := range rows {
		by[r.Group] = append(by[r.Group], r)
		if r.Who == Attacker {
			services[r.Service()] = true
			attackers++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d attacker requests over %d services, each asked as the attacker's user, the attacker's role and the owner's own (quarantined) user, with `AdministratorAccess` beside the quarantine, in a real IAM evaluator (`tests/lockdown_eval_test.go`):\n\n", attackers, len(services))
	b.WriteString("| Attack | Requests | Answer |\n|---|---|---|\n")
	for _, g := range groupOrder {
		var parts []string
		seen := map[string]bool{}
		answer := "denied"
		for _, r := range by[g] {
			if r.Allowed {
				answer = "allowed"
			}
			s := "`" + r.Action + "`"
			if r.What != "" {
				s += " (" + r.What + ")"
			}
			if !seen[s] {
				seen[s] = true
				parts = append(parts, s)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", g, strings.Join(parts, "; "), answer)
	}
	return b.String()
}

// ReplaceInReadme puts table between the markers of doc.
func ReplaceInReadme(doc, table string) (string, bool) {
	i := strings.Index(doc, ReadmeBegin)
	j := strings.Index(doc, ReadmeEnd)
	if i < 0 || j < i {
		return doc, false
	}
	return doc[:i+len(ReadmeBegin)] + "\n" + table + doc[j:], true
}

// ReadmePath finds README.md at the repository root, walking up from the
// working directory to the go.mod.
func ReadmePath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "README.md"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}
