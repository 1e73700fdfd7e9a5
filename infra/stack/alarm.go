package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/jsii-runtime-go"
)

// newBillingAlarm adds the second, independent trigger: the account-wide
// EstimatedCharges metric, which exists only in us-east-1 and needs "Receive
// Billing Alerts" turned on. NewKillswitchStack has already refused a stack
// pinned elsewhere; in an environment-agnostic stack the alarm is created only
// where the stack is deployed to us-east-1.
func newBillingAlarm(stack awscdk.Stack, cfg Config, topics Topics) awscloudwatch.Alarm {
	alarm := awscloudwatch.NewAlarm(stack, jsii.String("BillingAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(BillingAlarmName),
		AlarmDescription: jsii.String("killswitch: estimated charges for the month reached the trip amount"),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/Billing"),
			MetricName:    jsii.String("EstimatedCharges"),
			DimensionsMap: &map[string]*string{"Currency": jsii.String("USD")},
			Statistic:     jsii.String("Maximum"),
			Period:        awscdk.Duration_Hours(jsii.Number(6)),
		}),
		Threshold:          jsii.Number(cfg.BillingAlarmThresholdUSD),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		// The metric is published a few times a day; gaps are normal.
		TreatMissingData: awscloudwatch.TreatMissingData_MISSING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(topics.Trip))

	if *awscdk.Token_IsUnresolved(stack.Region()) {
		cond := awscdk.NewCfnCondition(stack, jsii.String("InBillingRegion"), &awscdk.CfnConditionProps{
			Expression: awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), jsii.String(BillingAlarmRegion)),
		})
		alarm.Node().DefaultChild().(awscloudwatch.CfnAlarm).CfnOptions().SetCondition(cond)
	}
	return alarm
}
