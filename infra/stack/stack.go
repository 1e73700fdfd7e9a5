// Package stack builds the killswitch CloudFormation stack: an AWS Budgets
// budget and an optional CloudWatch billing alarm publish to a trip topic,
// which invokes the Go Lambda that contains EC2 spend. Reports and warnings go
// to a separate notify topic (email, optional Slack). The Lambda can publish to
// the notify topic only, so it can never trigger itself.
//
// The package is importable so that tests can build the stack; infra/main.go
// only reads config and wires it up.
package stack

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
)

// Resource names, fixed so that the README and the operator can refer to them.
// They are defined in internal/guard, which the function reads too: the
// quarantine policy names these resources, and the function recognises its
// own budget, alarm and roles by them.
const (
	StackID            = guard.StackName
	TripTopicName      = guard.TripTopicName
	NotifyTopicName    = guard.NotifyTopicName
	BudgetName         = guard.BudgetName
	BillingAlarmName   = guard.BillingAlarmName
	FunctionName       = guard.FunctionName
	BillingAlarmRegion = "us-east-1"
	// ManifestBucketOutput is the stack output naming the manifest bucket,
	// which the CLI reads.
	ManifestBucketOutput = "ManifestBucketName"
)

// KillswitchStackProps configures NewKillswitchStack.
type KillswitchStackProps struct {
	awscdk.StackProps
	// Config is the kill-switch configuration; it is validated again here.
	Config Config
	// ExtraBreakGlass are break-glass principals added after validation:
	// tokens only the deploy resolves, such as a member account's own
	// access role (NewMember).
	ExtraBreakGlass []string
	// AssetDir is the directory holding the Lambda's `bootstrap` binary.
	// Empty means <repo root>/build/lambda. Tests point it at a temp dir
	// holding a dummy file.
	AssetDir string
}

// NewKillswitchStack builds the stack. It returns an error, never a jsii
// panic, for an invalid config, a missing bootstrap, or a billing alarm in a
// region where the billing metric does not exist.
func NewKillswitchStack(scope constructs.Construct, id string, props *KillswitchStackProps) (awscdk.Stack, error) {
	if props == nil {
		props = &KillswitchStackProps{Config: DefaultConfig()}
	}
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n := len(cfg.BreakGlassARNs) + len(props.ExtraBreakGlass); n > settings.MaxBreakGlass {
		return nil, fmt.Errorf("breakGlassArns: at most %d break-glass principals, and the member stack adds %d of its own (memberAccessRole), so breakGlassArns may list at most %d, got %d",
			settings.MaxBreakGlass, len(props.ExtraBreakGlass), settings.MaxBreakGlass-len(props.ExtraBreakGlass), len(cfg.BreakGlassARNs))
	}
	cfg.BreakGlassARNs = append(slices.Clone(cfg.BreakGlassARNs), props.ExtraBreakGlass...)
	assetDir := props.AssetDir
	if assetDir == "" {
		var err error
		if assetDir, err = DefaultAssetDir(); err != nil {
			return nil, err
		}
	}
	if err := checkBootstrap(assetDir); err != nil {
		return nil, err
	}
	if err := checkAlarmRegion(cfg, props.Env); err != nil {
		return nil, err
	}

	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("killswitch: AWS Budgets / billing alarm -> SNS -> Lambda that contains EC2 and what launches it when spend crosses the limit; a schedule re-sweeps while the latch is tripped")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sprops)

	topics := newTopics(stack, cfg)
	latch := newLatch(stack)
	quarantineARN := ""
	if QuarantineEnabled(cfg) {
		quarantine := newQuarantinePolicy(stack, cfg)
		quarantineARN = *quarantine.ManagedPolicyArn()
		awscdk.NewCfnOutput(stack, jsii.String("QuarantinePolicyArn"), &awscdk.CfnOutputProps{
			Value:       quarantine.ManagedPolicyArn(),
			Description: jsii.String("The deny policy the kill switch attaches to every IAM principal when it trips; detach it as root or a break-glass principal"),
		})
	}
	manifests := newManifestBucket(stack)
	// The roles come first: the function's environment names each by its
	// unique ID.
	scheduleRole := newResweepScheduleRole(stack)
	var slackRole awsiam.Role
	if cfg.SlackEnabled() {
		slackRole = newSlackRole(stack)
	}
	disarmKey := newDisarmKey(stack, cfg)
	fn := newFunction(stack, cfg, topics, latch, manifests, quarantineARN, disarmKey, assetDir, scheduleRole, slackRole)
	schedule := newResweepSchedule(stack, cfg, fn, scheduleRole)
	alarms := newHealthAlarms(stack, cfg, topics, fn.Function)
	if cfg.Dashboard {
		newDashboard(stack, cfg, fn.Function, alarms)
	}
	newBudget(stack, cfg, topics)
	if cfg.BillingAlarm {
		newBillingAlarm(stack, cfg, topics)
	}
	if cfg.SlackEnabled() {
		newSlackChannel(stack, cfg, topics, fn.Function, slackRole)
	}

	awscdk.NewCfnOutput(stack, jsii.String("FunctionName"), &awscdk.CfnOutputProps{
		Value:       fn.Function.FunctionName(),
		Description: jsii.String("The kill-switch Lambda; invoke it by hand with a dryRun payload to test"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("TripTopicArn"), &awscdk.CfnOutputProps{
		Value:       topics.Trip.TopicArn(),
		Description: jsii.String("Budgets and the billing alarm publish here; the Lambda is subscribed"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("NotifyTopicArn"), &awscdk.CfnOutputProps{
		Value:       topics.Notify.TopicArn(),
		Description: jsii.String("Warnings, reports and failed-invocation records"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("LatchParameterName"), &awscdk.CfnOutputProps{
		Value:       latch.ParameterName(),
		Description: jsii.String("The SSM parameter that keeps the switch tripped; reset it to " + LatchInitialValue + " once the account is clean"),
	})
	awscdk.NewCfnOutput(stack, jsii.String(ManifestBucketOutput), &awscdk.CfnOutputProps{
		Value:       manifests.BucketName(),
		Description: jsii.String("The restore manifests: what each trip changed and the prior state; `killswitch restore` reads them"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("ResweepScheduleName"), &awscdk.CfnOutputProps{
		Value:       schedule.Ref(),
		Description: jsii.String("The EventBridge Scheduler schedule that re-sweeps while the latch is tripped"),
	})
	return stack, nil
}

// checkAlarmRegion refuses a billing alarm in a stack pinned to a region other
// than us-east-1: AWS/Billing EstimatedCharges exists only there. An
// environment-agnostic stack gets the alarm behind a CfnCondition instead.
func checkAlarmRegion(cfg Config, env *awscdk.Environment) error {
	if !cfg.BillingAlarm || env == nil || env.Region == nil {
		return nil
	}
	region := *env.Region
	if region == "" || *awscdk.Token_IsUnresolved(jsii.String(region)) || region == BillingAlarmRegion {
		return nil
	}
	return fmt.Errorf("%s.billingAlarm: the AWS/Billing EstimatedCharges metric exists only in %s, but the stack's region is %s; deploy to %s (e.g. AWS_REGION=%s npx cdk deploy) or set \"billingAlarm\": false",
		ContextKey, BillingAlarmRegion, region, BillingAlarmRegion, BillingAlarmRegion)
}
