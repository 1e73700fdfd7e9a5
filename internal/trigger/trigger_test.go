package trigger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Sample events copied from shared/reference/events, exactly as SNS delivers them.
const (
	budgetSampleFile = "budget-actual.json"
	alarmSampleFile  = "cloudwatch-billing-alarm.json"
	sampleMessageID  = "5d3c0e8a-7b1f-5a2e-9c4d-1e6f8a2b3c4d"
)

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// snsMessage is the part of an SNS record the tests vary.
type snsMessage struct {
	Subject   string
	Message   string
	MessageID string
}

func sampleMessage(tb testing.TB, file string) snsMessage {
	tb.Helper()
	var event struct {
		Records []struct {
			Sns struct{ Subject, Message, MessageId string }
		}
	}
	if err := json.Unmarshal(readTestdata(tb, file), &event); err != nil || len(event.Records) != 1 {
		tb.Fatalf("%s: %v (%d records)", file, err, len(event.Records))
	}
	sns := event.Records[0].Sns
	return snsMessage{Subject: sns.Subject, Message: sns.Message, MessageID: sns.MessageId}
}

// snsEvent wraps messages in the envelope Lambda receives from SNS.
func snsEvent(tb testing.TB, messages ...snsMessage) []byte {
	tb.Helper()
	records := make([]map[string]any, 0, len(messages))
	for _, m := range messages {
		records = append(records, snsRecord("aws:sns", m))
	}
	return mustJSON(tb, map[string]any{"Records": records})
}

func snsRecord(eventSource string, m snsMessage) map[string]any {
	var subject any // SNS sends null, not "", when there is no subject
	if m.Subject != "" {
		subject = m.Subject
	}
	return map[string]any{
		"EventSource":  eventSource,
		"EventVersion": "1.0",
		"Sns": map[string]any{
			"Type":      "Notification",
			"MessageId": m.MessageID,
			"TopicArn":  "arn:aws:sns:us-east-1:111122223333:killswitch-trip",
			"Subject":   subject,
			"Message":   m.Message,
			"Timestamp": "2026-11-02T02:14:07.512Z",
		},
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// alarmVariant edits the sample alarm message; a nil value deletes the key.
func alarmVariant(tb testing.TB, base string, changes map[string]any) string {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(base), &doc); err != nil {
		tb.Fatal(err)
	}
	for k, v := range changes {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	return string(mustJSON(tb, doc))
}

// replaceAll applies old/new pairs and fails if an old string is missing, so
// a variant cannot silently equal the sample.
func replaceAll(tb testing.TB, s string, oldNew ...string) string {
	tb.Helper()
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			tb.Fatalf("variant: %q not found", oldNew[i])
		}
		s = strings.ReplaceAll(s, oldNew[i], oldNew[i+1])
	}
	return s
}

type expect struct {
	source   Source
	trips    bool
	summary  string // exact Summary when set
	contains []string
	budget   *BudgetAlert
	alarm    *AlarmChange
	manual   *ManualInvoke
}

