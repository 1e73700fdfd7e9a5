package trigger

import (
	"encoding/json"
	"fmt"
	"sort"
)

// manualKeys are the only keys a manual invoke may carry ("proof" only on
// a disarm). Anything else is rejected so that a misspelt "dryRun" cannot
// silently become a real trip.
var manualKeys = map[string]bool{"killswitch": true, "reason": true, "dryRun": true, "proof": true}

// proofKeys are the only keys of a disarm's proof.
var proofKeys = map[string]bool{"trip": true, "issuedAt": true, "mac": true}

// parseManual reads {"killswitch":"trip","reason":"...","dryRun":true},
// either as the whole event or as the message of an SNS record.
func parseManual(obj jsonObject, viaSNS bool) Signal {
	if key, ok := firstUnknownKey(obj, manualKeys); ok {
		return unrecognised(fmt.Sprintf(
			`manual invoke has unknown field %q (allowed: "killswitch", "reason", "dryRun", and "proof" on a disarm)`, short(key)))
	}
	verb, present, err := obj.str("killswitch")
	if err != nil || !present {
		return unrecognised(`manual invoke: "killswitch" must be the string "trip", "disarm" or "scheduled"`)
	}
	switch verb {
	case "trip":
		if _, ok := obj["proof"]; ok {
			return unrecognised(`manual invoke: "proof" is only for "disarm"`)
		}
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

func firstUnknownKey(obj jsonObject, allowed map[string]bool) (string, bool) {
	var unknown []string
	for key := range obj {
		if !allowed[key] {
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
//	{"killswitch":"disarm","reason":"...","proof":{...}}  the owner clears the latch
//	{"killswitch":"scheduled"}                            the stack's schedule (re-sweep)
//
// Disarming is accepted only from a direct invoke, never through the trip
// topic: whoever may publish there may trip the switch, not turn it off.
// A disarm's proof is only read here, not checked: the handler checks it
// (internal/disarmproof), and refuses, and tells the owner, a disarm
// without one.
func parseControl(obj jsonObject, verb string, viaSNS bool) Signal {
	if _, ok := obj["dryRun"]; ok {
		return unrecognised(fmt.Sprintf(`manual invoke: "dryRun" is only for "trip", not %q`, verb))
	}
	reason, _, err := obj.str("reason")
	if err != nil {
		return unrecognised(`manual invoke: "reason" must be a string`)
	}
	if _, ok := obj["proof"]; ok && verb != "disarm" {
		return unrecognised(fmt.Sprintf(`manual invoke: "proof" is only for "disarm", not %q`, verb))
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
	proof, problem := parseProof(obj)
	if problem != "" {
		return unrecognised("disarm: " + problem)
	}
	summary := "disarm by direct invoke: "
	if reason == "" {
		summary += "no reason given"
	} else {
		summary += reason
	}
	return Signal{Source: SourceDisarm, Summary: summary, Manual: &ManualInvoke{Reason: reason, Proof: proof}}
}

// parseProof reads a disarm's "proof": an object of three strings, keys
// matched exactly. Absent or null is no proof (nil), which the handler
// refuses.
func parseProof(obj jsonObject) (*DisarmProof, string) {
	raw, ok := obj["proof"]
	if !ok || isNull(raw) {
		return nil, ""
	}
	var p jsonObject
	if err := json.Unmarshal(raw, &p); err != nil || p == nil {
		return nil, `"proof" must be an object {"trip","issuedAt","mac"}`
	}
	if key, ok := firstUnknownKey(p, proofKeys); ok {
		return nil, fmt.Sprintf(`"proof" has unknown field %q (allowed: "trip", "issuedAt", "mac")`, short(key))
	}
	var out DisarmProof
	for _, f := range []struct {
		key string
		dst *string
	}{{"trip", &out.Trip}, {"issuedAt", &out.IssuedAt}, {"mac", &out.MAC}} {
		v, _, err := p.str(f.key)
		if err != nil {
			return nil, fmt.Sprintf(`"proof": %v`, err)
		}
		*f.dst = v
	}
	return &out, ""
}

// ScheduledEvent is exactly what the stack's schedule sends the function.
// The stack writes it into the schedule's target, so the two cannot drift.
const ScheduledEvent = `{"killswitch":"scheduled"}`
