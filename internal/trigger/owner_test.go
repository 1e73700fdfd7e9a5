package trigger

import (
	"strings"
	"testing"
)

// TestOnlyTheOwnersBudgetAndAlarmTrip: with the stack's own names given, an
// alert from any other budget or alarm is unrecognised (no action), whatever
// its type or state, while the own budget and alarm still trip. Empty names
// keep the old behaviour for callers that do not know them.
func TestOnlyTheOwnersBudgetAndAlarmTrip(t *testing.T) {
	t.Parallel()
	budget := sampleMessage(t, budgetSampleFile)
	alarm := sampleMessage(t, alarmSampleFile)
	own := Options{BudgetName: "killswitch-monthly", AlarmName: "killswitch-estimated-charges"}
	foreignBudget := replaceAll(t, budget.Message, "Budget Name: killswitch-monthly", "Budget Name: attacker-budget")
	lookalikeBudget := replaceAll(t, budget.Message, "Budget Name: killswitch-monthly", "Budget Name: killswitch-monthly ")
	foreignAlarm := alarmVariant(t, alarm.Message, map[string]any{"AlarmName": "attacker-alarm"})
	prefixAlarm := alarmVariant(t, alarm.Message, map[string]any{"AlarmName": "killswitch-estimated-charges-2"})
	foreignForecast := replaceAll(t, foreignBudget, "Alert Type: ACTUAL", "Alert Type: FORECASTED")
	with := func(m snsMessage, body string) snsMessage { m.Message = body; return m }

	tests := []struct {
		name    string
		message snsMessage
		opts    Options
		source  Source
		trips   bool
		problem string
	}{
		{"own budget ACTUAL trips", budget, own, SourceBudget, true, ""},
		{"own alarm ALARM trips", alarm, own, SourceAlarm, true, ""},
		{"another budget's ACTUAL is unrecognised", with(budget, foreignBudget), own, SourceUnrecognised, false, `budget "attacker-budget", which is not this kill switch's budget`},
		// Budget lines are trimmed, so a trailing space is the same name.
		{"own budget name with a trailing space still trips", with(budget, lookalikeBudget), own, SourceBudget, true, ""},
		{"another budget's FORECASTED with tripOnForecast is unrecognised", with(budget, foreignForecast), Options{TripOnForecast: true, BudgetName: own.BudgetName}, SourceUnrecognised, false, "not this kill switch's budget"},
		{"another alarm's ALARM is unrecognised", with(alarm, foreignAlarm), own, SourceUnrecognised, false, `CloudWatch alarm "attacker-alarm" is not this kill switch's alarm`},
		{"an alarm whose name only starts with the own name is unrecognised", with(alarm, prefixAlarm), own, SourceUnrecognised, false, "is not this kill switch's alarm"},
		{"no names given: another budget trips", with(budget, foreignBudget), Options{}, SourceBudget, true, ""},
		{"no names given: another alarm trips", with(alarm, foreignAlarm), Options{}, SourceAlarm, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Parse(snsEvent(t, tc.message), tc.opts)
			if len(got) != 1 {
				t.Fatalf("got %d signals, want 1", len(got))
			}
			s := got[0]
			if s.Source != tc.source || s.Trips != tc.trips {
				t.Errorf("source %s trips %v, want %s trips %v (problem %q)", s.Source, s.Trips, tc.source, tc.trips, s.Problem)
			}
			if tc.problem != "" && !strings.Contains(s.Problem, tc.problem) {
				t.Errorf("problem %q does not say %q", s.Problem, tc.problem)
			}
		})
	}
}
