package stack_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/guard"
)

func m(kv ...any) *map[string]any {
	out := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return &out
}

func arr(items ...any) *[]any { return &items }

func TestBudgetTripNotificationPointsAtTripTopic(t *testing.T) {
	// GIVEN the default config with two emails
	cfg := stack.DefaultConfig()
	cfg.NotificationEmails = []string{"a@example.com", "b@example.com"}
	// WHEN the stack is built
	b := build(t, cfg, "us-east-1")
	trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
	notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)

	// THEN the monthly cost budget trips the trip topic at 100% ACTUAL
	assert(t, "budget data", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::Budgets::Budget"), m(
			"Budget", m(
				"BudgetName", stack.BudgetName,
				"BudgetType", "COST",
				"TimeUnit", "MONTHLY",
				"BudgetLimit", m("Amount", 10, "Unit", "USD"),
			),
		))
	})
	assert(t, "trip notification", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::Budgets::Budget"), m(
			"NotificationsWithSubscribers", assertions.Match_ArrayWith(arr(m(
				"Notification", m("NotificationType", "ACTUAL", "ComparisonOperator", "GREATER_THAN", "Threshold", 100, "ThresholdType", "PERCENTAGE"),
				"Subscribers", assertions.Match_ArrayEquals(arr(m("SubscriptionType", "SNS", "Address", ref(trip)))),
			))),
		))
	})
	// AND the warnings go to the notify topic only, never the trip topic:
	// the emails are subscribed to that topic, so a budget EMAIL subscriber
	// too would send each address every warning twice
	warningSubs := arr(
		m("SubscriptionType", "SNS", "Address", ref(notify)),
	)
	for _, w := range []struct {
		typ       string
		threshold float64
	}{{"ACTUAL", 50}, {"ACTUAL", 80}, {"FORECASTED", 100}} {
		assert(t, "warning notification "+w.typ, func() {
			b.tmpl.HasResourceProperties(jsii.String("AWS::Budgets::Budget"), m(
				"NotificationsWithSubscribers", assertions.Match_ArrayWith(arr(m(
					"Notification", m("NotificationType", w.typ, "ComparisonOperator", "GREATER_THAN", "Threshold", w.threshold, "ThresholdType", "PERCENTAGE"),
					"Subscribers", assertions.Match_ArrayEquals(warningSubs),
				))),
			))
		})
	}
	budget := b.ofType("AWS::Budgets::Budget")
	if len(budget) != 1 {
		t.Fatalf("want one budget, got %v", budget)
	}
	if n := len(b.props(budget[0])["NotificationsWithSubscribers"].([]any)); n != 4 {
		t.Errorf("want 4 notifications (1 trip + 2 warnings + 1 forecast), got %d", n)
	}
	// AND the budget is created after both topic policies
	deps, _ := b.resources()[budget[0]]["DependsOn"].([]any)
	for _, p := range b.ofType("AWS::SNS::TopicPolicy") {
		if !containsAny(deps, p) {
			t.Errorf("budget DependsOn %v, missing topic policy %s", deps, p)
		}
	}
}

func containsAny(list []any, v any) bool {
	for _, x := range list {
		if reflect.DeepEqual(x, v) {
			return true
		}
	}
	return false
}

