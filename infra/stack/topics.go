package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// Topics are the two SNS topics. Trip makes the Lambda act; Notify carries
// warnings and reports to people. They are separate so that the Lambda can
// publish reports without being able to trip itself.
type Topics struct {
	Trip         awssns.Topic
	Notify       awssns.Topic
	TripPolicy   awssns.TopicPolicy
	NotifyPolicy awssns.TopicPolicy
}

func newTopics(stack awscdk.Stack, cfg Config) Topics {
	// No SSE: AWS Budgets cannot publish to a topic encrypted with the
	// AWS-managed SNS key, and a customer-managed key costs $1/month, which is
	// 10% of the default budget. The messages hold instance IDs and counts,
	// no secrets.
	trip := awssns.NewTopic(stack, jsii.String("TripTopic"), &awssns.TopicProps{
		TopicName:   jsii.String(TripTopicName),
		DisplayName: jsii.String("killswitch trip"),
		EnforceSSL:  jsii.Bool(true),
	})
	notify := awssns.NewTopic(stack, jsii.String("NotifyTopic"), &awssns.TopicProps{
		TopicName:   jsii.String(NotifyTopicName),
		DisplayName: jsii.String("killswitch"),
		EnforceSSL:  jsii.Bool(true),
	})

	// Only this stack's own budget and alarm may publish to the trip topic,
	// each by its exact ARN: any other budget or alarm of the account, which
	// anyone allowed to create one could point here, is not allowed.
	trip.AddToResourcePolicy(budgetsPublish(trip))
	if cfg.BillingAlarm {
		trip.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AllowOnlyTheKillSwitchAlarm"),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
			Actions:    jsii.Strings("sns:Publish"),
			Resources:  &[]*string{trip.TopicArn()},
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
				"ArnEquals":    map[string]any{"aws:SourceArn": jsii.String(resolvePseudo(guard.BillingAlarmARN))},
			},
		}))
	}
	// Same-account principals holding sns:Publish on "*" would otherwise be
	// able to publish: deny every principal that is not an AWS service (the
	// budget and the alarm above) and not a break-glass principal. A manual
	// trip through the topic is thus a break-glass principal's; anyone else
	// invokes the function directly.
	trip.AddToResourcePolicy(tripPublishDeny(trip, cfg.BreakGlassARNs))
	// The warning notifications of the budget go to the notify topic.
	notify.AddToResourcePolicy(budgetsPublish(notify))

	for _, email := range cfg.NotificationEmails {
		notify.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(email), nil))
	}
	return Topics{Trip: trip, Notify: notify, TripPolicy: topicPolicy(trip), NotifyPolicy: topicPolicy(notify)}
}

// topicPolicy is the AWS::SNS::TopicPolicy the topic created for its
// resource-policy statements.
func topicPolicy(topic awssns.Topic) awssns.TopicPolicy {
	return topic.Node().FindChild(jsii.String("Policy")).(awssns.TopicPolicy)
}

// budgetsPublish lets this stack's budget, and no other, publish to topic.
func budgetsPublish(topic awssns.Topic) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowOnlyTheKillSwitchBudget"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("budgets.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnEquals":    map[string]any{"aws:SourceArn": jsii.String(resolvePseudo(guard.BudgetARN))},
		},
	})
}

// TripDenySid is the trip topic's explicit Deny.
const TripDenySid = "DenyPublishExceptAWSServicesAndBreakGlass"

// tripPublishDeny denies sns:Publish to every principal but AWS services
// (aws:PrincipalIsAWSService is true only for them, and absent for
// anonymous callers, which ...IfExists denies too) and the break-glass
// principals (by aws:PrincipalArn, which for a role session is the role).
func tripPublishDeny(topic awssns.Topic, breakGlass []string) awsiam.PolicyStatement {
	conds := map[string]any{
		"BoolIfExists": map[string]any{"aws:PrincipalIsAWSService": "false"},
	}
	if len(breakGlass) > 0 {
		conds["ArnNotEquals"] = map[string]any{"aws:PrincipalArn": jsii.Strings(breakGlass...)}
	}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(TripDenySid),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &conds,
	})
}
