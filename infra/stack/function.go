package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// Function is the kill-switch Lambda and what it is built from.
type Function struct {
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// FunctionTimeout is the Lambda's timeout: one full sweep of every region,
// with headroom for throttling and slow opt-in regions.
var FunctionTimeout = 5 * time.Minute

// FunctionEnvironment is the Lambda's environment for cfg: every variable
// internal/settings defines, written by the same table the function reads
// it with. The stack wires the notify topic, the latch parameter and the
// quarantine policy (usually tokens; the policy "" when the quarantine is
// off), and its own budget and alarm names.
func FunctionEnvironment(cfg Config, notifyTopicArn, latchParameter, quarantinePolicyArn string) map[string]string {
	s := cfg.Settings
	s.NotifyTopicARN = notifyTopicArn
	s.LatchParameter = latchParameter
	s.QuarantinePolicyARN = quarantinePolicyArn
	s.BudgetName = BudgetName
	s.AlarmName = BillingAlarmName
	return s.Environment()
}

func newFunction(stack awscdk.Stack, cfg Config, topics Topics, latch awsssm.StringParameter, quarantineArn, assetDir string) Function {
	logGroup := awslogs.NewLogGroup(stack, jsii.String("FunctionLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + FunctionName),
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	// An explicit role with exactly what the function calls; no managed
	// policies. What it may do to each kind of resource is in Permissions.
	// Its fixed path and name are how the quarantine recognises it (see
	// internal/guard): the switch never quarantines itself.
	role := awsiam.NewRole(stack, jsii.String("FunctionRole"), &awsiam.RoleProps{
		RoleName:    jsii.String(guard.FunctionRoleName),
		Path:        jsii.String(guard.RolePath),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("killswitch Lambda: find and contain EC2 instances and what launches them, in every region; keep the latch; publish reports"),
	})
	addKindPermissions(role, cfg)
	// The latch: read on every run, set when the switch trips.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadAndSetTheLatch"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("ssm:GetParameter", "ssm:PutParameter"),
		Resources: &[]*string{latch.ParameterArn()},
	}))
	// Reports go to the notify topic only, never the trip topic. No Sid: the
	// on-failure destination grants the identical statement and the CDK merges
	// identical statements into one.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("sns:Publish"),
		Resources: &[]*string{topics.Notify.TopicArn()},
	}))
	// Logs: its own log group only (the group ARN ends in ":*", covering its streams).
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteOwnLogs"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: &[]*string{logGroup.LogGroupArn()},
	}))

	fn := awslambda.NewFunction(stack, jsii.String("Function"), &awslambda.FunctionProps{
		FunctionName: jsii.String(FunctionName),
		Description:  jsii.String("killswitch: contains EC2 and what launches it, in every region, when the budget trips"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(assetDir), nil),
		Role:         role,
		MemorySize:   jsii.Number(256),
		// 5 minutes fits one full sweep: the engine sweeps all ~30 regions
		// concurrently, each region's calls retry with the SDK's adaptive
		// retryer when EC2 throttles (RequestLimitExceeded), and the engine
		// publishes its report before the context deadline. A sweep normally
		// takes seconds; the headroom is for throttling and slow opt-in regions.
		Timeout: awscdk.Duration_Seconds(jsii.Number(FunctionTimeout.Seconds())),
		// One at a time: a second trip while the first is still running would
		// only race it; SNS redeliveries queue up and find nothing left to do.
		ReservedConcurrentExecutions: jsii.Number(1),
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		LogGroup:                     logGroup,
		Environment:                  envPointers(FunctionEnvironment(cfg, *topics.Notify.TopicArn(), *latch.ParameterName(), quarantineArn)),
		// Async invokes (SNS) are retried twice, then the failed event goes to
		// the notify topic: a failed trip is never silent.
		RetryAttempts: jsii.Number(2),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
		OnFailure:     awslambdadestinations.NewSnsDestination(topics.Notify),
	})
	// The CDK makes the function depend on the role and its policy, but
	// Properties.Role already references the role (cfn-lint W3005). Depend on
	// the policy only: it must exist before the function and its invoke config
	// (Lambda checks the on-failure destination's sns:Publish permission).
	fn.Node().DefaultChild().Node().RemoveDependency(role)
	fn.Node().AddDependency(role.Node().FindChild(jsii.String("DefaultPolicy")))

	topics.Trip.AddSubscription(awssnssubscriptions.NewLambdaSubscription(fn, nil))
	return Function{Function: fn, Role: role, LogGroup: logGroup}
}

func envPointers(m map[string]string) *map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = jsii.String(v)
	}
	return &out
}
