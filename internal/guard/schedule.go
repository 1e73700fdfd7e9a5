package guard

// SchedulerService is the service principal of EventBridge Scheduler.
const SchedulerService = "scheduler.amazonaws.com"

// ScheduleRoleTrust is the trust policy of the re-sweep schedule's role
// (ScheduleRoleName): EventBridge Scheduler may assume it only for a
// schedule of this account in the switch's own schedule group.
//
// aws:SourceArn is the schedule GROUP's ARN, not the schedule's: Scheduler
// sends the group ARN, and its guide says not to scope the condition to a
// schedule or a name prefix ("Confused deputy prevention",
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
// So the group holds the one schedule, and the quarantine and the guard SCP
// deny creating, changing or deleting schedules in it.
func ScheduleRoleTrust() Document {
	return Document{
		Version: "2012-10-17",
		Statement: []Statement{{
			Sid:       "SchedulerForTheKillSwitchGroupOnly",
			Effect:    "Allow",
			Principal: map[string][]string{"Service": {SchedulerService}},
			Action:    []string{"sts:AssumeRole"},
			Condition: map[string]map[string][]string{
				"StringEquals": {"aws:SourceAccount": {"${Account}"}},
				"ArnEquals":    {"aws:SourceArn": {ScheduleGroupARN}},
			},
		}},
	}
}
