package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
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

// Wired is what the stack itself writes into the function's environment
// besides cdk.json's settings: its own resources, mostly as tokens.
type Wired struct {
	NotifyTopicARN string
	// TripTopicARN is the topic the budget and alarm publish to; the
	// integrity check expects exactly the function's subscription on it.
	TripTopicARN   string
	LatchParameter string
	// QuarantinePolicyARN is "" when the quarantine is off.
	QuarantinePolicyARN string
	ManifestBucket      string
	// OwnRoleIDs are the unique IDs of the stack's own roles (tokens of the
	// roles' RoleId): the quarantine spares a role only by its ID.
	OwnRoleIDs []string
	// DisarmKeyARN is the KMS HMAC key a disarm's proof is verified with.
	DisarmKeyARN string
}

// FunctionEnvironment is the Lambda's environment for cfg: every variable
// internal/settings defines, written by the same table the function reads
// it with, plus what the stack wires (w) and its own budget and alarm
// names. The notification emails are cdk.json's, which the integrity check
// expects on the notify topic.
func FunctionEnvironment(cfg Config, w Wired) map[string]string {
	s := cfg.Settings
	s.OwnRoleIDs = w.OwnRoleIDs
	s.DisarmKeyARN = w.DisarmKeyARN
	s.ManifestBucket = w.ManifestBucket
	s.NotifyTopicARN = w.NotifyTopicARN
	s.TripTopicARN = w.TripTopicARN
	s.NotifyEmails = append([]string{}, cfg.NotificationEmails...)
	s.LatchParameter = w.LatchParameter
	s.QuarantinePolicyARN = w.QuarantinePolicyARN
	s.BudgetName = BudgetName
	s.AlarmName = BillingAlarmName
	// Chatbot's JSON only when a Chatbot channel listens to the topic.
	s.SlackEnabled = cfg.SlackEnabled()
	return s.Environment()
}

// otherRoles are the stack's roles besides the function's (roles.go): the
// function's environment names them all by unique ID.
func newFunction(stack awscdk.Stack, cfg Config, topics Topics, latch awsssm.StringParameter, manifests awss3.Bucket, quarantineArn string, disarmKey awskms.CfnKey, assetDir string, otherRoles ...awsiam.Role) Function {
	logGroup := awslogs.NewLogGroup(stack, jsii.String("FunctionLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + FunctionName),
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	// An explicit role with exactly what the function calls; no managed
	// policies. What it may do to each kind of resource is in Permissions.
	// Its unique ID, in the function's environment, is how the quarantine
	// recognises it (the fixed path and name are a second check, see
	// internal/guard): the switch never quarantines itself.
	role := awsiam.NewRole(stack, jsii.String("FunctionRole"), &awsiam.RoleProps{
		RoleName:    jsii.String(guard.FunctionRoleName),
		Path:        jsii.String(guard.RolePath),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("killswitch Lambda: find and contain EC2 instances and what launches them, in every region; keep the latch; publish reports"),
	})
	addKindPermissions(role, cfg)
	addCensusPermissions(role, topics)
	grantManifest(role)
	grantVerifyDisarm(role, disarmKey)
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

	env := FunctionEnvironment(cfg, Wired{
		NotifyTopicARN:      *topics.Notify.TopicArn(),
		TripTopicARN:        *topics.Trip.TopicArn(),
		LatchParameter:      *latch.ParameterName(),
		QuarantinePolicyARN: quarantineArn,
		ManifestBucket:      *manifests.BucketName(),
		OwnRoleIDs:          roleIDs(append([]awsiam.Role{role}, otherRoles...)...),
		DisarmKeyARN:        *disarmKey.AttrArn(),
	})
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
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(FunctionTimeout.Seconds())),
		ReservedConcurrentExecutions: reservedConcurrency(cfg),
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		LogGroup:                     logGroup,
		Environment:                  envPointers(env),
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
	overflowPolicies(role, fn)

	if cfg.ReservedConcurrency > 0 {
		awscdk.Annotations_Of(fn).AddWarningV2(jsii.String("killswitch:reservedConcurrency"), jsii.String(ReservedConcurrencyWarning), nil)
	}
	topics.Trip.AddSubscription(awssnssubscriptions.NewLambdaSubscription(fn, nil))
	return Function{Function: fn, Role: role, LogGroup: logGroup}
}

// ReservedConcurrencyWarning is synth's warning when an owner reserves
// concurrency.
const ReservedConcurrencyWarning = "reservedConcurrency is set: Lambda refuses a reservation that leaves fewer than 10 " +
	"unreserved executions, and brand-new accounts often have a concurrency quota of 10, so this deploy fails and rolls " +
	"back there. Check the account's quota (Service Quotas, Lambda, Concurrent executions) first, or leave it unset: " +
	"the sweep is idempotent and the latch serialises trips."

// reservedConcurrency is no reservation unless the owner asked for one:
// overlapping trips are safe, and a reservation cannot deploy on a new
// account with a quota of 10.
func reservedConcurrency(cfg Config) *float64 {
	if cfg.ReservedConcurrency <= 0 {
		return nil
	}
	return jsii.Number(cfg.ReservedConcurrency)
}

func envPointers(m map[string]string) *map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = jsii.String(v)
	}
	return &out
}
