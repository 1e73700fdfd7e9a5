// Package trigger classifies the Lambda event that started killswitch.
//
// Three things can start killswitch, and Parse turns each into a Signal:
//
//   - an AWS Budgets notification delivered through SNS (plain-text body);
//   - a CloudWatch alarm notification delivered through SNS (JSON body);
//   - a manual trip, invoked directly on the Lambda or published to the trip
//     topic (aws sns publish --message '...').
//
// A manual trip has exactly this shape, where "reason" (string) and "dryRun"
// (boolean) are optional and null counts as absent:
//
//	{"killswitch":"trip","reason":"why","dryRun":true}
//
// Two more invokes never trip: {"killswitch":"disarm","reason":"why",
// "proof":{"trip":"...","issuedAt":"...","mac":"..."}}, by a direct invoke
// only, clears the latch once the handler has checked its proof; {"killswitch":"scheduled"}, the
// stack's schedule, re-sweeps while the latch is tripped.
//
// Everything else is SourceUnrecognised and never trips; its Problem says why.
//
// The parser is strict where a misreading would do damage and lenient where
// AWS formatting varies:
//
//   - A manual trip needs the exact lowercase value "trip" ("TRIP" is
//     rejected), and only the three keys above, matched case-sensitively. A
//     typo such as "dry_run" or "DryRun" makes the event unrecognised instead
//     of being ignored, because ignoring it would turn an intended dry run
//     into a real trip. Wrongly typed "reason"/"dryRun" are rejected too.
//   - Budget bodies are recognised by their lines (Budget Name: and Alert
//     Type:), not by the subject. CRLF or lone CR line ends, extra
//     whitespace, any line order and any key case are accepted.
//   - Values that decide whether to trip (Alert Type ACTUAL/FORECASTED, alarm
//     states ALARM/OK/INSUFFICIENT_DATA) must match what AWS sends exactly
//     (budget lines are whitespace-trimmed first).
//   - SNS envelopes are decoded field by field rather than through
//     events.SNSEvent, so an odd Timestamp or MessageAttributes value cannot
//     make a genuine alert unreadable. Records are judged one at a time.
//
// Trust: Parse authenticates nothing; the stack and Options do. The trip
// topic is the only event source subscribed to the Lambda, and its policy
// lets only the stack's own budget and alarm publish (by exact
// aws:SourceArn) and explicitly denies every other principal but the
// break-glass ones. Options.BudgetName and Options.AlarmName add a second
// check here: an alert from any other budget or alarm is unrecognised. A
// manual trip inside an SNS record is therefore from a break-glass
// principal; a direct invoke needs lambda:InvokeFunction on the function.
package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Source names what sent the event.
type Source string

const (
	SourceBudget       Source = "budget"       // AWS Budgets notification (plain-text body)
	SourceAlarm        Source = "alarm"        // CloudWatch alarm notification (JSON body)
	SourceManual       Source = "manual"       // direct invoke or SNS publish of {"killswitch":"trip",...}
	SourceDisarm       Source = "disarm"       // direct invoke of {"killswitch":"disarm",...}: clears the latch
	SourceSchedule     Source = "scheduled"    // the stack's schedule, {"killswitch":"scheduled"}: re-sweeps while tripped
	SourceUnrecognised Source = "unrecognised" // anything else; never trips
)

// Options tune which recognised signals trip.
type Options struct {
	// TripOnForecast lets FORECASTED budget alerts trip. Off by default: a
	// forecast early in the month can be far off, and acting on it stops
	// workloads before any money has been spent.
	TripOnForecast bool
	// BudgetName and AlarmName are the kill switch's own budget and billing
	// alarm. When set, an alert from any other budget or alarm is
	// unrecognised: anyone in the account who can create a budget or an
	// alarm must not be able to pull the switch. Empty accepts any name.
	BudgetName string
	AlarmName  string
}

// BudgetAlert holds the fields of an AWS Budgets notification, as written in
// the message (amounts keep their currency sign and thousands separators).
type BudgetAlert struct {
	BudgetName, BudgetType, BudgetedAmount, AlertType, AlertThreshold, ActualAmount, ForecastedAmount, Account string
}

