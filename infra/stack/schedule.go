package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/trigger"
)

// ResweepScheduleName is the EventBridge Scheduler schedule that invokes the
// function every min(censusMinutes, resweepMinutes): while the latch is
// armed each run takes the live-usage census (and once a day the
// self-test); while it is tripped each run re-sweeps, since a budget alerts
// once a month and only this schedule keeps containing what an attacker
// relaunches. One schedule, so the two can never run at once.
const ResweepScheduleName = guard.ResweepScheduleName

// ScheduledEventInput is exactly the event the schedule sends the function.
// Tests and integration tests read it from here (or from the template,
// which carries the same string).
const ScheduledEventInput = trigger.ScheduledEvent

// resweepRate is the schedule expression; EventBridge Scheduler wants the
// singular unit for 1.
func resweepRate(minutes int) string {
	if minutes == 1 {
		return "rate(1 minute)"
	}
	return fmt.Sprintf("rate(%d minutes)", minutes)
}

// newResweepSchedule is the schedule, in the switch's own schedule group,
// on its own role (roles.go: created before the function, which carries its
// ID; it trusts only this group).
func newResweepSchedule(stack awscdk.Stack, cfg Config, fn Function, role awsiam.Role) awsscheduler.CfnSchedule {
	// The switch's own schedule group: the role trusts only it, and the
	// quarantine and the guard SCP keep anyone from adding a schedule to it.
	group := awsscheduler.NewCfnScheduleGroup(stack, jsii.String("ResweepScheduleGroup"), &awsscheduler.CfnScheduleGroupProps{
		Name: jsii.String(guard.ScheduleGroupName),
	})
	// The scheduler may invoke the kill switch and nothing else.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeTheKillSwitchOnly"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{fn.Function.FunctionArn()},
	}))

	minutes := cfg.ScheduleMinutes()
	interval := minutes * 60
	schedule := awsscheduler.NewCfnSchedule(stack, jsii.String("ResweepSchedule"), &awsscheduler.CfnScheduleProps{
		Name:               jsii.String(ResweepScheduleName),
		GroupName:          jsii.String(guard.ScheduleGroupName),
		Description:        jsii.String("killswitch: live-usage census while armed (trips on a cap), re-sweep while tripped"),
		ScheduleExpression: jsii.String(resweepRate(minutes)),
		FlexibleTimeWindow: &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:              jsii.String("ENABLED"),
		Target: &awsscheduler.CfnSchedule_TargetProperty{
			Arn:     fn.Function.FunctionArn(),
			RoleArn: role.RoleArn(),
			Input:   jsii.String(ScheduledEventInput),
			// A run the scheduler could not deliver within one interval is
			// replaced by the next one; retrying it later would only stack
			// runs behind the function's single reserved slot.
			RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
				MaximumEventAgeInSeconds: jsii.Number(max(interval, 60)),
			},
		},
	})
	// The role's policy must exist before the first invocation, and the
	// group before its schedule.
	schedule.Node().AddDependency(role.Node().FindChild(jsii.String("DefaultPolicy")), group)
	return schedule
}
