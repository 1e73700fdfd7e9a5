package trigger

import (
	"encoding/json"
	"fmt"
)

const (
	alarmStateAlarm        = "ALARM"
	alarmStateOK           = "OK"
	alarmStateInsufficient = "INSUFFICIENT_DATA"
)

// parseAlarm reads a CloudWatch alarm notification. Only AlarmName and
// NewStateValue are required; the rest is best effort, so a composite alarm
// (no Trigger) or an odd Threshold still trips on ALARM.
func parseAlarm(msg jsonObject, opts Options) Signal {
	name, _, err := msg.str("AlarmName")
	if err != nil || name == "" {
		return unrecognised("CloudWatch alarm message has no AlarmName string")
	}
	newState, _, err := msg.str("NewStateValue")
	if err != nil || newState == "" {
		return unrecognised(fmt.Sprintf("CloudWatch alarm %q message has no NewStateValue string", short(name)))
	}
	if opts.AlarmName != "" && name != opts.AlarmName {
		return unrecognised(fmt.Sprintf("CloudWatch alarm %q is not this kill switch's alarm (%q); another alarm cannot trip it",
			short(name), short(opts.AlarmName)))
	}

	alarm := &AlarmChange{AlarmName: name, NewState: newState}
	alarm.OldState, _, _ = msg.str("OldStateValue")
	alarm.Reason, _, _ = msg.str("NewStateReason")
	alarm.AlarmArn, _, _ = msg.str("AlarmArn")
	alarm.Account, _, _ = msg.str("AWSAccountId")
	var trigger jsonObject
	if json.Unmarshal(msg["Trigger"], &trigger) == nil {
		alarm.MetricName, _, _ = trigger.str("MetricName")
		alarm.Namespace, _, _ = trigger.str("Namespace")
		_ = json.Unmarshal(trigger["Threshold"], &alarm.Threshold) // zero when absent or not a number
	}

	transition := fmt.Sprintf("CloudWatch alarm %q went %s -> %s", short(name), short(orUnknown(alarm.OldState)), short(newState))
	switch newState {
	case alarmStateAlarm:
		return Signal{Source: SourceAlarm, Trips: true, Summary: transition, Alarm: alarm}
	case alarmStateOK, alarmStateInsufficient:
		return Signal{Source: SourceAlarm, Summary: withSuffix(transition, "; no action"), Alarm: alarm}
	default:
		return unrecognised(fmt.Sprintf("CloudWatch alarm %q has unknown NewStateValue %q (want ALARM, OK or INSUFFICIENT_DATA)",
			short(name), short(newState)))
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
