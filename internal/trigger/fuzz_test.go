package trigger

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds Parse two inputs per run: raw, a whole Lambda event, and
// message/subject wrapped in a well-formed SNS envelope, so that the budget
// text parser and the alarm/manual JSON parsers get mutated bodies rather
// than mostly broken envelopes.
func FuzzParse(f *testing.F) {
	budget := sampleMessage(f, budgetSampleFile)
	alarm := sampleMessage(f, alarmSampleFile)
	for _, file := range []string{budgetSampleFile, alarmSampleFile} {
		f.Add(readTestdata(f, file), budget.Message, budget.Subject, false)
		f.Add(readTestdata(f, file), alarm.Message, alarm.Subject, true)
	}
	forecast := strings.ReplaceAll(budget.Message, "Alert Type: ACTUAL", "Alert Type: FORECASTED")
	seeds := []struct {
		raw, message, subject string
	}{
		{`{"killswitch":"trip","reason":"testing","dryRun":true}`, forecast, budget.Subject},
		{`{"killswitch":"disarm","proof":{"trip":"2026-11-29T10:00:00Z","issuedAt":"2026-11-29T10:05:00Z","mac":"bWFj"}}`, `{"killswitch":"disarm","proof":{}}`, ""},
		{`{"killswitch":"TRIP"}`, strings.ReplaceAll(budget.Message, "\n", "\r\n"), ""},
		{`{"Records":[]}`, `{"killswitch":"trip"}`, ""},
		{`{}`, strings.Replace(alarm.Message, `"ALARM"`, `"OK"`, 1), alarm.Subject},
		{`{"Records":[{"EventSource":"aws:sqs"}]}`, "Budget Name: b\nAlert Type: ACTUAL\nAWS Account 1", "hi"},
		{`hello`, "hello", "AWS Budgets: x"},
		{`{"Records":[{"EventSource":"aws:sns","Sns":{"Message":"{\"AlarmName\":\"a\",\"NewStateValue\":\"ALARM\"}"}}]}`, "{", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.raw), s.message, s.subject, false)
	}

	f.Fuzz(func(t *testing.T, raw []byte, message, subject string, tripOnForecast bool) {
		opts := Options{TripOnForecast: tripOnForecast}

		signals := Parse(raw, opts)
		checkInvariants(t, signals, opts)
		if n, ok := snsRecordCount(raw); ok && len(signals) != n {
			t.Errorf("%d SNS records gave %d signals", n, len(signals))
		}

		wrapped := Parse(snsEvent(t, snsMessage{Subject: subject, Message: message, MessageID: "fuzz"}), opts)
		checkInvariants(t, wrapped, opts)
		if len(wrapped) != 1 {
			t.Fatalf("one SNS record gave %d signals", len(wrapped))
		}
		// json.Marshal rewrites invalid UTF-8, so only valid subjects must round-trip.
		if utf8.ValidString(subject) && wrapped[0].Subject != subject {
			t.Errorf("Subject not kept raw: got %q, want %q", wrapped[0].Subject, subject)
		}
		if wrapped[0].MessageID != "fuzz" {
			t.Errorf("MessageID = %q, want fuzz", wrapped[0].MessageID)
		}

		// With the owner's names set, nothing trips for another name.
		owned := Options{TripOnForecast: tripOnForecast, BudgetName: ownBudget, AlarmName: ownAlarm}
		for _, signals := range [][]Signal{Parse(raw, owned), Parse(snsEvent(t, snsMessage{Subject: subject, Message: message, MessageID: "fuzz"}), owned)} {
			checkInvariants(t, signals, owned)
			for _, s := range signals {
				if s.Trips && s.Budget != nil && s.Budget.BudgetName != ownBudget {
					t.Errorf("budget %q tripped, want only %q", s.Budget.BudgetName, ownBudget)
				}
				if s.Trips && s.Alarm != nil && s.Alarm.AlarmName != ownAlarm {
					t.Errorf("alarm %q tripped, want only %q", s.Alarm.AlarmName, ownAlarm)
				}
			}
		}
	})
}

// The stack's own names, as the fuzz target's owner options give them.
const (
	ownBudget = "killswitch-monthly"
	ownAlarm  = "killswitch-estimated-charges"
)

func checkInvariants(t *testing.T, signals []Signal, opts Options) {
	t.Helper()
	if len(signals) == 0 {
		t.Fatal("Parse returned no signals")
	}
	for _, s := range signals {
		checkShape(t, s)
		if s.Trips && !isRealTripForm(s, opts) {
			t.Errorf("signal trips without being a real trip form: %+v (budget %+v, alarm %+v)", s, s.Budget, s.Alarm)
		}
	}
}

// isRealTripForm checks structurally, from the parsed details rather than
// the parser's own verdict, that a tripping signal is one of the three forms
// allowed to trip.
func isRealTripForm(s Signal, opts Options) bool {
	switch s.Source {
	case SourceBudget:
		return s.Budget != nil && s.Budget.BudgetName != "" &&
			(s.Budget.AlertType == alertTypeActual || (s.Budget.AlertType == alertTypeForecasted && opts.TripOnForecast))
	case SourceAlarm:
		return s.Alarm != nil && s.Alarm.AlarmName != "" && s.Alarm.NewState == alarmStateAlarm
	case SourceManual:
		return s.Manual != nil
	default:
		return false
	}
}

// snsRecordCount reports how many records raw holds when it is an object
// with a non-empty Records array, the case where Parse must return one
// signal per record.
func snsRecordCount(raw []byte) (int, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return 0, false
	}
	var records []json.RawMessage
	if json.Unmarshal(top["Records"], &records) != nil || len(records) == 0 {
		return 0, false
	}
	return len(records), true
}
