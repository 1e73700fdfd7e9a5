package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/settings"
)

// ContextKey is the one cdk.json context block that configures the kill switch.
const ContextKey = "killswitch"

// Limits from AWS Budgets: at most 10 notifications per budget, each with at
// most 1 SNS and 10 email subscribers.
const (
	maxNotifications = 10
	maxEmails        = 10
)

// Config is the validated kill-switch configuration. Read it with
// ConfigFromContext or ParseConfig; DefaultConfig gives the hobby-account
// defaults.
type Config struct {
	// Settings are the function's own settings: their keys, defaults and
	// rules are defined once, in internal/settings, and reach the function
	// as its environment.
	settings.Settings
	// BudgetUSD is the monthly cost budget in USD.
	BudgetUSD float64
	// TripThresholdPercent is the ACTUAL spend, in percent of BudgetUSD, at
	// which the budget notifies the trip topic and the Lambda acts.
	TripThresholdPercent float64
	// WarningThresholdsPercent are ACTUAL-spend warnings (notify topic + email).
	WarningThresholdsPercent []float64
	// ForecastWarningThresholdsPercent are FORECASTED-spend warnings.
	ForecastWarningThresholdsPercent []float64
	// NotificationEmails receive warnings and the Lambda's reports.
	NotificationEmails []string
	// BillingAlarm adds the us-east-1 EstimatedCharges alarm as a second trigger.
	BillingAlarm bool
	// BillingAlarmThresholdUSD is the alarm threshold; defaults to
	// BudgetUSD × TripThresholdPercent / 100.
	BillingAlarmThresholdUSD float64
	// SlackWorkspaceID and SlackChannelID enable an AWS Chatbot channel
	// subscribed to the notify topic. Both or neither.
	SlackWorkspaceID string
	SlackChannelID   string
	// ReservedConcurrency reserves that many concurrent executions for the
	// function; 0 (the default) reserves none. Brand-new accounts often
	// have a quota of 10, and Lambda refuses a reservation that leaves
	// fewer than 10 unreserved, so a reservation fails the deploy there.
	// Nothing needs it: the sweep is idempotent and the latch serialises
	// trips.
	ReservedConcurrency int
	// Dashboard adds the CloudWatch dashboard of the function's metrics
	// (internal/metrics). The health alarms are made either way.
	Dashboard bool
}

// DefaultConfig returns the defaults, suited to a hobby account.
func DefaultConfig() Config {
	c := Config{
		Settings:                         settings.Default(),
		BudgetUSD:                        10,
		TripThresholdPercent:             100,
		WarningThresholdsPercent:         []float64{50, 80},
		ForecastWarningThresholdsPercent: []float64{100},
		NotificationEmails:               []string{},
		BillingAlarm:                     true,
		Dashboard:                        true,
	}
	c.BillingAlarmThresholdUSD = c.BudgetUSD * c.TripThresholdPercent / 100
	return c
}

// kind is how a key's value is typed, for decoding and error messages.
type kind int

const (
	kindNumber kind = iota
	kindBool
	kindString
	kindNumberList
	kindStringList
)

func (k kind) String() string {
	return [...]string{"a number", "true or false", "a string", "a list of numbers", "a list of strings"}[k]
}

// fieldSpec maps one camelCase JSON key to its Config field.
type fieldSpec struct {
	key    string
	kind   kind
	target func(c *Config) any
}

// fields lists the deploy-only keys of the killswitch block: what shapes
// the stack but is not read by the function. The function's own keys come
// from settings.All. Anything else is an error, so that a typo never
// silently falls back to a default.
var fields = []fieldSpec{
	{"budgetUsd", kindNumber, func(c *Config) any { return &c.BudgetUSD }},
	{"tripThresholdPercent", kindNumber, func(c *Config) any { return &c.TripThresholdPercent }},
	{"warningThresholdsPercent", kindNumberList, func(c *Config) any { return &c.WarningThresholdsPercent }},
	{"forecastWarningThresholdsPercent", kindNumberList, func(c *Config) any { return &c.ForecastWarningThresholdsPercent }},
	{"notificationEmails", kindStringList, func(c *Config) any { return &c.NotificationEmails }},
	{"billingAlarm", kindBool, func(c *Config) any { return &c.BillingAlarm }},
	{"billingAlarmThresholdUsd", kindNumber, func(c *Config) any { return &c.BillingAlarmThresholdUSD }},
	{"slackWorkspaceId", kindString, func(c *Config) any { return &c.SlackWorkspaceID }},
	{"slackChannelId", kindString, func(c *Config) any { return &c.SlackChannelID }},
	{"reservedConcurrency", kindNumber, func(c *Config) any { return &c.ReservedConcurrency }},
	{"dashboard", kindBool, func(c *Config) any { return &c.Dashboard }},
}