func TestTopicPoliciesAllowOnlyThisAccountsBudgetsAndAlarms(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
	notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)

	sourceAccount := map[string]any{"aws:SourceAccount": ref("AWS::AccountId")}
	budgetArn := map[string]any{"aws:SourceArn": map[string]any{"Fn::Join": []any{"", []any{"arn:", ref("AWS::Partition"), ":budgets::", ref("AWS::AccountId"), ":budget/" + stack.BudgetName}}}}
	alarmArn := map[string]any{"aws:SourceArn": map[string]any{"Fn::Join": []any{"", []any{"arn:", ref("AWS::Partition"), ":cloudwatch:", ref("AWS::Region"), ":", ref("AWS::AccountId"), ":alarm:" + stack.BillingAlarmName}}}}
	budgets := map[string]any{
		"Action": "sns:Publish", "Effect": "Allow",
		"Principal": map[string]any{"Service": "budgets.amazonaws.com"},
		"Condition": map[string]any{"StringEquals": sourceAccount, "ArnEquals": budgetArn},
	}
	cloudwatch := map[string]any{
		"Action": "sns:Publish", "Effect": "Allow",
		"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
		"Condition": map[string]any{"StringEquals": sourceAccount, "ArnEquals": alarmArn},
	}
	var healthArns []any
	for _, name := range stack.HealthAlarms {
		healthArns = append(healthArns, map[string]any{"Fn::Join": []any{"", []any{"arn:", ref("AWS::Partition"), ":cloudwatch:", ref("AWS::Region"), ":", ref("AWS::AccountId"), ":alarm:" + name}}})
	}
	// The switch's own health alarms (dashboard.go) tell the owner.
	health := map[string]any{
		"Action": "sns:Publish", "Effect": "Allow",
		"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
		"Condition": map[string]any{"StringEquals": sourceAccount, "ArnEquals": map[string]any{"aws:SourceArn": healthArns}},
	}

	for _, tc := range []struct {
		topic string
		want  []map[string]any
	}{
		{trip, []map[string]any{budgets, cloudwatch}},
		{notify, []map[string]any{budgets, health}},
	} {
		var policy map[string]any
		for _, id := range b.ofType("AWS::SNS::TopicPolicy") {
			if reflect.DeepEqual(b.props(id)["Topics"], []any{ref(tc.topic)}) {
				policy = b.props(id)
			}
		}
		if policy == nil {
			t.Errorf("no topic policy for %s", tc.topic)
			continue
		}
		var allows []map[string]any
		sslOnly := false
		for _, s := range policy["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			if !reflect.DeepEqual(st["Resource"], ref(tc.topic)) {
				t.Errorf("%s: statement on another resource: %v", tc.topic, st)
			}
			switch st["Effect"] {
			case "Allow":
				delete(st, "Sid")
				delete(st, "Resource")
				allows = append(allows, st)
			case "Deny":
				if reflect.DeepEqual(st["Condition"], map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}) {
					sslOnly = true
				}
			}
		}
		if !sslOnly {
			t.Errorf("%s: no deny of non-SSL publish (enforceSSL)", tc.topic)
		}
		if len(allows) != len(tc.want) {
			t.Errorf("%s: want %d allow statements, got %d: %v", tc.topic, len(tc.want), len(allows), allows)
			continue
		}
		for _, w := range tc.want {
			if !containsMap(allows, w) {
				t.Errorf("%s: missing allow statement %v; got %v", tc.topic, w, allows)
			}
		}
	}
}

func containsMap(list []map[string]any, v map[string]any) bool {
	for _, x := range list {
		if reflect.DeepEqual(x, v) {
			return true
		}
	}
	return false
}

func TestLambdaIsSubscribedToTripTopicOnly(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
	fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)

	assert(t, "lambda subscription", func() {
		b.tmpl.ResourceCountIs(jsii.String("AWS::SNS::Subscription"), jsii.Number(1))
		b.tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), m(
			"Protocol", "lambda", "TopicArn", ref(trip), "Endpoint", getAtt(fn, "Arn"),
		))
	})
	assert(t, "lambda permission", func() {
		b.tmpl.ResourceCountIs(jsii.String("AWS::Lambda::Permission"), jsii.Number(1))
		b.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), m(
			"Action", "lambda:InvokeFunction", "Principal", "sns.amazonaws.com",
			"SourceArn", ref(trip), "FunctionName", getAtt(fn, "Arn"),
		))
	})
}

func TestFunctionRuntimeAndLimits(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	logs := b.ofType("AWS::Logs::LogGroup")
	if len(logs) != 1 {
		t.Fatalf("want one log group, got %v", logs)
	}
	assert(t, "function", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), m(
			"FunctionName", stack.FunctionName,
			"Runtime", "provided.al2023",
			"Architectures", arr("arm64"),
			"Handler", "bootstrap",
			"MemorySize", 256,
			"Timeout", 300,
			"LoggingConfig", m("LogFormat", "JSON", "LogGroup", ref(logs[0])),
		))
	})
	assert(t, "log retention", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), m("RetentionInDays", 30))
	})
}

