package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awschatbot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// newSlackChannel posts the notify topic to a Slack channel through AWS
// Chatbot. The workspace must have been authorised once in the Chatbot console.
// The channel role has no permissions and the guardrail is ReadOnlyAccess:
// Chatbot only relays notifications; nobody can act on AWS from Slack.
func newSlackChannel(stack awscdk.Stack, cfg Config, topics Topics) awschatbot.CfnSlackChannelConfiguration {
	role := awsiam.NewRole(stack, jsii.String("SlackChannelRole"), &awsiam.RoleProps{
		RoleName:    jsii.String(guard.SlackRoleName),
		Path:        jsii.String(guard.RolePath),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("chatbot.amazonaws.com"), nil),
		Description: jsii.String("killswitch Slack channel (AWS Chatbot): relays notifications only, no permissions"),
	})
	return awschatbot.NewCfnSlackChannelConfiguration(stack, jsii.String("SlackChannel"), &awschatbot.CfnSlackChannelConfigurationProps{
		ConfigurationName: jsii.String("killswitch"),
		IamRoleArn:        role.RoleArn(),
		SlackWorkspaceId:  jsii.String(cfg.SlackWorkspaceID),
		SlackChannelId:    jsii.String(cfg.SlackChannelID),
		SnsTopicArns:      &[]any{topics.Notify.TopicArn()},
		GuardrailPolicies: jsii.Strings(fmt.Sprintf("arn:%s:iam::aws:policy/ReadOnlyAccess", *awscdk.Aws_PARTITION())),
		UserRoleRequired:  jsii.Bool(false),
		LoggingLevel:      jsii.String("NONE"),
	})
}
