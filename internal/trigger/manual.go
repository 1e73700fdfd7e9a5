package trigger

import (
	"encoding/json"
	"fmt"
	"sort"
)

// manualKeys are the only keys a manual trip may carry. Anything else is
// rejected so that a misspelt "dryRun" cannot silently become a real trip.
var manualKeys = map[string]bool{"killswitch": true, "reason": true, "dryRun": true}

// parseManual reads {"killswitch":"trip","reason":"...","dryRun":true},
// either as the whole event or as the message of an SNS record.
func parseManual(obj jsonObject, viaSNS bool) Signal {
	if key, ok := firstUnknownKey(obj); ok {
		return unrecognised(fmt.Sprintf(
			`manual invoke has unknown field %q (allowed: "killswitch", "reason", "dryRun")`, short(key)))
	}
	verb, present, err := obj.str("killswitch")
	if err != nil || !present {
		return unrecognised(`manual invoke: "killswitch" must be the string "trip", "disarm" or "scheduled"`)
	}
	switch verb {
	case "trip":
	case "disarm", "scheduled":
		return parseControl(obj, verb, viaSNS)
	default:
		return unrecognised(fmt.Sprintf(`manual invoke: "killswitch" is %q; only the exact lowercase "trip" trips ("disarm" and "scheduled" are the other verbs)`, short(verb)))
	}
	reason, _, err := obj.str("reason")
	if err != nil {
		return unrecognised(`manual invoke: "reason" must be a string`)
	}
	var dryRun bool
	if raw, ok := obj["dryRun"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &dryRun); err != nil {
			return unrecognised(`manual invoke: "dryRun" must be true or false`)
		}
	}

	summary := "manual invoke"
	if viaSNS {
		summary += " via SNS"
	}
	if dryRun {
		summary += " (dry run)"
	}
	if reason != "" {
		summary += ": " + reason
	} else {
		summary += ": no reason given"
	}
	return Signal{
		Source:  SourceManual,
		Trips:   true, // a dry run still trips; the handler reads Manual.DryRun to act or only report
		Summary: summary,
		Manual:  &ManualInvoke{Reason: reason, DryRun: dryRun},
	}
}

func firstUnknownKey(obj jsonObject) (string, bool) {
	var unknown []string
	for key := range obj {
		if !manualKeys[key] {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) == 0 {
		return "", false
	}
	sort.Strings(unknown) // deterministic problem text
	return unknown[0], true
}

// parseControl reads the two invokes that do not trip:
//
//	{"killswitch":"disarm","reason":"..."}  the owner clears the latch
//	{"killswitch":"scheduled"}              the stack's schedule (re-sweep)
//
// Disarming is accepted only from a direct invoke, never through the trip
// topic: whoever may publish there may trip the switch, not turn it off.
func parseControl(obj jsonObject, verb string, viaSNS bool) Signal {
	if _, ok := obj["dryRun"]; ok {
		return unrecognised(fmt.Sprintf(`manual invoke: "dryRun" is only for "trip", not %q`, verb))
	}
	reason, _, err := obj.str("reason")
	if err != nil {
		return unrecognised(`manual invoke: "reason" must be a string`)
	}
	if verb == "scheduled" {
		if reason != "" {
			return unrecognised(`scheduled invoke: takes no "reason"`)
		}
		return Signal{Source: SourceSchedule, Summary: "scheduled run"}
	}
	if viaSNS {
		return unrecognised(`disarm arrived through SNS; the switch is disarmed only by invoking the function directly`)
	}
	summary := "disarm by direct invoke: "
	if reason == "" {
		summary += "no reason given"
	} else {
		summary += reason
	}
	return Signal{Source: SourceDisarm, Summary: summary, Manual: &ManualInvoke{Reason: reason}}
}

// ScheduledEvent is exactly what the stack's schedule sends the function.
// The stack writes it into the schedule's target, so the two cannot drift.
const ScheduledEvent = `{"killswitch":"scheduled"}`
