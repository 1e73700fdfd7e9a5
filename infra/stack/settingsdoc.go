package stack

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/killswitch/killswitch/internal/settings"
)

// deployDocs explains the deploy-only keys (those that shape the stack, not
// the function). The function's own keys carry their docs in
// settings.All.
var deployDocs = map[string]struct{ def, doc string }{
	"budgetUsd":                        {"", "Monthly cost budget in USD (> 0). Gross spend: credits and refunds are not counted, so credits cannot hide an attack."},
	"tripThresholdPercent":             {"", "ACTUAL spend, in % of the budget, that trips the kill switch (> 0)."},
	"warningThresholdsPercent":         {"", "ACTUAL-spend warnings, by email and the notify topic; each > 0 and below the trip threshold."},
	"forecastWarningThresholdsPercent": {"", "FORECASTED-spend warnings; each > 0. The trips, warnings and forecasts together are at most 10 (an AWS Budgets limit)."},
	"notificationEmails":               {"", "Up to 10 addresses for warnings and reports; each must confirm its subscription."},
	"billingAlarm":                     {"", "Also trip on the CloudWatch `EstimatedCharges` alarm (us-east-1 only; needs \"Receive Billing Alerts\")."},
	"billingAlarmThresholdUsd":         {"budget × trip % (`10`)", "Estimated charges in USD at which the alarm trips (> 0)."},
	"slackWorkspaceId":                 {"unset", "Slack workspace ID for AWS Chatbot; set together with `slackChannelId`."},
	"slackChannelId":                   {"unset", "Slack channel ID; set both or neither."},
	"reservedConcurrency":              {"`0` (none)", "Concurrent executions reserved for the function. Off by default: new accounts often have a quota of 10, and Lambda refuses a reservation that leaves fewer than 10 unreserved, so the deploy would fail; synth warns when it is set."},
	"dashboard":                        {"", "Add the `killswitch` CloudWatch dashboard: burn and vCPUs against the caps, instances per region, trips and relaunches caught, the last sweep, the self-test, the function's errors (about $3/month beyond CloudWatch's 3 free dashboards). The health alarms are made either way."},
}

// SettingsTable is the README's table of every key of the killswitch block,
// with its default as cdk.json writes it: the deploy keys, then the
// function's own, in the order of their tables. A test holds README.md to
// it; `make readme-settings` writes it there.
func SettingsTable() (string, error) {
	var b strings.Builder
	b.WriteString("| Key | Default | Meaning |\n|---|---|---|\n")
	def := DefaultConfig()
	for _, f := range fields {
		d, ok := deployDocs[f.key]
		if !ok {
			return "", fmt.Errorf("deploy key %s has no entry in deployDocs", f.key)
		}
		shown := d.def
		if shown == "" {
			raw, err := json.Marshal(f.target(&def))
			if err != nil {
				return "", err
			}
			shown = "`" + strings.ReplaceAll(string(raw), ",", ", ") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.key, shown, d.doc)
	}
	for _, st := range settings.All {
		if st.Key == "" {
			continue
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", st.Key, cdkJSONDefault(st), st.Doc)
	}
	return b.String(), nil
}

// cdkJSONDefault writes a setting's default as the cdk.json block holds it.
func cdkJSONDefault(st settings.Setting) string {
	v := st.Default()
	switch st.Type {
	case settings.Bool, settings.Int:
		return v
	case settings.StringList:
		if v == "" {
			return "[]"
		}
		raw, _ := json.Marshal(strings.Split(v, ","))
		return string(raw)
	default:
		raw, _ := json.Marshal(v)
		return string(raw)
	}
}

// Markers around the settings table in README.md.
const (
	SettingsBegin = "<!-- settings:begin (make readme-settings) -->"
	SettingsEnd   = "<!-- settings:end -->"
)

// BetweenMarkers returns the text between the settings markers.
func BetweenMarkers(doc string) (string, bool) {
	i, j := strings.Index(doc, SettingsBegin), strings.Index(doc, SettingsEnd)
	if i < 0 || j < i {
		return "", false
	}
	return strings.TrimPrefix(doc[i+len(SettingsBegin):j], "\n"), true
}

// ReplaceBetweenMarkers puts table between the settings markers.
func ReplaceBetweenMarkers(doc, table string) (string, bool) {
	i, j := strings.Index(doc, SettingsBegin), strings.Index(doc, SettingsEnd)
	if i < 0 || j < i {
		return "", false
	}
	return doc[:i+len(SettingsBegin)] + "\n" + table + doc[j:], true
}