func TestOnFailureDestinationIsNotifyTopic(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)
	fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
	assert(t, "event invoke config", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), m(
			"FunctionName", ref(fn),
			"MaximumRetryAttempts", 2,
			"DestinationConfig", m("OnFailure", m("Destination", ref(notify))),
		))
	})
}

func TestFunctionEnvironment(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*stack.Config)
		want   map[string]string
	}{
		"defaults": {
			mutate: func(*stack.Config) {},
			want: map[string]string{
				"KILLSWITCH_ACTION": "stop", "KILLSWITCH_TERMINATE_UNSTOPPABLE": "true",
				"KILLSWITCH_OVERRIDE_PROTECTION": "true", "KILLSWITCH_EXEMPT_INSTANCE_IDS": "",
				"KILLSWITCH_DRY_RUN": "false", "KILLSWITCH_TRIP_ON_FORECAST": "false",
				"KILLSWITCH_REGION_CONCURRENCY": "32", "KILLSWITCH_REGION_TIMEOUT": "4m0s",
				"KILLSWITCH_DEADLINE_RESERVE": "10s", "KILLSWITCH_EXEMPT_NAMES": "",
				"KILLSWITCH_STOP_DATABASES": "false", "KILLSWITCH_RESWEEP_MINUTES": "10",
				"KILLSWITCH_QUARANTINE": "deny-launch", "KILLSWITCH_BREAK_GLASS_ARNS": "",
				"KILLSWITCH_IAM_LOOKBACK_DAYS": "7", "KILLSWITCH_DEACTIVATE_NEW_ACCESS_KEYS": "false",
				"KILLSWITCH_SKIP_REGIONS": "", "KILLSWITCH_NOTIFY_EMAILS": "",
			},
		},
		"custom": {
			mutate: func(c *stack.Config) {
				c.Action = "terminate"
				c.TerminateUnstoppable = false
				c.OverrideProtection = false
				c.ExemptInstanceIDs = []string{"i-0123456789abcdef0", "i-12345678"}
				c.DryRun = true
				c.TripOnForecast = true
				c.RegionConcurrency = 8
				c.RegionTimeout = 90 * time.Second
				c.DeadlineReserve = 20 * time.Second
				c.ExemptNames = []string{"owner-asg", "prod/web"}
				c.StopDatabases = true
				c.ResweepMinutes = 1
				c.BreakGlassARNs = []string{"arn:aws:iam::123456789012:role/break-glass"}
				c.IAMLookbackDays = 30
				c.DeactivateNewAccessKeys = true
				c.SkipRegions = []string{"eu-south-2", "me-central-1"}
				c.NotificationEmails = []string{"owner@example.com", "second@example.org"}
			},
			want: map[string]string{
				"KILLSWITCH_ACTION": "terminate", "KILLSWITCH_TERMINATE_UNSTOPPABLE": "false",
				"KILLSWITCH_OVERRIDE_PROTECTION": "false", "KILLSWITCH_EXEMPT_INSTANCE_IDS": "i-0123456789abcdef0,i-12345678",
				"KILLSWITCH_DRY_RUN": "true", "KILLSWITCH_TRIP_ON_FORECAST": "true",
				"KILLSWITCH_REGION_CONCURRENCY": "8", "KILLSWITCH_REGION_TIMEOUT": "1m30s",
				"KILLSWITCH_DEADLINE_RESERVE": "20s", "KILLSWITCH_EXEMPT_NAMES": "owner-asg,prod/web",
				"KILLSWITCH_STOP_DATABASES": "true", "KILLSWITCH_RESWEEP_MINUTES": "1",
				"KILLSWITCH_QUARANTINE": "deny-launch", "KILLSWITCH_BREAK_GLASS_ARNS": "arn:aws:iam::123456789012:role/break-glass",
				"KILLSWITCH_IAM_LOOKBACK_DAYS": "30", "KILLSWITCH_DEACTIVATE_NEW_ACCESS_KEYS": "true",
				"KILLSWITCH_SKIP_REGIONS":  "eu-south-2,me-central-1",
				"KILLSWITCH_NOTIFY_EMAILS": "owner@example.com,second@example.org",
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := stack.DefaultConfig()
			tc.mutate(&cfg)
			b := build(t, cfg, "us-east-1")
			notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)
			trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
			latch := b.one(t, "AWS::SSM::Parameter", "Name", stack.LatchParameterName)
			got := b.functionEnv(t)
			quarantine := b.one(t, "AWS::IAM::ManagedPolicy", "ManagedPolicyName", stack.QuarantinePolicyName)
			bucket := b.ofType("AWS::S3::Bucket")[0]
			want := map[string]any{
				"KILLSWITCH_DISARM_KEY_ARN":   getAtt(b.ofType("AWS::KMS::Key")[0], "Arn"),
				"KILLSWITCH_MANIFEST_BUCKET":  ref(bucket),
				"KILLSWITCH_NOTIFY_TOPIC_ARN": ref(notify),
				"KILLSWITCH_TRIP_TOPIC_ARN":   ref(trip),
				// Set only in an AWS Organization's member stack, by the StackSet.
				"KILLSWITCH_CENTRAL_TOPIC_ARN":     "",
				"KILLSWITCH_LATCH_PARAMETER":       ref(latch),
				"KILLSWITCH_QUARANTINE_POLICY_ARN": ref(quarantine),
				"KILLSWITCH_BUDGET_NAME":           stack.BudgetName,
				"KILLSWITCH_ALARM_NAME":            stack.BillingAlarmName,
				// Set when Slack is configured (slack_test.go).
				"KILLSWITCH_SLACK_ENABLED": "false",
				// The census's defaults (census_test.go sets other values).
				"KILLSWITCH_CENSUS_MINUTES": "5", "KILLSWITCH_MAX_RUNNING_INSTANCES": "10", "KILLSWITCH_MAX_VCPUS": "32",
				"KILLSWITCH_MAX_GPUS": "0", "KILLSWITCH_MAX_HOURLY_BURN_USD": "5", "KILLSWITCH_MAX_REGIONS_IN_USE": "3",
				// The stack's own roles, by unique ID (ownroles_test.go).
				"KILLSWITCH_OWN_ROLE_IDS": ownRoleIDsValue(b.functionRole(t), b.one(t, "AWS::IAM::Role", "RoleName", guard.ScheduleRoleName)),
			}
			for k, v := range tc.want {
				want[k] = v
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("environment:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestFunctionRoleIsLeastPrivilege collects every permission the function's
// role has and compares it with the exact expected set: the kinds' table,
// the latch, the notify topic and the function's own logs. Nothing else.
func TestFunctionRoleIsLeastPrivilege(t *testing.T) {
	for _, stopDatabases := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopDatabases=%v", stopDatabases), func(t *testing.T) {
			cfg := stack.DefaultConfig()
			cfg.StopDatabases = stopDatabases
			b := build(t, cfg, "us-east-1")
			notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)
			trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
			latch := b.one(t, "AWS::SSM::Parameter", "Name", stack.LatchParameterName)
			logGroup := b.ofType("AWS::Logs::LogGroup")[0]
			manifestObjects := cfnResource(stack.ManifestObjects)
			roleRef := b.functionRole(t)
			role := b.props(roleRef)
			if role == nil {
				t.Fatalf("function role %s not found", roleRef)
			}
			if mp, ok := role["ManagedPolicyArns"]; ok {
				t.Errorf("function role has managed policies: %v", mp)
			}
			if ip, ok := role["Policies"]; ok {
				t.Errorf("function role has inline policies: %v", ip)
			}

			// The table's own conditions are checked by TestPermissions.
			conditioned := map[string]bool{}
			for _, k := range stack.Permissions {
				for _, s := range k.Statements {
					if s.Conditions != nil {
						conditioned[s.Sid] = true
					}
				}
			}
			// effect -> action -> resources
			got := map[string]map[string][]string{"Allow": {}, "Deny": {}}
			for _, st := range b.roleStatements(roleRef) {
				effect := st["Effect"].(string)
				if st["Condition"] != nil && !conditioned[fmt.Sprint(st["Sid"])] {
					t.Errorf("unexpected condition: %v", st)
				}
				for _, a := range list(st["Action"]) {
					got[effect][a.(string)] = append(got[effect][a.(string)], sortedStrings(st["Resource"])...)
				}
			}
			js := func(v any) string { j, _ := json.Marshal(v); return string(j) }
			want := map[string]map[string][]string{
				"Allow": {
					"sns:Publish":          {js(ref(notify))},
					"logs:CreateLogStream": {js(getAtt(logGroup, "Arn"))},
					"logs:PutLogEvents":    {js(getAtt(logGroup, "Arn"))},
					"ssm:GetParameter":     {js(latchArn(latch))},
					"ssm:PutParameter":     {js(latchArn(latch))},
					// the restore manifest: written and read back, never listed or
					// deleted; and the one census record, overwritten
					"s3:PutObject": {js(manifestObjects), js(cfnResource(stack.CensusObject))},
					"s3:GetObject": {js(manifestObjects)},
					// disarm proofs: verified, never made (disarmkey_test.go)
					"kms:VerifyMac": {js(getAtt(b.ofType("AWS::KMS::Key")[0], "Arn"))},
				},
				"Deny": {},
			}
			// The census's and self-test's own reads (census_test.go).
			want["Allow"]["sns:GetTopicAttributes"] = []string{js(ref(notify))}
			for _, k := range append([]stack.KindPermissions{stack.CensusPermissions}, stack.Permissions...) {
				if !k.Enabled(cfg) {
					continue
				}
				for _, s := range k.Statements {
					if !s.Enabled(cfg) {
						continue
					}
					effect := map[bool]string{false: "Allow", true: "Deny"}[s.Deny]
					for _, a := range s.Actions {
						for _, r := range s.Resources {
							want[effect][a] = append(want[effect][a], js(cfnResource(r)))
						}
					}
				}
			}
			for _, m := range []map[string][]string{got["Allow"], got["Deny"], want["Allow"], want["Deny"]} {
				for a := range m {
					sort.Strings(m[a])
				}
			}
			for _, d := range diffPermissions(got, want) {
				t.Error(d)
			}
			for a, rs := range got["Allow"] {
				if strings.Contains(a, "*") {
					t.Errorf("wildcard action %q", a)
				}
				if a == "sns:Publish" && containsString(rs, js(ref(trip))) {
					t.Errorf("the function can publish to the trip topic")
				}
			}
			for _, a := range []string{"rds:StopDBInstance", "rds:StopDBCluster", "rds:DescribeDBInstances", "rds:DescribeDBClusters"} {
				if _, ok := got["Allow"][a]; ok != stopDatabases {
					t.Errorf("stopDatabases=%v but %s allowed=%v", stopDatabases, a, ok)
				}
			}
		})
	}
}