func fieldByKey(key string) (fieldSpec, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return fieldSpec{}, false
}

func knownKeys() string {
	keys := make([]string, 0, len(fields)+len(settings.All))
	for _, f := range fields {
		keys = append(keys, f.key)
	}
	for _, st := range settings.All {
		if st.Key != "" {
			keys = append(keys, st.Key)
		}
	}
	return strings.Join(keys, ", ")
}

// ConfigFromContext reads the killswitch block from the construct tree's
// context (cdk.json, or `-c killswitch='{...}'`), then applies per-key
// overrides given as `-c killswitch.<key>=<value>`, then validates.
func ConfigFromContext(node constructs.Node) (Config, error) {
	block := node.TryGetContext(jsii.String(ContextKey))
	overrides := map[string]any{}
	if all, ok := node.GetAllContext(nil).(map[string]any); ok {
		for k, v := range all {
			if strings.HasPrefix(k, ContextKey+".") {
				overrides[strings.TrimPrefix(k, ContextKey+".")] = v
			}
		}
	}
	return ParseConfig(block, overrides)
}

// ParseConfig builds a Config from the raw killswitch context block (a JSON
// object, or a string holding one, or nil for all defaults) and per-key
// overrides (key without the "killswitch." prefix; a value may be a string as
// given on the command line), then validates it. Every problem is reported,
// each naming its key as killswitch.<key>.
func ParseConfig(block any, overrides map[string]any) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	thresholdSet := false

	values, err := blockValues(block)
	if err != nil {
		return cfg, err
	}
	// Deterministic order for stable messages.
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := setField(&cfg, k, values[k]); err != nil {
			errs = append(errs, err)
		} else if k == "billingAlarmThresholdUsd" {
			thresholdSet = true
		}
	}

	okeys := make([]string, 0, len(overrides))
	for k := range overrides {
		okeys = append(okeys, k)
	}
	sort.Strings(okeys)
	for _, k := range okeys {
		raw, err := overrideJSON(k, overrides[k])
		if err == nil {
			err = setField(&cfg, k, raw)
		}
		if err != nil {
			errs = append(errs, err)
		} else if k == "billingAlarmThresholdUsd" {
			thresholdSet = true
		}
	}

	if !thresholdSet {
		cfg.BillingAlarmThresholdUSD = cfg.BudgetUSD * cfg.TripThresholdPercent / 100
	}
	// A key that failed to decode keeps its default, so validating the rest
	// reports every other problem too, without false alarms.
	errs = append(errs, cfg.problems()...)
	if len(errs) > 0 {
		return cfg, invalid(errs)
	}
	return cfg, nil
}

func invalid(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = "  " + e.Error()
	}
	return fmt.Errorf("invalid %s config (cdk.json context or -c):\n%s", ContextKey, strings.Join(msgs, "\n"))
}

// blockValues turns the context value into key → raw JSON.
func blockValues(block any) (map[string]json.RawMessage, error) {
	values := map[string]json.RawMessage{}
	var data []byte
	switch b := block.(type) {
	case nil:
		return values, nil
	case string:
		// `-c killswitch='{"budgetUsd":20}'` arrives as a string.
		if strings.TrimSpace(b) == "" {
			return values, nil
		}
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			return nil, fmt.Errorf("%s: cannot read context value: %v", ContextKey, err)
		}
	}
	if err := json.Unmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("%s: must be a JSON object of settings (keys: %s), got %s", ContextKey, knownKeys(), truncate(string(data)))
	}
	return values, nil
}

// overrideJSON turns a per-key command-line value into JSON for its field:
// `-c killswitch.budgetUsd=20`, `-c killswitch.action=terminate`,
// `-c killswitch.notificationEmails=a@example.com,b@example.com`,
// `-c killswitch.warningThresholdsPercent=50,80` (or JSON lists).
func overrideJSON(key string, v any) (json.RawMessage, error) {
	if st, ok := settings.ByKey(key); ok {
		return settingOverrideJSON(st, v)
	}
	f, ok := fieldByKey(key)
	if !ok {
		return nil, unknownKey(key)
	}
	return commandLineJSON(f.kind, v)
}

