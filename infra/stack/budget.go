package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbudgets"
	"github.com/aws/jsii-runtime-go"
)

// newBudget creates the monthly cost budget. Its trip notification (ACTUAL >
// trip%) goes to the trip topic; warnings go to the notify topic and straight
// to the configured emails.
func newBudget(stack awscdk.Stack, cfg Config, topics Topics) awsbudgets.CfnBudget {
	notification := func(typ string, threshold float64, subscribers []any) any {
		return &awsbudgets.CfnBudget_NotificationWithSubscribersProperty{
			Notification: &awsbudgets.CfnBudget_NotificationProperty{
				NotificationType:   jsii.String(typ),
				ComparisonOperator: jsii.String("GREATER_THAN"),
				Threshold:          jsii.Number(threshold),
				ThresholdType:      jsii.String("PERCENTAGE"),
			},
			Subscribers: subscribers,
		}
	}
	sns := func(arn *string) any {
		return &awsbudgets.CfnBudget_SubscriberProperty{SubscriptionType: jsii.String("SNS"), Address: arn}
	}
	warningSubscribers := []any{sns(topics.Notify.TopicArn())}
	for _, email := range cfg.NotificationEmails {
		warningSubscribers = append(warningSubscribers,
			&awsbudgets.CfnBudget_SubscriberProperty{SubscriptionType: jsii.String("EMAIL"), Address: jsii.String(email)})
	}

	notifications := []any{notification("ACTUAL", cfg.TripThresholdPercent, []any{sns(topics.Trip.TopicArn())})}
	for _, t := range cfg.WarningThresholdsPercent {
		notifications = append(notifications, notification("ACTUAL", t, warningSubscribers))
	}
	for _, t := range cfg.ForecastWarningThresholdsPercent {
		notifications = append(notifications, notification("FORECASTED", t, warningSubscribers))
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