// latchArn is the latch parameter's ARN as the CDK writes it in a stack
// pinned to us-east-1 and account 123456789012 (as build pins it).
func latchArn(latch string) map[string]any {
	return map[string]any{"Fn::Join": []any{"", []any{
		"arn:", ref("AWS::Partition"), ":ssm:us-east-1:123456789012:parameter", ref(latch),
	}}}
}

// diffPermissions lists, per effect and action, where got and want differ.
func diffPermissions(got, want map[string]map[string][]string) []string {
	var out []string
	for _, effect := range []string{"Allow", "Deny"} {
		actions := map[string]bool{}
		for a := range got[effect] {
			actions[a] = true
		}
		for a := range want[effect] {
			actions[a] = true
		}
		for a := range actions {
			if !reflect.DeepEqual(got[effect][a], want[effect][a]) {
				out = append(out, fmt.Sprintf("%s %s: got %v, want %v", effect, a, got[effect][a], want[effect][a]))
			}
		}
	}
	sort.Strings(out)
	return out
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestBillingAlarm(t *testing.T) {
	alarmProps := func(threshold float64) *map[string]any {
		return m(
			"AlarmName", stack.BillingAlarmName,
			"Namespace", "AWS/Billing",
			"MetricName", "EstimatedCharges",
			"Dimensions", arr(m("Name", "Currency", "Value", "USD")),
			"Statistic", "Maximum",
			"Period", 21600,
			"Threshold", threshold,
			"ComparisonOperator", "GreaterThanOrEqualToThreshold",
		)
	}

	t.Run("us-east-1: present, unconditional, acts on the trip topic", func(t *testing.T) {
		b := build(t, stack.DefaultConfig(), "us-east-1")
		trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
		assert(t, "alarm", func() {
			p := alarmProps(10)
			(*p)["AlarmActions"] = arr(ref(trip))
			b.tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), p)
		})
		if c, ok := b.resources()[b.one(t, "AWS::CloudWatch::Alarm", "AlarmName", stack.BillingAlarmName)]["Condition"]; ok {
			t.Errorf("alarm in us-east-1 has a condition %v", c)
		}
	})

	t.Run("threshold defaults to budget x trip percent", func(t *testing.T) {
		cfg := stack.DefaultConfig()
		cfg.BudgetUSD, cfg.TripThresholdPercent = 20, 150
		cfg.BillingAlarmThresholdUSD = 30 // what ParseConfig derives
		b := build(t, cfg, "us-east-1")
		assert(t, "alarm threshold", func() {
			b.tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), alarmProps(30))
		})
		c, err := stack.ParseConfig(`{"budgetUsd":20,"tripThresholdPercent":150}`, nil)
		if err != nil || c.BillingAlarmThresholdUSD != 30 {
			t.Errorf("derived threshold = %v, %v; want 30", c.BillingAlarmThresholdUSD, err)
		}
	})

	t.Run("environment-agnostic: behind a us-east-1 condition", func(t *testing.T) {
		b := build(t, stack.DefaultConfig(), "")
		// The health alarms (dashboard.go) work in every region.
		alarm := b.one(t, "AWS::CloudWatch::Alarm", "AlarmName", stack.BillingAlarmName)
		condName, _ := b.resources()[alarm]["Condition"].(string)
		if condName == "" {
			t.Fatalf("alarm has no Condition")
		}
		assert(t, "condition", func() {
			b.tmpl.HasCondition(jsii.String(condName), m("Fn::Equals", arr(ref("AWS::Region"), "us-east-1")))
		})
	})

	t.Run("disabled: absent", func(t *testing.T) {
		cfg := stack.DefaultConfig()
		cfg.BillingAlarm = false
		b := build(t, cfg, "eu-west-1")
		for _, id := range b.ofType("AWS::CloudWatch::Alarm") {
			if name := b.props(id)["AlarmName"]; !slices.Contains(stack.HealthAlarms, fmt.Sprint(name)) {
				t.Errorf("alarm %v with the billing alarm off; want the health alarms only", name)
			}
		}
		// and the budget is still there
		assert(t, "budget", func() {
			b.tmpl.ResourceCountIs(jsii.String("AWS::Budgets::Budget"), jsii.Number(1))
		})
	})

	t.Run("other region: refused", func(t *testing.T) {
		_, err := tryBuild(t, stack.DefaultConfig(), "eu-west-1")
		if err == nil || !strings.Contains(err.Error(), "killswitch.billingAlarm") || !strings.Contains(err.Error(), "us-east-1") {
			t.Errorf("want an error naming killswitch.billingAlarm and us-east-1, got %v", err)
		}
	})
}

