package stack_test

import (
	"strings"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
)

type notification struct {
	typ         string
	threshold   float64
	subscribers []any
}

func (b built) budgetNotifications(t *testing.T) []notification {
	t.Helper()
	budgets := b.ofType("AWS::Budgets::Budget")
	if len(budgets) != 1 {
		t.Fatalf("want one budget, got %v", budgets)
	}
	var out []notification
	for _, n := range b.props(budgets[0])["NotificationsWithSubscribers"].([]any) {
		nw := n.(map[string]any)
		spec := nw["Notification"].(map[string]any)
		out = append(out, notification{spec["NotificationType"].(string), spec["Threshold"].(float64), nw["Subscribers"].([]any)})
	}
	return out
}

func TestTripOnForecast(t *testing.T) {
	t.Run("on: a FORECASTED trip at the trip threshold, to the trip topic only", func(t *testing.T) {
		cfg := stack.DefaultConfig()
		cfg.TripOnForecast = true
		b := build(t, cfg, "us-east-1")
		trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
		tripOnly := []any{map[string]any{"SubscriptionType": "SNS", "Address": ref(trip)}}
		var forecastTrips, forecastsAtTrip int
		for _, n := range b.budgetNotifications(t) {
			if n.typ == "FORECASTED" && n.threshold == cfg.TripThresholdPercent {
				forecastsAtTrip++
			}
			if n.typ == "FORECASTED" && reflectEqualJSON(n.subscribers, tripOnly) {
				forecastTrips++
				if n.threshold != cfg.TripThresholdPercent {
					t.Errorf("forecast trip at %v%%, want the trip threshold %v%%", n.threshold, cfg.TripThresholdPercent)
				}
			}
		}
		if forecastTrips != 1 {
			t.Errorf("want one FORECASTED notification whose only subscriber is the trip topic, got %d", forecastTrips)
		}
		// The default forecast warning at 100% is folded into the trip:
		// Budgets refuses two notifications alike.
		if forecastsAtTrip != 1 {
			t.Errorf("want one FORECASTED notification at the trip threshold (the warning folded in), got %d", forecastsAtTrip)
		}
		if n := len(b.budgetNotifications(t)); n != 4 {
			t.Errorf("want 4 notifications (ACTUAL trip, FORECASTED trip, 2 warnings), got %d", n)
		}
	})

	t.Run("off (default): nothing FORECASTED reaches the trip topic", func(t *testing.T) {
		b := build(t, stack.DefaultConfig(), "us-east-1")
		trip := b.one(t, "AWS::SNS::Topic", "TopicName", stack.TripTopicName)
		for _, n := range b.budgetNotifications(t) {
			for _, s := range n.subscribers {
				if reflectEqualJSON(s.(map[string]any)["Address"], ref(trip)) && n.typ != "ACTUAL" {
					t.Errorf("%s notification at %v%% goes to the trip topic", n.typ, n.threshold)
				}
			}
		}
	})
}

// TestNotificationLimitCountsTheForecastTrip: AWS Budgets allows 10
// notifications per budget; the forecast trip counts, and a forecast
// warning folded into it does not.
func TestNotificationLimitCountsTheForecastTrip(t *testing.T) {
	seven := `"warningThresholdsPercent":[10,20,30,40,50,60,70]`
	// 1 trip + 1 forecast trip + 7 warnings + 1 forecast (110; 100 folded) = 10
	cfg, err := stack.ParseConfig(`{`+seven+`,"forecastWarningThresholdsPercent":[100,110],"tripOnForecast":true}`, nil)
	if err != nil {
		t.Fatalf("10 notifications with the folded warning must be accepted: %v", err)
	}
	if n := len(build(t, cfg, "us-east-1").budgetNotifications(t)); n != 10 {
		t.Errorf("want 10 notifications, got %d", n)
	}
	// 1 + 1 + 7 + 2 = 11
	_, err = stack.ParseConfig(`{`+seven+`,"forecastWarningThresholdsPercent":[90,110],"tripOnForecast":true}`, nil)
	want := "killswitch.warningThresholdsPercent: too many budget notifications: 11 (the trip, 7 warning(s), 2 forecast(s) and the forecast trip), AWS Budgets allows at most 10"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("want an error containing %q, got %v", want, err)
	}
	// Without tripOnForecast the same lists are 10.
	if _, err := stack.ParseConfig(`{`+seven+`,"forecastWarningThresholdsPercent":[90,110]}`, nil); err != nil {
		t.Errorf("10 notifications without the forecast trip: %v", err)
	}
}
