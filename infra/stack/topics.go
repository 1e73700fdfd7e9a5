package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
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

	// Only this account's budgets and alarms may publish to the trip topic.
	trip.AddToResourcePolicy(budgetsPublish(stack, trip))
	trip.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarmsOfThisAccount"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{trip.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	// The warning notifications of the budget go to the notify topic.
	notify.AddToResourcePolicy(budgetsPublish(stack, notify))

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

// budgetsPublish lets AWS Budgets of this account, and only of this account,
// publish to topic.
func budgetsPublish(stack awscdk.Stack, topic awssns.Topic) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowBudgetsOfThisAccount"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("budgets.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnLike": map[string]any{
				"aws:SourceArn": jsii.String(fmt.Sprintf("arn:%s:budgets::%s:*", *awscdk.Aws_PARTITION(), *awscdk.Aws_ACCOUNT_ID())),
			},
		},
	})
}
