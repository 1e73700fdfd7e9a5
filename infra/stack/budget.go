package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbudgets"
	"github.com/aws/jsii-runtime-go"
)

// budgetNotification is one notification of the budget, before it is
// given its subscribers.
type budgetNotification struct {
	typ       string // ACTUAL or FORECASTED
	threshold float64
	trips     bool // to the trip topic; otherwise a warning
}

// budgetNotifications lists the budget's notifications: the ACTUAL trip,
// the FORECASTED trip when tripOnForecast is on, and the warnings. A
// forecast warning at the trip threshold is folded into the forecast trip,
// since AWS Budgets rejects two notifications alike.
func budgetNotifications(cfg Config) []budgetNotification {
	out := []budgetNotification{{typ: "ACTUAL", threshold: cfg.TripThresholdPercent, trips: true}}
	if cfg.TripOnForecast {
		out = append(out, budgetNotification{typ: "FORECASTED", threshold: cfg.TripThresholdPercent, trips: true})
	}
	for _, t := range cfg.WarningThresholdsPercent {
		out = append(out, budgetNotification{typ: "ACTUAL", threshold: t})
	}
	for _, t := range cfg.ForecastWarningThresholdsPercent {
		if cfg.TripOnForecast && t == cfg.TripThresholdPercent {
			continue
		}
		out = append(out, budgetNotification{typ: "FORECASTED", threshold: t})
	}
	return out
}

// newBudget creates the monthly cost budget. Its trip notifications go to
// the trip topic; warnings go to the notify topic only. Every address in
// notificationEmails is subscribed to that topic, so a budget EMAIL
// subscriber as well would send each warning twice to the same address;
// the topic also carries them to Slack.
func newBudget(stack awscdk.Stack, cfg Config, topics Topics) awsbudgets.CfnBudget {
	sns := func(arn *string) any {
		return &awsbudgets.CfnBudget_SubscriberProperty{SubscriptionType: jsii.String("SNS"), Address: arn}
	}
	warningSubscribers := []any{sns(topics.Notify.TopicArn())}

	var notifications []any
	for _, n := range budgetNotifications(cfg) {
		subscribers := warningSubscribers
		if n.trips {
			subscribers = []any{sns(topics.Trip.TopicArn())}
		}
		notifications = append(notifications, &awsbudgets.CfnBudget_NotificationWithSubscribersProperty{
			Notification: &awsbudgets.CfnBudget_NotificationProperty{
				NotificationType:   jsii.String(n.typ),
				ComparisonOperator: jsii.String("GREATER_THAN"),
				Threshold:          jsii.Number(n.threshold),
				ThresholdType:      jsii.String("PERCENTAGE"),
			},
			Subscribers: subscribers,
		})
	}
	budget := awsbudgets.NewCfnBudget(stack, jsii.String("Budget"), &awsbudgets.CfnBudgetProps{
		Budget: &awsbudgets.CfnBudget_BudgetDataProperty{
			BudgetName:  jsii.String(BudgetName),
			BudgetType:  jsii.String("COST"),
			TimeUnit:    jsii.String("MONTHLY"),
			BudgetLimit: &awsbudgets.CfnBudget_SpendProperty{Amount: jsii.Number(cfg.BudgetUSD), Unit: jsii.String("USD")},
			// Count gross spend: credits and refunds would otherwise hide an
			// attack until the credits run out.
			CostTypes: &awsbudgets.CfnBudget_CostTypesProperty{
				IncludeCredit: jsii.Bool(false),
				IncludeRefund: jsii.Bool(false),
			},
		},
		NotificationsWithSubscribers: notifications,
	})
	// Budgets checks that it may publish when the notification is created:
	// create the topic policies first. (The topics themselves are already
	// dependencies through Ref.)
	budget.Node().AddDependency(topics.TripPolicy, topics.NotifyPolicy)
	return budget
}