func TestParse(t *testing.T) {
	t.Parallel()
	budget := sampleMessage(t, budgetSampleFile)
	alarm := sampleMessage(t, alarmSampleFile)

	sampleBudget := BudgetAlert{
		BudgetName: "killswitch-monthly", BudgetType: "Cost", BudgetedAmount: "$10.00",
		AlertType: "ACTUAL", AlertThreshold: "> $10.00", ActualAmount: "$4,812.37", Account: "111122223333",
	}
	forecastBody := replaceAll(t, budget.Message,
		"Alert Type: ACTUAL", "Alert Type: FORECASTED",
		"ACTUAL Amount: $4,812.37", "FORECASTED Amount: $12.50")
	forecastBudget := sampleBudget
	forecastBudget.AlertType, forecastBudget.ActualAmount, forecastBudget.ForecastedAmount = "FORECASTED", "", "$12.50"
	usageBody := replaceAll(t, budget.Message, "Budget Type: Cost", "Budget Type: Usage")
	usageBudget := sampleBudget
	usageBudget.BudgetType = "Usage"

	sampleAlarm := AlarmChange{
		AlarmName: "killswitch-estimated-charges", AlarmArn: "arn:aws:cloudwatch:us-east-1:111122223333:alarm:killswitch-estimated-charges",
		NewState: "ALARM", OldState: "OK", MetricName: "EstimatedCharges", Namespace: "AWS/Billing",
		Account: "111122223333", Threshold: 10,
		Reason: "Threshold Crossed: 1 out of the last 1 datapoints [4812.37 (02/11/26 01:58:00)] was greater than or equal to the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition).",
	}
	alarmToOK := sampleAlarm
	alarmToOK.OldState, alarmToOK.NewState, alarmToOK.Reason = "ALARM", "OK", "back to normal"
	okMessage := alarmVariant(t, alarm.Message, map[string]any{"OldStateValue": "ALARM", "NewStateValue": "OK", "NewStateReason": "back to normal"})
	insufficient := sampleAlarm
	insufficient.NewState = "INSUFFICIENT_DATA"
	longName := strings.Repeat("n", 255) // CloudWatch allows 255-character alarm names

	withBudget := func(m snsMessage, body string) snsMessage { m.Message = body; return m }

	tests := []struct {
		name  string
		event []byte
		opts  Options
		want  []expect
	}{
		// AWS Budgets
		{
			name:  "budget ACTUAL sample trips",
			event: readTestdata(t, budgetSampleFile),
			want: []expect{{source: SourceBudget, trips: true, budget: &sampleBudget,
				summary: `AWS Budgets "killswitch-monthly": ACTUAL $4,812.37 over the $10.00 threshold`}},
		},
		{
			name:  "budget FORECASTED does not trip by default",
			event: snsEvent(t, withBudget(budget, forecastBody)),
			want: []expect{{source: SourceBudget, budget: &forecastBudget,
				summary: `AWS Budgets "killswitch-monthly": FORECASTED $12.50 over the $10.00 threshold; forecast only, no action (TripOnForecast off)`}},
		},
		{
			name:  "budget FORECASTED trips with TripOnForecast",
			event: snsEvent(t, withBudget(budget, forecastBody)),
			opts:  Options{TripOnForecast: true},
			want:  []expect{{source: SourceBudget, trips: true, budget: &forecastBudget, contains: []string{"tripping on forecast"}}},
		},
		{
			name:  "budget ACTUAL with TripOnForecast still trips",
			event: readTestdata(t, budgetSampleFile),
			opts:  Options{TripOnForecast: true},
			want:  []expect{{source: SourceBudget, trips: true, budget: &sampleBudget}},
		},
		{
			name:  "budget body with CRLF line ends",
			event: snsEvent(t, withBudget(budget, strings.ReplaceAll(budget.Message, "\n", "\r\n"))),
			want:  []expect{{source: SourceBudget, trips: true, budget: &sampleBudget}},
		},
		{
			name: "budget lines reordered with extra whitespace and key case",
			event: snsEvent(t, snsMessage{Message: "  ACTUAL Amount :\t$4,812.37  \n" +
				"alert  type:   ACTUAL\r\n\r\n" +
				"\tBudget Name: killswitch-monthly \n" +
				"Budgeted Amount: $10.00\nAlert Threshold:   > $10.00\nBudget Type: Cost\n" +
				"   AWS Account   111122223333  \n"}),
			want: []expect{{source: SourceBudget, trips: true, budget: &sampleBudget}},
		},
		{
			name:  "budget recognised by body even without the AWS Budgets subject",
			event: snsEvent(t, snsMessage{Subject: "", Message: budget.Message}),
			want:  []expect{{source: SourceBudget, trips: true, budget: &sampleBudget}},
		},
		{
			name:  "Usage budget ACTUAL trips like a cost budget",
			event: snsEvent(t, withBudget(budget, usageBody)),
			want:  []expect{{source: SourceBudget, trips: true, budget: &usageBudget, contains: []string{"(Usage budget)"}}},
		},
		{
			name:  "Usage budget FORECASTED does not trip",
			event: snsEvent(t, withBudget(budget, replaceAll(t, forecastBody, "Budget Type: Cost", "Budget Type: Usage"))),
			want:  []expect{{source: SourceBudget, contains: []string{"forecast only, no action"}}},
		},
		{
			name:  "budget body missing Alert Type",
			event: snsEvent(t, withBudget(budget, replaceAll(t, budget.Message, "Alert Type: ACTUAL\n", ""))),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"no Alert Type"}}},
		},
		{
			name:  "budget body missing Budget Name",
			event: snsEvent(t, withBudget(budget, replaceAll(t, budget.Message, "Budget Name: killswitch-monthly\n", ""))),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"no Budget Name"}}},
		},
		{
			name:  "budget with empty Budget Name value",
			event: snsEvent(t, withBudget(budget, replaceAll(t, budget.Message, "Budget Name: killswitch-monthly", "Budget Name:   "))),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"no Budget Name"}}},
		},
		{
			name:  "budget with unknown Alert Type",
			event: snsEvent(t, withBudget(budget, replaceAll(t, budget.Message, "Alert Type: ACTUAL", "Alert Type: actual"))),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`unknown Alert Type "actual"`}}},
		},
		{
			name:  "budget with conflicting Alert Type lines",
			event: snsEvent(t, withBudget(budget, budget.Message+"Alert Type: FORECASTED\n")),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"conflicting", "alert type"}}},
		},
		{
			name:  "budget subject with a body that has no budget lines",
			event: snsEvent(t, snsMessage{Subject: budget.Subject, Message: "Your budget is fine."}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"no Budget Name or Alert Type"}}},
		},

		// CloudWatch alarms
		{
			name:  "alarm OK -> ALARM sample trips",
			event: readTestdata(t, alarmSampleFile),
			want: []expect{{source: SourceAlarm, trips: true, alarm: &sampleAlarm,
				summary: `CloudWatch alarm "killswitch-estimated-charges" went OK -> ALARM`}},
		},
		{
			name:  "alarm ALARM -> OK does not trip",
			event: snsEvent(t, snsMessage{Subject: `OK: "killswitch-estimated-charges"`, Message: okMessage}),
			want: []expect{{source: SourceAlarm, alarm: &alarmToOK,
				summary: `CloudWatch alarm "killswitch-estimated-charges" went ALARM -> OK; no action`}},
		},
		{
			name:  "alarm INSUFFICIENT_DATA does not trip",
			event: snsEvent(t, snsMessage{Message: alarmVariant(t, alarm.Message, map[string]any{"NewStateValue": "INSUFFICIENT_DATA"})}),
			want:  []expect{{source: SourceAlarm, alarm: &insufficient, contains: []string{"no action"}}},
		},
		{
			name: "composite alarm without Trigger still trips",
			event: snsEvent(t, snsMessage{Message: alarmVariant(t, alarm.Message, map[string]any{
				"Trigger": nil, "AlarmRule": "ALARM(a) OR ALARM(b)"})}),
			want: []expect{{source: SourceAlarm, trips: true}},
		},
		{
			name:  "alarm with non-numeric Threshold still trips",
			event: snsEvent(t, snsMessage{Message: alarmVariant(t, alarm.Message, map[string]any{"Trigger": map[string]any{"Threshold": "ten"}})}),
			want:  []expect{{source: SourceAlarm, trips: true}},
		},
		{
			name:  "alarm with unknown state",
			event: snsEvent(t, snsMessage{Message: alarmVariant(t, alarm.Message, map[string]any{"NewStateValue": "alarm"})}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`unknown NewStateValue "alarm"`}}},
		},
		{
			name:  "alarm JSON without NewStateValue",
			event: snsEvent(t, snsMessage{Message: alarmVariant(t, alarm.Message, map[string]any{"NewStateValue": nil})}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"no NewStateValue"}}},
		},
		{
			name:  "alarm JSON without AlarmName",
			event: snsEvent(t, snsMessage{Message: alarmVariant(t, alarm.Message, map[string]any{"AlarmName": nil})}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"no AlarmName"}}},
		},
		{
			name:  "alarm with non-string NewStateValue",
			event: snsEvent(t, snsMessage{Message: alarmVariant(t, alarm.Message, map[string]any{"NewStateValue": 1})}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"no NewStateValue string"}}},
		},
		{
			name:  "malformed alarm JSON",
			event: snsEvent(t, snsMessage{Subject: alarm.Subject, Message: alarm.Message[:len(alarm.Message)/2]}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"does not parse"}}},
		},
		{
			name:  "other JSON message",
			event: snsEvent(t, snsMessage{Message: `{"version":"0","source":"aws.ec2"}`}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"neither a CloudWatch alarm", `"source"`}}},
		},
		{
			name:  "long alarm name keeps the decision in the capped summary",
			event: snsEvent(t, snsMessage{Subject: "OK: " + longName, Message: alarmVariant(t, okMessage, map[string]any{"AlarmName": longName})}),
			want:  []expect{{source: SourceAlarm, contains: []string{"-> OK; no action"}}},
		},

		// Manual invokes
		{
			name:  "manual trip with reason and dryRun",
			event: []byte(`{"killswitch":"trip","reason":"testing","dryRun":true}`),
			want: []expect{{source: SourceManual, trips: true, manual: &ManualInvoke{Reason: "testing", DryRun: true},
				summary: "manual invoke (dry run): testing"}},
		},
		{
			name:  "manual trip bare",
			event: []byte(` {"killswitch":"trip"} `),
			want:  []expect{{source: SourceManual, trips: true, manual: &ManualInvoke{}, summary: "manual invoke: no reason given"}},
		},
		{
			name:  "manual trip with dryRun false",
			event: []byte(`{"killswitch":"trip","reason":"testing","dryRun":false}`),
			want:  []expect{{source: SourceManual, trips: true, manual: &ManualInvoke{Reason: "testing"}, summary: "manual invoke: testing"}},
		},
		{
			name:  "manual trip with null reason and dryRun",
			event: []byte(`{"killswitch":"trip","reason":null,"dryRun":null}`),
			want:  []expect{{source: SourceManual, trips: true, manual: &ManualInvoke{}}},
		},
		{
			name:  "manual reason with newlines stays one line",
			event: []byte(`{"killswitch":"trip","reason":"line one\nline two"}`),
			want:  []expect{{source: SourceManual, trips: true, manual: &ManualInvoke{Reason: "line one\nline two"}, summary: "manual invoke: line one line two"}},
		},
		{
			name:  "manual trip published to the trip topic",
			event: snsEvent(t, snsMessage{MessageID: "m-1", Message: `{"killswitch":"trip","reason":"owner","dryRun":true}`}),
			want:  []expect{{source: SourceManual, trips: true, manual: &ManualInvoke{Reason: "owner", DryRun: true}, summary: "manual invoke via SNS (dry run): owner"}},
		},
		{
			name:  "manual TRIP in upper case is rejected",
			event: []byte(`{"killswitch":"TRIP"}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`"TRIP"`, "lowercase"}}},
		},
		{
			name:  "disarm by direct invoke",
			event: []byte(`{"killswitch":"disarm","reason":"false alarm"}`),
			want:  []expect{{source: SourceDisarm, manual: &ManualInvoke{Reason: "false alarm"}, summary: "disarm by direct invoke: false alarm"}},
		},
		{
			name:  "disarm through the trip topic is refused",
			event: snsEvent(t, snsMessage{MessageID: "m-2", Message: `{"killswitch":"disarm"}`}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"directly"}}},
		},
		{
			name:  "disarm with its proof",
			event: []byte(`{"killswitch":"disarm","reason":"clean","proof":{"trip":"2026-11-29T10:00:00.5Z","issuedAt":"2026-11-29T12:00:00Z","mac":"bWFj"}}`),
			want: []expect{{source: SourceDisarm, summary: "disarm by direct invoke: clean", manual: &ManualInvoke{Reason: "clean",
				Proof: &DisarmProof{Trip: "2026-11-29T10:00:00.5Z", IssuedAt: "2026-11-29T12:00:00Z", MAC: "bWFj"}}}},
		},
		{
			name:  "a null proof is no proof",
			event: []byte(`{"killswitch":"disarm","proof":null}`),
			want:  []expect{{source: SourceDisarm, manual: &ManualInvoke{}, summary: "disarm by direct invoke: no reason given"}},
		},
		{
			name:  "a proof with an unknown field is rejected",
			event: []byte(`{"killswitch":"disarm","proof":{"trip":"t","issuedAt":"i","mac":"m","Mac":"x"}}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`"Mac"`, "proof"}}},
		},
		{
			name:  "a proof that is not an object is rejected",
			event: []byte(`{"killswitch":"disarm","proof":"mac"}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"proof", "object"}}},
		},
		{
			name:  "a proof with a number for mac is rejected",
			event: []byte(`{"killswitch":"disarm","proof":{"trip":"t","issuedAt":"i","mac":7}}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`"mac"`}}},
		},
		{
			name:  "a trip cannot carry a proof",
			event: []byte(`{"killswitch":"trip","proof":{}}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"proof", "disarm"}}},
		},
		{
			name:  "the schedule cannot carry a proof",
			event: []byte(`{"killswitch":"scheduled","proof":{}}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"proof"}}},
		},
		{
			name:  "a disarm with a proof through the trip topic is still refused",
			event: snsEvent(t, snsMessage{MessageID: "m-3", Message: `{"killswitch":"disarm","proof":{"trip":"t","issuedAt":"i","mac":"m"}}`}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"directly"}}},
		},
		{
			name:  "disarm cannot carry dryRun",
			event: []byte(`{"killswitch":"disarm","dryRun":true}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"dryRun"}}},
		},
		{
			name:  "the schedule's event",
			event: []byte(`{"killswitch":"scheduled"}`),
			want:  []expect{{source: SourceSchedule, summary: "scheduled run"}},
		},
		{
			name:  "a scheduled event with a reason is not the schedule's",
			event: []byte(`{"killswitch":"scheduled","reason":"x"}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"reason"}}},
		},
		{
			name:  "manual with another verb",
			event: []byte(`{"killswitch":"reset"}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`"reset"`}}},
		},
		{
			name:  "manual killswitch not a string",
			event: []byte(`{"killswitch":true}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`must be the string "trip"`}}},
		},
		{
			name:  "manual dryRun as a string is rejected, not read as false",
			event: []byte(`{"killswitch":"trip","dryRun":"true"}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`"dryRun" must be true or false`}}},
		},
		{
			name:  "manual reason not a string",
			event: []byte(`{"killswitch":"trip","reason":42}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`"reason" must be a string`}}},
		},
		{
			name:  "manual misspelt dry_run is rejected, not ignored",
			event: []byte(`{"killswitch":"trip","dry_run":true}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`unknown field "dry_run"`}}},
		},
		{
			name:  "manual key case matters",
			event: []byte(`{"killswitch":"trip","DryRun":true}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`unknown field "DryRun"`}}},
		},

		// Several records
		{
			name:  "OK then ALARM: one trips",
			event: snsEvent(t, snsMessage{Message: okMessage}, alarm),
			want:  []expect{{source: SourceAlarm, alarm: &alarmToOK}, {source: SourceAlarm, trips: true, alarm: &sampleAlarm}},
		},
		{
			name:  "two OKs: none trips",
			event: snsEvent(t, snsMessage{Message: okMessage}, snsMessage{Message: okMessage}),
			want:  []expect{{source: SourceAlarm}, {source: SourceAlarm}},
		},
		{
			name:  "budget, junk and alarm records are judged separately",
			event: snsEvent(t, budget, snsMessage{Message: "hello"}, alarm),
			want:  []expect{{source: SourceBudget, trips: true}, {source: SourceUnrecognised}, {source: SourceAlarm, trips: true}},
		},

		// Unknown senders and malformed events
		{
			name:  "unknown sender plain text",
			event: snsEvent(t, snsMessage{Subject: "hi", Message: "hello"}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"neither JSON nor an AWS Budgets notification", `"hello"`}}},
		},
		{
			name:  "empty SNS message",
			event: snsEvent(t, snsMessage{Message: " \n"}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"SNS message is empty"}}},
		},
		{
			name:  "not JSON",
			event: []byte("hello"),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"not JSON"}}},
		},
		{
			name:  "empty event",
			event: nil,
			want:  []expect{{source: SourceUnrecognised, contains: []string{"empty, not JSON"}}},
		},
		{
			name:  "JSON array",
			event: []byte(`[{"killswitch":"trip"}]`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"not an object", "array"}}},
		},
		{
			name:  "JSON null",
			event: []byte(`null`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"not an object"}}},
		},
		{
			name:  "empty object",
			event: []byte(`{}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"neither an SNS event", "keys: none"}}},
		},
		{
			name:  "empty Records",
			event: []byte(`{"Records":[]}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"empty Records"}}},
		},
		{
			name:  "null Records",
			event: []byte(`{"Records":null}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"empty Records"}}},
		},
		{
			name:  "Records not an array",
			event: []byte(`{"Records":{"Sns":{}}}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"not a JSON array"}}},
		},
		{
			name:  "record from SQS",
			event: mustJSON(t, map[string]any{"Records": []any{map[string]any{"eventSource": "aws:sqs", "body": `{"killswitch":"trip"}`}}}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{`"aws:sqs", not aws:sns`}}},
		},
		{
			name:  "EventSource not aws:sns beside a real alarm",
			event: mustJSON(t, map[string]any{"Records": []any{snsRecord("aws:s3", alarm), snsRecord("aws:sns", alarm)}}),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"record 0", `"aws:s3"`}}, {source: SourceAlarm, trips: true}},
		},
		{
			name:  "record without Sns",
			event: []byte(`{"Records":[{"EventSource":"aws:sns"}]}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"no Sns object"}}},
		},
		{
			name:  "record that is not an object",
			event: []byte(`{"Records":["x"]}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"not a JSON object"}}},
		},
		{
			name:  "Message not a string",
			event: []byte(`{"Records":[{"EventSource":"aws:sns","Sns":{"Message":{"killswitch":"trip"}}}]}`),
			want:  []expect{{source: SourceUnrecognised, contains: []string{"Message is not a string"}}},
		},
		{
			name: "odd Timestamp does not hide a real alert",
			event: []byte(`{"Records":[{"EventSource":"aws:sns","Sns":{"Timestamp":"yesterday","MessageAttributes":[1],` +
				`"Subject":null,"Message":"Budget Name: b\nAlert Type: ACTUAL"}}]}`),
			want: []expect{{source: SourceBudget, trips: true}},
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Parse(tc.event, tc.opts)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d signals, want %d: %+v", len(got), len(tc.want), got)
			}
			wantAny := false
			for i, want := range tc.want {
				checkSignal(t, got[i], want)
				wantAny = wantAny || want.trips
			}
			if AnyTrips(got) != wantAny {
				t.Errorf("AnyTrips = %v, want %v", !wantAny, wantAny)
			}
		})
	}
}