func TestEmailSubscriptionsOnNotifyTopic(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.NotificationEmails = []string{"me@example.com"}
	b := build(t, cfg, "us-east-1")
	notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)
	assert(t, "email subscription", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), m(
			"Protocol", "email", "Endpoint", "me@example.com", "TopicArn", ref(notify),
		))
	})
}

func TestSlackChannel(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	assert(t, "no slack by default", func() {
		b.tmpl.ResourceCountIs(jsii.String("AWS::Chatbot::SlackChannelConfiguration"), jsii.Number(0))
	})

	cfg := stack.DefaultConfig()
	cfg.SlackWorkspaceID, cfg.SlackChannelID = "T0123ABCD", "C0123ABCD"
	b = build(t, cfg, "us-east-1")
	notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)
	alerts := b.one(t, "AWS::SNS::Topic", "TopicName", stack.SlackAlertsTopicName)
	assert(t, "slack channel", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::Chatbot::SlackChannelConfiguration"), m(
			"SlackWorkspaceId", "T0123ABCD", "SlackChannelId", "C0123ABCD",
			"SnsTopicArns", arr(ref(notify), ref(alerts)),
			"GuardrailPolicies", arr(m("Fn::Join", arr("", arr("arn:", ref("AWS::Partition"), ":iam::aws:policy/ReadOnlyAccess")))),
		))
	})
	// Its role has no permissions at all.
	chan_ := b.ofType("AWS::Chatbot::SlackChannelConfiguration")[0]
	roleID := b.props(chan_)["IamRoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	if p := b.props(roleID); p["ManagedPolicyArns"] != nil || p["Policies"] != nil {
		t.Errorf("slack role has permissions: %v", p)
	}
	for _, id := range b.ofType("AWS::IAM::Policy") {
		if containsAny(b.props(id)["Roles"].([]any), ref(roleID)) {
			t.Errorf("slack role has policy %s", id)
		}
	}
}

