package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awschatbot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"
)

// The Slack-only path for a failed invocation.
const (
	SlackAlertsTopicName = "killswitch-slack-alerts"
	FailedInvokeAlarm    = "killswitch-failed-invocation"
)

// newSlackChannel posts the notify topic to a Slack channel through AWS
// Chatbot. The workspace must have been authorised once in the Chatbot console.
// The channel role has no permissions and the guardrail is ReadOnlyAccess:
// Chatbot only relays notifications; nobody can act on AWS from Slack.
//
// What reaches Slack, and how:
//   - the function's reports and warnings: it publishes them once, with a
//     body per protocol, Chatbot's custom-notification JSON for Chatbot and
//     the plain text for email (the stack sets KILLSWITCH_SLACK_ENABLED);
//   - the budget's own warnings: Chatbot shows AWS Budgets natively;
//   - a failed invocation: Lambda's on-failure record (raw JSON) goes to the
//     notify topic for email, and Chatbot would drop it, so an alarm on the
//     function's AsyncEventsDropped metric (events that failed every
//     attempt, counted as they go to the on-failure destination) posts to a
//     Slack-only topic. Chatbot shows CloudWatch alarms natively, and email
//     does not get a second copy.
//
// The channel's role (newSlackRole, roles.go) is created before the
// function, which carries its ID.
func newSlackChannel(stack awscdk.Stack, cfg Config, topics Topics, fn awslambda.IFunction, role awsiam.Role) awschatbot.CfnSlackChannelConfiguration {
	alerts := newFailedInvokeAlarm(stack, fn)
	return awschatbot.NewCfnSlackChannelConfiguration(stack, jsii.String("SlackChannel"), &awschatbot.CfnSlackChannelConfigurationProps{
		ConfigurationName: jsii.String("killswitch"),
		IamRoleArn:        role.RoleArn(),
		SlackWorkspaceId:  jsii.String(cfg.SlackWorkspaceID),
		SlackChannelId:    jsii.String(cfg.SlackChannelID),
		SnsTopicArns:      &[]any{topics.Notify.TopicArn(), alerts.TopicArn()},
		GuardrailPolicies: jsii.Strings(fmt.Sprintf("arn:%s:iam::aws:policy/ReadOnlyAccess", *awscdk.Aws_PARTITION())),
		UserRoleRequired:  jsii.Bool(false),
		LoggingLevel:      jsii.String("NONE"),
	})
}

// newFailedInvokeAlarm is the alarm that tells Slack a trip failed every
// attempt, and the topic only Chatbot listens to.
func newFailedInvokeAlarm(stack awscdk.Stack, fn awslambda.IFunction) awssns.Topic {
	topic := awssns.NewTopic(stack, jsii.String("SlackAlertsTopic"), &awssns.TopicProps{
		TopicName:   jsii.String(SlackAlertsTopicName),
		DisplayName: jsii.String("killswitch Slack alerts"),
		EnforceSSL:  jsii.Bool(true),
	})
	alarm := awscloudwatch.NewAlarm(stack, jsii.String("FailedInvokeAlarm"), &awscloudwatch.AlarmProps{
		AlarmName: jsii.String(FailedInvokeAlarm),
		AlarmDescription: jsii.String("killswitch: an invocation failed every attempt (Lambda's retries ran out, or the event aged out). " +
			"Containment may be incomplete. The failed event and its error went to the notify topic (email); " +
			"the killswitch function's logs have the full report. Trip it again by hand once the cause is fixed."),
		Metric: fn.Metric(jsii.String("AsyncEventsDropped"), &awscloudwatch.MetricOptions{
			Statistic: jsii.String("Sum"),
			Period:    awscdk.Duration_Minutes(jsii.Number(1)),
		}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		// No invocations means nothing dropped.
		TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
	// EnforceSSL gives the topic a policy, which replaces the default one:
	// let this alarm, and no other, publish.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowOnlyTheFailedInvokeAlarm"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnEquals":    map[string]any{"aws:SourceArn": alarm.AlarmArn()},
		},
	}))
	return topic
}