// commandLineJSON turns one -c value into JSON of its kind: a value given
// on the command line arrives as a string (lists comma-separated, strings
// bare); one from a JSON block arrives typed and is encoded as it is.
func commandLineJSON(k kind, v any) (json.RawMessage, error) {
	s, isString := v.(string)
	if !isString {
		b, err := json.Marshal(v)
		return b, err
	}
	s = strings.TrimSpace(s)
	switch k {
	case kindString:
		if strings.HasPrefix(s, `"`) && json.Valid([]byte(s)) {
			return json.RawMessage(s), nil
		}
		return json.Marshal(s)
	case kindStringList:
		if strings.HasPrefix(s, "[") {
			return json.RawMessage(s), nil
		}
		items := []string{}
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		return json.Marshal(items)
	case kindNumberList:
		if strings.HasPrefix(s, "[") {
			return json.RawMessage(s), nil
		}
		return json.RawMessage("[" + s + "]"), nil
	default:
		if !json.Valid([]byte(s)) {
			// Let the caller report the type error with the original text.
			b, _ := json.Marshal(s)
			return b, nil
		}
		return json.RawMessage(s), nil
	}
}

func unknownKey(key string) error {
	return fmt.Errorf("%s.%s: unknown key (known keys: %s)", ContextKey, key, knownKeys())
}