func TestMissingBootstrapIsAGoError(t *testing.T) {
	app := awscdk.NewApp(nil)
	_, err := stack.NewKillswitchStack(app, stack.StackID, &stack.KillswitchStackProps{
		Config:   stack.DefaultConfig(),
		AssetDir: t.TempDir(),
	})
	if err == nil || !strings.Contains(err.Error(), "lambda bootstrap not found") || !strings.Contains(err.Error(), "make bootstrap") {
		t.Errorf("want a missing-bootstrap error, got %v", err)
	}
}

func TestInvalidConfigIsRefusedByTheStack(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.BudgetUSD = -5
	_, err := tryBuild(t, cfg, "us-east-1")
	if err == nil || !strings.Contains(err.Error(), "killswitch.budgetUsd: must be greater than 0, got -5") {
		t.Errorf("want a budgetUsd error, got %v", err)
	}
}

// TestNagAwsSolutions applies cdk-nag AwsSolutions as infra/main.go does and
// requires zero unsuppressed errors and warnings.
func TestNagAwsSolutions(t *testing.T) {
	everything := stack.DefaultConfig()
	everything.NotificationEmails = []string{"me@example.com"}
	everything.SlackWorkspaceID, everything.SlackChannelID = "T0123ABCD", "C0123ABCD"
	everything.StopDatabases = true
	everything.TripOnForecast = true
	everything.ResweepMinutes = 1
	pinned := &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("us-east-1")}
	for name, tc := range map[string]struct {
		cfg stack.Config
		env *awscdk.Environment
	}{
		"defaults":                            {stack.DefaultConfig(), pinned},
		"everything on":                       {everything, pinned},
		"everything on, environment-agnostic": {everything, nil}, // as the CLI synthesises without credentials
	} {
		t.Run(name, func(t *testing.T) {
			app := awscdk.NewApp(nil)
			s, err := stack.NewKillswitchStack(app, stack.StackID, &stack.KillswitchStackProps{
				StackProps: awscdk.StackProps{Env: tc.env},
				Config:     tc.cfg,
				AssetDir:   assetDir(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			// A canary stack that nag must flag, proving the checks ran.
			canary := awscdk.NewStack(app, jsii.String("Canary"), nil)
			awssns.NewTopic(canary, jsii.String("PlainTopic"), nil)

			awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

			nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			assert(t, "nag findings", func() {
				ann := assertions.Annotations_FromStack(s)
				for _, e := range *ann.FindError(jsii.String("*"), nag) {
					//lint:ignore SA1019 the Go binding offers no other type for annotations
					t.Errorf("nag error at %s: %v", *e.Id, e.Entry.Data)
				}
				for _, w := range *ann.FindWarning(jsii.String("*"), nag) {
					//lint:ignore SA1019 the Go binding offers no other type for annotations
					t.Errorf("nag warning at %s: %v", *w.Id, w.Entry.Data)
				}
				if n := len(*assertions.Annotations_FromStack(canary).FindError(jsii.String("*"), nag)); n == 0 {
					t.Errorf("canary: nag reported nothing for a topic without enforceSSL; are the checks applied?")
				}
			})
		})
	}
}
