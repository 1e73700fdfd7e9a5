package trigger

import (
	"fmt"
	"strings"
)

const (
	alertTypeActual     = "ACTUAL"
	alertTypeForecasted = "FORECASTED"
)

// Budget body keys, normalised by normaliseKey.
const (
	keyBudgetName       = "budget name"
	keyBudgetType       = "budget type"
	keyBudgetedAmount   = "budgeted amount"
	keyAlertType        = "alert type"
	keyAlertThreshold   = "alert threshold"
	keyActualAmount     = "actual amount"
	keyForecastedAmount = "forecasted amount"
)

var budgetKeys = map[string]bool{
	keyBudgetName: true, keyBudgetType: true, keyBudgetedAmount: true, keyAlertType: true,
	keyAlertThreshold: true, keyActualAmount: true, keyForecastedAmount: true,
}

// budgetBody is what scanBudgetBody found in a plain-text message.
type budgetBody struct {
	values    map[string]string // first value seen per budget key
	conflicts map[string]bool   // keys seen again with a different value
	account   string
}

// scanBudgetBody collects "Key: value" lines in any order, with any line
// ending, spacing and key case. The prose around them is ignored.
func scanBudgetBody(body string) budgetBody {
	found := budgetBody{values: map[string]string{}, conflicts: map[string]bool{}}
	lines := strings.FieldsFunc(body, func(r rune) bool { return r == '\n' || r == '\r' })
	for _, line := range lines {
		if account, ok := accountFromLine(line); ok {
			if found.account == "" {
				found.account = account
			}
			continue
		}
		key, value, hasColon := strings.Cut(line, ":")
		if !hasColon {
			continue
		}
		key = normaliseKey(key)
		if !budgetKeys[key] {
			continue
		}
		value = strings.TrimSpace(value)
		if previous, seen := found.values[key]; seen {
			if previous != value {
				found.conflicts[key] = true
			}
			continue
		}
		found.values[key] = value
	}
	return found
}

// accountFromLine reads the "AWS Account 111122223333" line (no colon in
// what AWS sends; one is tolerated). It insists on digits so prose that
// happens to start with "AWS Account" is not taken for an ID.
func accountFromLine(line string) (string, bool) {
	fields := strings.Fields(strings.ReplaceAll(line, ":", " "))
	if len(fields) != 3 || fields[0] != "AWS" || !strings.EqualFold(fields[1], "Account") {
		return "", false
	}
	for _, r := range fields[2] {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return fields[2], true
}

func normaliseKey(key string) string {
	return strings.ToLower(strings.Join(strings.Fields(key), " "))
}

// parseBudget classifies a plain-text SNS message. It is a budget alert when
// the body has both Budget Name and Alert Type lines; the subject only helps
// explain what went wrong when it is not.
func parseBudget(body, subject string, opts Options) Signal {
	found := scanBudgetBody(body)
	name, hasName := found.values[keyBudgetName]
	alertType, hasAlertType := found.values[keyAlertType]

	if !hasName && !hasAlertType {
		if len(found.values) > 0 || strings.HasPrefix(subject, "AWS Budgets:") {
			return unrecognised("looks like an AWS Budgets notification but the body has no Budget Name or Alert Type line")
		}
		return unrecognised(fmt.Sprintf("SNS message is neither JSON nor an AWS Budgets notification (subject %q, body starts %q)",
			short(subject), short(body)))
	}
	for _, key := range []string{keyBudgetName, keyAlertType} {
		if found.conflicts[key] {
			return unrecognised(fmt.Sprintf("budget notification has conflicting %q lines", key))
		}
	}
	if name == "" {
		return unrecognised("budget notification has no Budget Name")
	}
	if alertType == "" {
		return unrecognised(fmt.Sprintf("budget %q notification has no Alert Type", short(name)))
	}
	if opts.BudgetName != "" && name != opts.BudgetName {
		return unrecognised(fmt.Sprintf("AWS Budgets alert for budget %q, which is not this kill switch's budget (%q); another budget cannot trip it",
			short(name), short(opts.BudgetName)))
	}

	alert := &BudgetAlert{
		BudgetName:       name,
		BudgetType:       found.values[keyBudgetType],
		BudgetedAmount:   found.values[keyBudgetedAmount],
		AlertType:        alertType,
		AlertThreshold:   found.values[keyAlertThreshold],
		ActualAmount:     found.values[keyActualAmount],
		ForecastedAmount: found.values[keyForecastedAmount],
		Account:          found.account,
	}
	// The budget type (Cost, Usage, RI/Savings Plans) does not change the
	// decision: only the alert type does.
	switch alertType {
	case alertTypeActual:
		return Signal{Source: SourceBudget, Trips: true, Summary: budgetSummary(alert), Budget: alert}
	case alertTypeForecasted:
		if opts.TripOnForecast {
			return Signal{Source: SourceBudget, Trips: true, Summary: withSuffix(budgetSummary(alert), "; tripping on forecast"), Budget: alert}
		}
		return Signal{Source: SourceBudget, Summary: withSuffix(budgetSummary(alert), "; forecast only, no action (TripOnForecast off)"), Budget: alert}
	default:
		return unrecognised(fmt.Sprintf("budget %q has unknown Alert Type %q (want ACTUAL or FORECASTED)", short(name), short(alertType)))
	}
}

// budgetSummary renders e.g.
// AWS Budgets "killswitch-monthly": ACTUAL $4,812.37 over the $10.00 threshold
func budgetSummary(b *BudgetAlert) string {
	amount := b.ActualAmount
	if b.AlertType == alertTypeForecasted {
		amount = b.ForecastedAmount
	}
	var s strings.Builder
	fmt.Fprintf(&s, "AWS Budgets %q: %s", short(b.BudgetName), b.AlertType)
	if amount != "" {
		s.WriteString(" " + short(amount))
	}
	// AWS writes the threshold as "> $10.00"; the summary says "over" instead.
	if threshold := strings.TrimSpace(strings.TrimLeft(b.AlertThreshold, "<>= ")); threshold != "" {
		s.WriteString(" over the " + short(threshold) + " threshold")
	}
	if b.BudgetType != "" && b.BudgetType != "Cost" {
		s.WriteString(" (" + short(b.BudgetType) + " budget)")
	}
	return s.String()
}