func checkSignal(t *testing.T, got Signal, want expect) {
	t.Helper()
	if got.Source != want.source || got.Trips != want.trips {
		t.Errorf("got Source %q Trips %v, want %q %v (summary %q, problem %q)",
			got.Source, got.Trips, want.source, want.trips, got.Summary, got.Problem)
	}
	if want.summary != "" && got.Summary != want.summary {
		t.Errorf("Summary\n got %q\nwant %q", got.Summary, want.summary)
	}
	for _, s := range want.contains {
		if !strings.Contains(got.Summary+"\n"+got.Problem, s) {
			t.Errorf("neither Summary %q nor Problem %q contains %q", got.Summary, got.Problem, s)
		}
	}
	if want.budget != nil && (got.Budget == nil || *got.Budget != *want.budget) {
		t.Errorf("Budget\n got %+v\nwant %+v", got.Budget, *want.budget)
	}
	if want.alarm != nil && (got.Alarm == nil || *got.Alarm != *want.alarm) {
		t.Errorf("Alarm\n got %+v\nwant %+v", got.Alarm, *want.alarm)
	}
	if want.manual != nil && !reflect.DeepEqual(got.Manual, want.manual) {
		t.Errorf("Manual\n got %+v\nwant %+v", got.Manual, *want.manual)
	}
	checkShape(t, got)
}