// AlarmChange holds the fields of a CloudWatch alarm notification.
type AlarmChange struct {
	AlarmName, AlarmArn, NewState, OldState, Reason, MetricName, Namespace, Account string
	Threshold                                                                       float64
}

// ManualInvoke holds the optional fields of a manual trip or a disarm.
type ManualInvoke struct {
	Reason string
	DryRun bool
	// Proof is a disarm's proof as it arrived, unchecked; nil when absent.
	Proof *DisarmProof
}

// DisarmProof is a disarm's "proof" field, as strings: the trip it was
// made for (RFC 3339), when it was made (RFC 3339) and the KMS MAC
// (base64). internal/disarmproof parses and checks it.
type DisarmProof struct {
	Trip, IssuedAt, MAC string
}

// Signal is one classified record. Budget is set for SourceBudget, Alarm for
// SourceAlarm, Manual for SourceManual and SourceDisarm (its reason); all
// are nil for SourceUnrecognised and SourceSchedule.
type Signal struct {
	Source    Source
	Trips     bool   // true only for budget ACTUAL (FORECASTED with TripOnForecast), alarm NewState ALARM, manual trip
	Summary   string // one short human line, at most maxSummaryRunes runes
	Subject   string // SNS subject as received (raw), may be empty
	MessageID string // SNS MessageId if any
	Problem   string // why the signal is unrecognised; empty otherwise
	Budget    *BudgetAlert
	Alarm     *AlarmChange
	Manual    *ManualInvoke
}

const (
	maxSummaryRunes = 200
	maxProblemRunes = 300
	// maxNameRunes bounds names and values quoted inside a summary, so that
	// the decision at the end of the line ("no action") survives the cap.
	maxNameRunes = 64
)

// Parse classifies a raw Lambda event. It never panics and always returns at
// least one Signal: one per SNS record, or one for a manual invoke or
// anything else.
func Parse(raw []byte, opts Options) []Signal {
	signals := parseEvent(raw, opts)
	for i := range signals {
		signals[i].Summary = oneLine(signals[i].Summary, maxSummaryRunes)
		signals[i].Problem = oneLine(signals[i].Problem, maxProblemRunes)
	}
	return signals
}

// AnyTrips reports whether any signal trips. An unrecognised signal never
// counts, even if a caller built one with Trips set.
func AnyTrips(signals []Signal) bool {
	for _, s := range signals {
		if s.Trips && s.Source != SourceUnrecognised {
			return true
		}
	}
	return false
}

func parseEvent(raw []byte, opts Options) []Signal {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return []Signal{unrecognised("event is empty, not JSON")}
	}
	if !json.Valid(trimmed) {
		return []Signal{unrecognised("event is not JSON")}
	}
	var top jsonObject
	if err := json.Unmarshal(trimmed, &top); err != nil || top == nil {
		return []Signal{unrecognised(fmt.Sprintf("event is JSON but not an object (it is %s)", jsonKind(trimmed)))}
	}
	if records, ok := top["Records"]; ok {
		return parseSNSRecords(records, opts)
	}
	if _, ok := top["killswitch"]; ok {
		return []Signal{parseManual(top, false)}
	}
	return []Signal{unrecognised(fmt.Sprintf(
		"JSON object is neither an SNS event (no Records) nor a manual invoke (no killswitch); keys: %s", keyList(top)))}
}

func parseSNSRecords(recordsJSON json.RawMessage, opts Options) []Signal {
	var records []json.RawMessage
	if err := json.Unmarshal(recordsJSON, &records); err != nil {
		return []Signal{unrecognised("Records is not a JSON array")}
	}
	if len(records) == 0 {
		return []Signal{unrecognised("empty Records")}
	}
	signals := make([]Signal, 0, len(records))
	for i, record := range records {
		signals = append(signals, parseSNSRecord(i, record, opts))
	}
	return signals
}