func setField(c *Config, key string, raw json.RawMessage) error {
	if st, ok := settings.ByKey(key); ok {
		return setSetting(c, st, raw)
	}
	f, ok := fieldByKey(key)
	if !ok {
		return unknownKey(key)
	}
	if string(raw) == "null" {
		return fmt.Errorf("%s.%s: must be %s, got null", ContextKey, key, f.kind)
	}
	if err := json.Unmarshal(raw, f.target(c)); err != nil {
		return fmt.Errorf("%s.%s: must be %s, got %s", ContextKey, key, f.kind, truncate(string(raw)))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

var (
	// A plain address: local@domain.tld, no display name, no spaces.
	emailPattern = regexp.MustCompile(`^[^@\s<>(),;:"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)
	// AWS Chatbot's own patterns for Slack IDs.
	slackWorkspacePattern = regexp.MustCompile(`^[0-9A-Z]{1,255}$`)
	slackChannelPattern   = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)
)

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Validate checks every rule and reports every violation, each naming its key.
func (c Config) Validate() error {
	if errs := c.problems(); len(errs) > 0 {
		return invalid(errs)
	}
	return nil
}

func (c Config) problems() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", ContextKey, key, fmt.Sprintf(format, args...)))
	}

	if !(c.BudgetUSD > 0) {
		bad("budgetUsd", "must be greater than 0, got %s", num(c.BudgetUSD))
	}
	if !(c.TripThresholdPercent > 0) {
		bad("tripThresholdPercent", "must be greater than 0, got %s", num(c.TripThresholdPercent))
	}
	checkThresholds := func(key string, list []float64, belowTrip bool) {
		seen := map[float64]bool{}
		for i, v := range list {
			k := fmt.Sprintf("%s[%d]", key, i)
			switch {
			case !(v > 0):
				bad(k, "must be greater than 0, got %s", num(v))
			case belowTrip && c.TripThresholdPercent > 0 && v >= c.TripThresholdPercent:
				bad(k, "must be below tripThresholdPercent (%s), got %s", num(c.TripThresholdPercent), num(v))
			case seen[v]:
				bad(k, "duplicate threshold %s (AWS Budgets rejects duplicate notifications)", num(v))
			}
			seen[v] = true
		}
	}
	checkThresholds("warningThresholdsPercent", c.WarningThresholdsPercent, true)
	checkThresholds("forecastWarningThresholdsPercent", c.ForecastWarningThresholdsPercent, false)
	if n := len(budgetNotifications(c)); n > maxNotifications {
		bad("warningThresholdsPercent", "too many budget notifications: %d (the trip, %d warning(s), %d forecast(s)%s), AWS Budgets allows at most %d",
			n, len(c.WarningThresholdsPercent), len(c.ForecastWarningThresholdsPercent), map[bool]string{true: " and the forecast trip"}[c.TripOnForecast], maxNotifications)
	}

	// The function's settings, by the same rules the function applies
	// (a Config built in code skips ParseConfig, so check them again).
	for _, st := range settings.All {
		if st.Key == "" {
			continue
		}
		scratch := c.Settings
		for _, p := range st.Set(&scratch, st.Get(&c.Settings)) {
			bad(problemKey(st.Key, p), "%s", p.Msg)
		}
	}
	if c.RegionTimeout >= FunctionTimeout {
		bad("regionTimeout", "must be shorter than the function's %v timeout, got %v", FunctionTimeout, c.RegionTimeout)
	}
	if c.DeadlineReserve >= FunctionTimeout/2 {
		bad("deadlineReserve", "must be shorter than half the function's %v timeout, got %v", FunctionTimeout, c.DeadlineReserve)
	}

	if c.ReservedConcurrency < 0 {
		bad("reservedConcurrency", "must be 0 (none) or more, got %d", c.ReservedConcurrency)
	}
	if len(c.NotificationEmails) > maxEmails {
		bad("notificationEmails", "at most %d addresses (AWS Budgets limit per notification), got %d", maxEmails, len(c.NotificationEmails))
	}
	seenEmail := map[string]bool{}
	for i, e := range c.NotificationEmails {
		k := fmt.Sprintf("notificationEmails[%d]", i)
		if !validEmail(e) {
			bad(k, "must be a plain email address like you@example.com, got %q", e)
		} else if seenEmail[strings.ToLower(e)] {
			bad(k, "duplicate address %q", e)
		}
		seenEmail[strings.ToLower(e)] = true
	}

	// When derived from an invalid budget or trip threshold, that error says it all.
	if !(c.BillingAlarmThresholdUSD > 0) && c.BudgetUSD > 0 && c.TripThresholdPercent > 0 {
		bad("billingAlarmThresholdUsd", "must be greater than 0, got %s", num(c.BillingAlarmThresholdUSD))
	}

	switch {
	case c.SlackWorkspaceID == "" && c.SlackChannelID == "":
	case c.SlackWorkspaceID == "":
		bad("slackWorkspaceId", "must be set when slackChannelId is set (set both or neither)")
	case c.SlackChannelID == "":
		bad("slackChannelId", "must be set when slackWorkspaceId is set (set both or neither)")
	default:
		if !slackWorkspacePattern.MatchString(c.SlackWorkspaceID) {
			bad("slackWorkspaceId", "must be a Slack workspace (team) ID like T0123ABCD, got %q", c.SlackWorkspaceID)
		}
		if !slackChannelPattern.MatchString(c.SlackChannelID) {
			bad("slackChannelId", "must be a Slack channel ID like C0123ABCD, got %q", c.SlackChannelID)
		}
	}

	return errs
}

func validEmail(s string) bool {
	if !emailPattern.MatchString(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// SlackEnabled reports whether the Chatbot channel is configured.
func (c Config) SlackEnabled() bool { return c.SlackWorkspaceID != "" && c.SlackChannelID != "" }

func problemKey(key string, p settings.Problem) string {
	if p.Item >= 0 {
		return fmt.Sprintf("%s[%d]", key, p.Item)
	}
	return key
}

// setSetting decodes a function setting from cdk.json, which must have the
// setting's JSON type, and applies the setting's own rules to it.
func setSetting(c *Config, st settings.Setting, raw json.RawMessage) error {
	typeErr := fmt.Errorf("%s.%s: must be %s, got %s", ContextKey, st.Key, st.Type, truncate(string(raw)))
	var v string
	switch st.Type {
	case settings.Bool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil || string(raw) == "null" {
			return typeErr
		}
		v = strconv.FormatBool(b)
	case settings.Int:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil || string(raw) == "null" {
			return typeErr
		}
		v = n.String()
	case settings.StringList:
		var items []string
		if err := json.Unmarshal(raw, &items); err != nil || string(raw) == "null" {
			return typeErr
		}
		for i, item := range items {
			if strings.Contains(item, ",") {
				return fmt.Errorf("%s.%s[%d]: must not contain a comma, got %q", ContextKey, st.Key, i, item)
			}
		}
		v = strings.Join(items, ",")
	default:
		if err := json.Unmarshal(raw, &v); err != nil || string(raw) == "null" {
			return typeErr
		}
	}
	var errs []string
	for _, p := range st.Set(&c.Settings, v) {
		errs = append(errs, fmt.Sprintf("%s.%s: %s", ContextKey, problemKey(st.Key, p), p.Msg))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n  "))
	}
	return nil
}

// settingOverrideJSON turns `-c killswitch.<key>=<value>` for a function
// setting into JSON of the setting's type: the value is given as the
// function's variable would hold it ("true", "90s", "a,b" or a JSON list).
func settingOverrideJSON(st settings.Setting, v any) (json.RawMessage, error) {
	s, isString := v.(string)
	if !isString {
		return json.Marshal(v)
	}
	s = strings.TrimSpace(s)
	switch st.Type {
	case settings.StringList:
		if strings.HasPrefix(s, "[") {
			return json.RawMessage(s), nil
		}
		items := []string{}
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		return json.Marshal(items)
	case settings.Bool, settings.Int:
		if json.Valid([]byte(s)) {
			return json.RawMessage(s), nil
		}
	}
	return json.Marshal(s)
}