// checkShape holds for every signal, whatever the input.
func checkShape(t *testing.T, s Signal) {
	t.Helper()
	if s.Summary == "" || utf8.RuneCountInString(s.Summary) > maxSummaryRunes || strings.ContainsAny(s.Summary, "\r\n") {
		t.Errorf("Summary must be one non-empty line of at most %d runes: %q", maxSummaryRunes, s.Summary)
	}
	if (s.Source == SourceUnrecognised) != (s.Problem != "") {
		t.Errorf("Problem must be set exactly for unrecognised signals: source %q, problem %q", s.Source, s.Problem)
	}
	if (s.Budget != nil) != (s.Source == SourceBudget) ||
		(s.Alarm != nil) != (s.Source == SourceAlarm) ||
		(s.Manual != nil) != (s.Source == SourceManual || s.Source == SourceDisarm) {
		t.Errorf("detail pointers do not match Source %q: %+v", s.Source, s)
	}
}

func TestParseKeepsSNSMetadata(t *testing.T) {
	t.Parallel()
	long := "AWS Budgets: " + strings.Repeat("very-long-budget-name-", 20) + " has exceeded your alert threshold"
	for _, file := range []string{budgetSampleFile, alarmSampleFile} {
		m := sampleMessage(t, file)
		m.Subject = long
		got := Parse(snsEvent(t, m), Options{})
		if got[0].Subject != long || got[0].MessageID != sampleMessageID {
			t.Errorf("%s: Subject/MessageID not kept raw: %q %q", file, got[0].Subject, got[0].MessageID)
		}
	}
	got := Parse(readTestdata(t, alarmSampleFile), Options{})
	if want := `ALARM: "killswitch-estimated-charges" in US East (N. Virginia)`; got[0].Subject != want {
		t.Errorf("Subject = %q, want %q", got[0].Subject, want)
	}
}

func TestAnyTrips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		signals []Signal
		want    bool
	}{
		{"none", nil, false},
		{"one tripping", []Signal{{Source: SourceAlarm}, {Source: SourceBudget, Trips: true}}, true},
		{"none tripping", []Signal{{Source: SourceAlarm}, {Source: SourceBudget}}, false},
		{"unrecognised never counts", []Signal{{Source: SourceUnrecognised, Trips: true}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := AnyTrips(tc.signals); got != tc.want {
				t.Errorf("AnyTrips = %v, want %v", got, tc.want)
			}
		})
	}
}
