package stack_test

import (
	"encoding/json"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/settings"
)

// TestSlackPath checks what reaches Slack: the function is told to publish
// Chatbot's format only when a Chatbot channel exists, and a failed
// invocation reaches Slack through an alarm on a topic email does not see.
func TestSlackPath(t *testing.T) {
	withSlack := stack.DefaultConfig()
	withSlack.SlackWorkspaceID, withSlack.SlackChannelID = "T0123ABCD", "C0123ABCD"
	withSlack.NotificationEmails = []string{"me@example.com"}
	for _, tc := range []struct {
		name  string
		cfg   stack.Config
		slack bool
	}{
		{"no slack", stack.DefaultConfig(), false},
		{"slack", withSlack, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, tc.cfg, "us-east-1")
			want := "false"
			if tc.slack {
				want = "true"
			}
			if got := b.functionEnv(t)[settings.EnvSlackEnabled]; got != want {
				t.Errorf("%s = %v, want %s", settings.EnvSlackEnabled, got, want)
			}
			alarms := 0
			for _, id := range b.ofType("AWS::CloudWatch::Alarm") {
				if b.props(id)["AlarmName"] == stack.FailedInvokeAlarm {
					alarms++
				}
			}
			topics := 0
			for _, id := range b.ofType("AWS::SNS::Topic") {
				if b.props(id)["TopicName"] == stack.SlackAlertsTopicName {
					topics++
				}
			}
			if !tc.slack {
				if alarms+topics != 0 {
					t.Errorf("without Slack: %d failed-invocation alarm(s), %d Slack topic(s), want none", alarms, topics)
				}
				return
			}

			fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
			notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)
			alerts := b.one(t, "AWS::SNS::Topic", "TopicName", stack.SlackAlertsTopicName)
			alarm := b.one(t, "AWS::CloudWatch::Alarm", "AlarmName", stack.FailedInvokeAlarm)

			p := b.props(alarm)
			if p["MetricName"] != "AsyncEventsDropped" || p["Namespace"] != "AWS/Lambda" || p["Statistic"] != "Sum" ||
				p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || p["Threshold"] != float64(1) ||
				p["TreatMissingData"] != "notBreaching" {
				t.Errorf("failed-invocation alarm: %v", p)
			}
			if !jsonEqual(p["Dimensions"], []any{map[string]any{"Name": "FunctionName", "Value": ref(fn)}}) {
				t.Errorf("alarm dimensions %v, want the killswitch function", p["Dimensions"])
			}
			if !jsonEqual(p["AlarmActions"], []any{ref(alerts)}) {
				t.Errorf("alarm actions %v, want only the Slack alerts topic (email must not get a second copy)", p["AlarmActions"])
			}

			ch := b.ofType("AWS::Chatbot::SlackChannelConfiguration")
			if len(ch) != 1 || !jsonEqual(b.props(ch[0])["SnsTopicArns"], []any{ref(notify), ref(alerts)}) {
				t.Errorf("Chatbot listens to %v, want the notify and the Slack alerts topics", b.props(ch[0])["SnsTopicArns"])
			}
			// Nobody reads the alerts topic by email.
			for _, id := range b.ofType("AWS::SNS::Subscription") {
				if jsonEqual(b.props(id)["TopicArn"], ref(alerts)) {
					t.Errorf("subscription %s on the Slack alerts topic: %v", id, b.props(id))
				}
			}
			// Only this alarm may publish to it.
			var allowed []any
			for _, id := range b.ofType("AWS::SNS::TopicPolicy") {
				if !containsAny(b.props(id)["Topics"].([]any), ref(alerts)) {
					continue
				}
				for _, s := range b.props(id)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					st := s.(map[string]any)
					if st["Effect"] == "Allow" {
						allowed = append(allowed, st)
					}
				}
			}
			if len(allowed) != 1 {
				t.Fatalf("%d Allow statements on the Slack alerts topic, want 1: %v", len(allowed), allowed)
			}
			st := allowed[0].(map[string]any)
			cond := st["Condition"].(map[string]any)
			if !jsonEqual(st["Principal"], map[string]any{"Service": "cloudwatch.amazonaws.com"}) ||
				!jsonEqual(cond["ArnEquals"], map[string]any{"aws:SourceArn": getAtt(alarm, "Arn")}) {
				t.Errorf("Slack alerts topic's Allow: %v, want cloudwatch for exactly the failed-invocation alarm", st)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