func parseSNSRecord(index int, recordJSON json.RawMessage, opts Options) Signal {
	var record jsonObject
	if err := json.Unmarshal(recordJSON, &record); err != nil || record == nil {
		return unrecognised(fmt.Sprintf("record %d is not a JSON object", index))
	}
	eventSource, _, _ := record.str("EventSource")
	if eventSource == "" {
		// SQS, S3 and DynamoDB records spell it eventSource; name them in the problem.
		eventSource, _, _ = record.str("eventSource")
	}
	if eventSource != "aws:sns" {
		return unrecognised(fmt.Sprintf("record %d has EventSource %q, not aws:sns", index, short(eventSource)))
	}
	var sns jsonObject
	if err := json.Unmarshal(record["Sns"], &sns); err != nil || sns == nil {
		return unrecognised(fmt.Sprintf("record %d has no Sns object", index))
	}
	// SNS sends "Subject": null when the publisher set none; str treats that as empty.
	subject, _, _ := sns.str("Subject")
	messageID, _, _ := sns.str("MessageId")

	var signal Signal
	message, _, err := sns.str("Message")
	switch {
	case err != nil:
		signal = unrecognised(fmt.Sprintf("record %d: Sns.Message is not a string", index))
	default:
		signal = parseSNSMessage(message, subject, opts)
	}
	signal.Subject = subject
	signal.MessageID = messageID
	return signal
}

// parseSNSMessage tells the three message kinds apart by their body: JSON
// objects are alarms or manual trips, plain text may be a budget alert.
func parseSNSMessage(message, subject string, opts Options) Signal {
	body := strings.TrimSpace(message)
	if body == "" {
		return unrecognised("SNS message is empty")
	}
	if strings.HasPrefix(body, "{") {
		return parseJSONMessage(body, opts)
	}
	return parseBudget(body, subject, opts)
}

func parseJSONMessage(body string, opts Options) Signal {
	var msg jsonObject
	if err := json.Unmarshal([]byte(body), &msg); err != nil || msg == nil {
		return unrecognised(fmt.Sprintf("SNS message starts like JSON but does not parse: %v", err))
	}
	if _, ok := msg["killswitch"]; ok {
		return parseManual(msg, true)
	}
	_, hasName := msg["AlarmName"]
	_, hasState := msg["NewStateValue"]
	if hasName || hasState {
		return parseAlarm(msg, opts)
	}
	return unrecognised(fmt.Sprintf(
		"SNS message is JSON but neither a CloudWatch alarm (no AlarmName/NewStateValue) nor a manual invoke (no killswitch); keys: %s",
		keyList(msg)))
}

func unrecognised(problem string) Signal {
	return Signal{
		Source:  SourceUnrecognised,
		Summary: "unrecognised trigger: " + problem,
		Problem: problem,
	}
}

// jsonObject keeps values raw so each field can be checked on its own: one
// oddly typed field does not hide the rest, and keys match exactly (unlike
// struct decoding, which folds case).
type jsonObject map[string]json.RawMessage

// str returns the string at key. Absent and null both give present=false;
// a value of another type gives an error.
func (o jsonObject) str(key string) (value string, present bool, err error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", true, fmt.Errorf("%q is not a string", key)
	}
	return value, true, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func jsonKind(doc []byte) string {
	switch doc[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// keyList names an object's keys for a problem message, sorted and bounded.
func keyList(o jsonObject) string {
	if len(o) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	const maxKeys = 5
	quoted := make([]string, 0, maxKeys+1)
	for i, k := range keys {
		if i == maxKeys {
			quoted = append(quoted, fmt.Sprintf("and %d more", len(keys)-maxKeys))
			break
		}
		quoted = append(quoted, fmt.Sprintf("%q", short(k)))
	}
	return strings.Join(quoted, ", ")
}

// short bounds a value quoted inside a summary or problem.
func short(s string) string {
	return truncateRunes(s, maxNameRunes)
}

// oneLine makes s safe for a single log line: control characters become
// spaces and the result is at most maxRunes runes.
func oneLine(s string, maxRunes int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncateRunes(s, maxRunes)
}

// withSuffix shortens base so that the suffix, which carries the decision,
// survives the summary cap.
func withSuffix(base, suffix string) string {
	return truncateRunes(base, maxSummaryRunes-utf8.RuneCountInString(suffix)) + suffix
}

func truncateRunes(s string, maxRunes int) string {
	if len(s) <= maxRunes { // fast path: byte length bounds rune count
		return s
	}
	runes := []rune(s)
	if len(runes) <= maxRunes {
		return s
	}
	return string(runes[:maxRunes-1]) + "…"
}
