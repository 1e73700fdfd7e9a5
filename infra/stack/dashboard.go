package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/metrics"
)

// Names of the dashboard and of the alarms on the switch's own health.
const (
	DashboardName = "killswitch"
	// FunctionErrorsAlarm: the function failed on each of its last
	// FunctionErrorsPeriods schedule intervals.
	FunctionErrorsAlarm = guard.FunctionErrorsAlarmName
	// SelfTestAlarm: the daily self-test found the switch cannot act.
	SelfTestAlarm = guard.SelfTestAlarmName
	// NoCensusAlarm: no scheduled run (census or re-sweep) reported for
	// NoCensusPeriods intervals: the schedule or the function is gone.
	NoCensusAlarm = guard.NoCensusAlarmName
)

// FunctionErrorsPeriods and NoCensusPeriods are how many schedule
// intervals in a row each alarm waits: one failed run is routine (a
// throttled region, a retry), three in a row is a broken switch.
const (
	FunctionErrorsPeriods = 3
	NoCensusPeriods       = 3
)

// HealthAlarms are the alarms newHealthAlarms creates, in order.
var HealthAlarms = []string{FunctionErrorsAlarm, SelfTestAlarm, NoCensusAlarm}

// DashboardMetrics are the function's metrics that the dashboard and the
// health alarms read. The dashboard test holds the synthesised dashboard
// body and alarms to exactly this list, and the integration test holds the
// function's output to it: every one of them must be emitted.
func DashboardMetrics() []metrics.Metric {
	return []metrics.Metric{
		metrics.HourlyBurnUSD, metrics.VCPUs, metrics.RegionRunningInstances,
		metrics.RunningInstances, metrics.GPUs, metrics.RegionsInUse,
		metrics.Trips, metrics.Tripped, metrics.RelaunchesCaught, metrics.Resweeps,
		metrics.ContainedByKindVerb, metrics.ScheduledRuns,
		metrics.SweepDuration, metrics.ResourcesContained, metrics.SweepFailures, metrics.SweepRegionsFailed,
		metrics.SelfTestPassed, metrics.SelfTestChecksFailed, metrics.CensusRegionsFailed, metrics.CensusDuration,
		metrics.CensusAPICalls,
	}
}

// cwMetric is m as the dashboard and the alarms read it: exactly the
// namespace, name and dimension names internal/metrics defines. The unit
// is left out on purpose: a unit that does not match the data's filters
// every point out.
func cwMetric(m metrics.Metric, stat string, period awscdk.Duration, dims map[string]string, label string) awscloudwatch.Metric {
	var dm *map[string]*string
	if len(dims) > 0 {
		d := map[string]*string{}
		for _, name := range m.Dimensions {
			d[name] = jsii.String(dims[name])
		}
		dm = &d
	}
	props := &awscloudwatch.MetricProps{
		Namespace:     jsii.String(metrics.Namespace),
		MetricName:    jsii.String(m.Name),
		DimensionsMap: dm,
		Statistic:     jsii.String(stat),
		Period:        period,
	}
	// A label turns an alarm's metric into a metric-data query; alarms
	// pass none and keep the plain MetricName form.
	if label != "" {
		props.Label = jsii.String(label)
	}
	return awscloudwatch.NewMetric(props)
}

// search is every series of m, whatever its dimension values: one line
// per region, or per kind and verb, as they appear.
func search(m metrics.Metric, stat string, period awscdk.Duration, label string) awscloudwatch.MathExpression {
	schema := metrics.Namespace
	for _, d := range m.Dimensions {
		schema += "," + d
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(fmt.Sprintf(`SEARCH('{%s} MetricName="%s"', '%s', %d)`, schema, m.Name, stat, int(*period.ToSeconds(nil)))),
		UsingMetrics: &map[string]awscloudwatch.IMetric{},
		Label:        jsii.String(label),
		Period:       period,
	})
}

// capLine draws a census cap on a graph: the census trips above it. name
// is the cap's cdk.json key (census.Cap*, which this package does not
// import: it would pull the AWS SDK into the CDK app; the dashboard test
// holds the two to each other).
func capLine(name string, value int) *awscloudwatch.HorizontalAnnotation {
	return &awscloudwatch.HorizontalAnnotation{
		Value: jsii.Number(value),
		Label: jsii.String(fmt.Sprintf("%s = %d (trips above)", name, value)),
		Color: jsii.String("#d62728"),
	}
}

