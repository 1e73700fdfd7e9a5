package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsorganizations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/orgquarantine"
)

// OrgQuarantineBootstrapRelPath is where infra/main.go builds the org
// quarantine function, relative to the repository root.
const OrgQuarantineBootstrapRelPath = "build/orgquarantine/bootstrap"

// newOrgQuarantine adds the deny-by-default SCP, attached to nothing, and the
// function that attaches it to a member account whose switch reports a
// trip on the central topic.
func newOrgQuarantine(stack awscdk.Stack, props *OrgStackProps, central awssns.Topic) {
	policy := awsorganizations.NewCfnPolicy(stack, jsii.String("OrgQuarantinePolicy"), &awsorganizations.CfnPolicyProps{
		Name:        jsii.String(OrgQuarantineSCPName),
		Type:        jsii.String("SERVICE_CONTROL_POLICY"),
		Description: jsii.String("killswitch org quarantine: attached to a member account that tripped; denies everything to everyone there, root included, but the StackSet, the org admins and the switch's own roles. Detach it once the account is clean."),
		// The StackSet (updates) and the org admins (clean-up) are
		// excepted; OrgQuarantineSCP adds the switch's function and
		// schedule roles, which must go on containing.
		Content: cfnDocument(guard.OrgQuarantineSCP(append([]string{guard.StackSetExecRolePattern}, props.Org.OrgAdminARNs...))),
	})

	logGroup := awslogs.NewLogGroup(stack, jsii.String("OrgQuarantineLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + guard.OrgQuarantineFunctionName),
		Retention:     awslogs.RetentionDays_ONE_YEAR,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(stack, jsii.String("OrgQuarantineRole"), &awsiam.RoleProps{
		RoleName:    jsii.String(guard.OrgQuarantineFunctionName),
		Path:        jsii.String(guard.RolePath),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("killswitch org quarantine: attach the deny-by-default SCP to a member account of the organization"),
	})
	// The one SCP, to the organization's accounts only (never an OU or
	// the root, which would bind every account).
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:     jsii.String("AttachTheOrgQuarantineToOneAccount"),
		Effect:  awsiam.Effect_ALLOW,
		Actions: jsii.Strings("organizations:AttachPolicy"),
		Resources: &[]*string{
			policy.AttrArn(),
			jsii.String(resolvePseudo("arn:${Partition}:organizations::${Account}:account/" + props.Org.OrganizationID + "/*")),
		},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteOwnLogs"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: &[]*string{logGroup.LogGroupArn()},
	}))
	suppress(role, iamWildcards, "any member account of the organization can trip; the account is known only when its report arrives",
		"Resource::arn:<AWS::Partition>:organizations::<AWS::AccountId>:account/"+props.Org.OrganizationID+"/*")

	fn := awslambda.NewFunction(stack, jsii.String("OrgQuarantineFunction"), &awslambda.FunctionProps{
		FunctionName:  jsii.String(guard.OrgQuarantineFunctionName),
		Description:   jsii.String("killswitch org quarantine: attaches the deny-by-default SCP to a member account that tripped"),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(props.OrgQuarantineAssetDir), nil),
		Role:          role,
		MemorySize:    jsii.Number(128),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(60)),
		LogGroup:      logGroup,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Environment: &map[string]*string{
			orgquarantine.EnvPolicyID:          policy.AttrId(),
			orgquarantine.EnvManagementAccount: awscdk.Aws_ACCOUNT_ID(),
		},
		RetryAttempts: jsii.Number(2),
	})
	fn.Node().DefaultChild().Node().RemoveDependency(role)
	fn.Node().AddDependency(role.Node().FindChild(jsii.String("DefaultPolicy")))
	central.AddSubscription(awssnssubscriptions.NewLambdaSubscription(fn, nil))

	awscdk.NewCfnOutput(stack, jsii.String("OrgQuarantinePolicyId"), &awscdk.CfnOutputProps{
		Value:       policy.AttrId(),
		Description: jsii.String("The deny-by-default SCP the org quarantine attaches to a member that tripped; detach it with aws organizations detach-policy once the account is clean"),
	})
}