// newHealthAlarms are the alarms that tell the owner, through the notify
// topic, that the switch itself is failing: a kill switch that quietly
// stops working is worse than none.
func newHealthAlarms(stack awscdk.Stack, cfg Config, topics Topics, fn awslambda.Function) []awscloudwatch.Alarm {
	interval := awscdk.Duration_Minutes(jsii.Number(cfg.ScheduleMinutes()))
	errorsAlarm := awscloudwatch.NewAlarm(stack, jsii.String("FunctionErrorsAlarm"), &awscloudwatch.AlarmProps{
		AlarmName: jsii.String(FunctionErrorsAlarm),
		AlarmDescription: jsii.String(fmt.Sprintf("killswitch: the function failed in each of the last %d schedule intervals (%d min each). "+
			"The census, the re-sweep or a trip is not completing. Read the function's log group for the error; see docs: dashboard and alarms.",
			FunctionErrorsPeriods, cfg.ScheduleMinutes())),
		Metric:             fn.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: interval}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(FunctionErrorsPeriods),
		DatapointsToAlarm:  jsii.Number(FunctionErrorsPeriods),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		// No invocation is no error; the no-census alarm covers silence.
		TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	selfTest := awscloudwatch.NewAlarm(stack, jsii.String("SelfTestAlarm"), &awscloudwatch.AlarmProps{
		AlarmName: jsii.String(SelfTestAlarm),
		AlarmDescription: jsii.String("killswitch: the daily self-test failed, so the switch may NOT be able to stop instances or tell you when it trips. " +
			"The self-test's own email names each check that failed; fix the permission, SCP or topic it names."),
		Metric:             cwMetric(metrics.SelfTestPassed, "Minimum", awscdk.Duration_Hours(jsii.Number(1)), nil, ""),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		// The self-test reports once a day: between reports the alarm
		// keeps its state, so a failure stays in ALARM until a pass.
		TreatMissingData: awscloudwatch.TreatMissingData_IGNORE,
	})
	noCensus := awscloudwatch.NewAlarm(stack, jsii.String("NoCensusAlarm"), &awscloudwatch.AlarmProps{
		AlarmName: jsii.String(NoCensusAlarm),
		AlarmDescription: jsii.String(fmt.Sprintf("killswitch: no census (nor re-sweep) reported for %d schedule intervals (%d min each): "+
			"the %s schedule, the function or its settings are gone or broken, and nothing watches the account between budget alerts.",
			NoCensusPeriods, cfg.ScheduleMinutes(), ResweepScheduleName)),
		Metric:             cwMetric(metrics.ScheduledRuns, "Sum", interval, nil, ""),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(NoCensusPeriods),
		DatapointsToAlarm:  jsii.Number(NoCensusPeriods),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		// The point of this alarm: silence is the failure.
		TreatMissingData: awscloudwatch.TreatMissingData_BREACHING,
	})
	alarms := []awscloudwatch.Alarm{errorsAlarm, selfTest, noCensus}
	arns := make([]*string, len(HealthAlarms))
	for i, a := range alarms {
		a.AddAlarmAction(awscloudwatchactions.NewSnsAction(topics.Notify))
		arns[i] = jsii.String(resolvePseudo("arn:${Partition}:cloudwatch:${Region}:${Account}:alarm:" + HealthAlarms[i]))
	}
	// The notify topic has a policy (EnforceSSL, the budget), which
	// replaces SNS's default one: let these alarms, by their exact ARNs,
	// publish to it, and no other alarm.
	topics.Notify.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowOnlyTheKillSwitchHealthAlarms"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topics.Notify.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnEquals":    map[string]any{"aws:SourceArn": &arns},
		},
	}))
	return alarms
}

// newDashboard draws the account's burn, the switch's state and its
// health, from the metrics of internal/metrics, with the census caps as
// the lines the census trips above.
func newDashboard(stack awscdk.Stack, cfg Config, fn awslambda.Function, alarms []awscloudwatch.Alarm) awscloudwatch.Dashboard {
	period := awscdk.Duration_Minutes(jsii.Number(cfg.ScheduleMinutes()))
	s := cfg.Settings
	graph := func(title string, left []awscloudwatch.IMetric, caps []*awscloudwatch.HorizontalAnnotation, stacked bool) awscloudwatch.GraphWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title:           jsii.String(title),
			Left:            &left,
			LeftAnnotations: &caps,
			LeftYAxis:       &awscloudwatch.YAxisProps{Min: jsii.Number(0), ShowUnits: jsii.Bool(false)},
			Stacked:         jsii.Bool(stacked),
			Width:           jsii.Number(8),
			Height:          jsii.Number(6),
		})
	}
	single := func(title string, ms ...awscloudwatch.IMetric) awscloudwatch.SingleValueWidget {
		return awscloudwatch.NewSingleValueWidget(&awscloudwatch.SingleValueWidgetProps{
			Title:   jsii.String(title),
			Metrics: &ms,
			Width:   jsii.Number(12),
			Height:  jsii.Number(4),
		})
	}
	none := []*awscloudwatch.HorizontalAnnotation{}
	alarmList := make([]interfacesawscloudwatch.IAlarmRef, len(alarms))
	for i, a := range alarms {
		alarmList[i] = a
	}

	d := awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(DashboardName),
		DefaultInterval: awscdk.Duration_Days(jsii.Number(3)),
	})
	d.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String(fmt.Sprintf("## killswitch\nThe census runs every %d minute(s) while the switch is armed and trips it when a red line is crossed; "+
			"while tripped the same schedule re-sweeps every region. See docs-dashboard.md for what each alarm means and what to do.", s.ScheduleMinutes())),
		Width:  jsii.Number(24),
		Height: jsii.Number(2),
	}))
	d.AddWidgets(
		graph("Estimated burn (USD per hour)", []awscloudwatch.IMetric{cwMetric(metrics.HourlyBurnUSD, "Maximum", period, nil, "USD/hour")},
			[]*awscloudwatch.HorizontalAnnotation{capLine("maxHourlyBurnUSD", s.MaxHourlyBurnUSD)}, false),
		graph("vCPUs running", []awscloudwatch.IMetric{cwMetric(metrics.VCPUs, "Maximum", period, nil, "vCPUs")},
			[]*awscloudwatch.HorizontalAnnotation{capLine("maxVCPUs", s.MaxVCPUs)}, false),
		graph("Running instances per region (stacked)", []awscloudwatch.IMetric{search(metrics.RegionRunningInstances, "Maximum", period, "")}, none, true),
	)
	d.AddWidgets(
		graph("Running instances", []awscloudwatch.IMetric{cwMetric(metrics.RunningInstances, "Maximum", period, nil, "instances")},
			[]*awscloudwatch.HorizontalAnnotation{capLine("maxRunningInstances", s.MaxRunningInstances)}, false),
		graph("GPUs running", []awscloudwatch.IMetric{cwMetric(metrics.GPUs, "Maximum", period, nil, "GPUs")},
			[]*awscloudwatch.HorizontalAnnotation{capLine("maxGPUs", s.MaxGPUs)}, false),
		graph("Regions in use", []awscloudwatch.IMetric{cwMetric(metrics.RegionsInUse, "Maximum", period, nil, "regions")},
			[]*awscloudwatch.HorizontalAnnotation{capLine("maxRegionsInUse", s.MaxRegionsInUse)}, false),
	)
	d.AddWidgets(
		graph("Trips and relaunches caught", []awscloudwatch.IMetric{
			cwMetric(metrics.Trips, "Sum", period, nil, "trips"),
			cwMetric(metrics.Tripped, "Maximum", period, nil, "tripped (1) / armed (0)"),
			cwMetric(metrics.RelaunchesCaught, "Maximum", period, nil, "relaunches caught since the trip"),
			cwMetric(metrics.Resweeps, "Maximum", period, nil, "re-sweeps since the trip"),
		}, none, false),
		graph("Resources contained, by kind and verb", []awscloudwatch.IMetric{search(metrics.ContainedByKindVerb, "Sum", period, "")}, none, true),
		graph("The function: invocations, errors, throttles", []awscloudwatch.IMetric{
			fn.MetricInvocations(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period}),
			fn.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period}),
			fn.MetricThrottles(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period}),
			cwMetric(metrics.ScheduledRuns, "Sum", period, nil, "scheduled runs (census or re-sweep)"),
		}, none, false),
	)
	d.AddWidgets(
		single("The last sweep",
			cwMetric(metrics.SweepDuration, "Maximum", period, nil, "duration (ms)"),
			cwMetric(metrics.ResourcesContained, "Sum", period, nil, "contained"),
			cwMetric(metrics.SweepFailures, "Maximum", period, nil, "resources failed"),
			cwMetric(metrics.SweepRegionsFailed, "Maximum", period, nil, "regions failed"),
		),
		single("Self-test (daily) and census health",
			cwMetric(metrics.SelfTestPassed, "Minimum", period, nil, "self-test passed (1) / failed (0)"),
			cwMetric(metrics.SelfTestChecksFailed, "Maximum", period, nil, "checks failed"),
			cwMetric(metrics.CensusRegionsFailed, "Maximum", period, nil, "census regions unread"),
			cwMetric(metrics.CensusDuration, "Maximum", period, nil, "census duration (ms)"),
			cwMetric(metrics.CensusAPICalls, "Maximum", period, nil, "census API calls"),
		),
	)
	d.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title:  jsii.String("Is the switch itself healthy?"),
		Alarms: &alarmList,
		Width:  jsii.Number(24),
		Height: jsii.Number(3),
	}))
	return d
}
