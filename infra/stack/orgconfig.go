package stack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/settings"
)

// OrgContextKey is the context block that adds the org stack. Without it
// the app synthesises the single-account stack only, exactly as before.
const OrgContextKey = "killswitchOrg"

// OrgConfig is the validated killswitchOrg block.
type OrgConfig struct {
	// OrganizationID (o-…) lets the organization's accounts, and no one
	// else, read the member code and publish to the central topic
	// (aws:PrincipalOrgID).
	OrganizationID string
	// TargetOUIDs are the OUs (ou-…) or the root (r-…) whose accounts get
	// the member stack, now and as accounts join them.
	TargetOUIDs []string
	// SCPGuard attaches the guard SCP to TargetOUIDs.
	SCPGuard bool
	// OrgQuarantine adds the function that attaches the deny-by-default SCP to
	// a member account that trips.
	OrgQuarantine bool
	// OrgAdminARNs are excepted from both SCPs (ArnNotLike, so wildcards
	// such as arn:aws:iam::*:role/OrgSecurityAdmin work): they can update,
	// disarm and clean up members.
	OrgAdminARNs []string
	// MemberAccessRole is the role org operators enter member accounts
	// through (the CLI's --role). Each member stack makes it break-glass:
	// the member's IAM quarantine never binds it and guards its trust and
	// policies, so a restore can run through it. Empty: none.
	MemberAccessRole string
	// CentralEmails are subscribed to the central topic.
	CentralEmails []string
	// FailureTolerancePercentage and MaxConcurrentPercentage are the
	// StackSet's operation preferences.
	FailureTolerancePercentage int
	MaxConcurrentPercentage    int
	// CallAs is SELF in the management account, DELEGATED_ADMIN in a
	// delegated StackSets administrator account.
	CallAs string
	// Overrides change some keys of the killswitch block for some accounts
	// or OUs, through StackSet parameter overrides.
	Overrides []OrgOverride
}

// OrgOverride is one entry of killswitchOrg.overrides.
type OrgOverride struct {
	// Accounts and OUs it applies to: an OU must be one of TargetOUIDs.
	Accounts []string
	OUs      []string
	// Config is the killswitch block with the override applied, validated.
	Config Config
	// Keys are the overridden keys, sorted.
	Keys []string
}

// DefaultOrgConfig is the block's defaults; organizationId and targetOuIds
// have none.
func DefaultOrgConfig() OrgConfig {
	return OrgConfig{
		SCPGuard:                   true,
		OrgAdminARNs:               []string{},
		MemberAccessRole:           "OrganizationAccountAccessRole",
		CentralEmails:              []string{},
		FailureTolerancePercentage: 10,
		MaxConcurrentPercentage:    25,
		CallAs:                     "SELF",
	}
}

var (
	orgIDPattern = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	ouPattern    = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`)
	accountRe    = regexp.MustCompile(`^\d{12}$`)
	// roleNamePattern is IAM's role name: no path, at most 64 characters.
	roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	// A principal ARN as aws:PrincipalArn carries it (a role session's is
	// its role's), with the * and ? wildcards ArnNotLike allows.
	orgAdminPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}|\*):(user|role|root)(/[\w+=,.@*?/-]*)?$`)
)

// overridable are the keys of the killswitch block an override may change:
// the function's settings, which reach it as its environment, and the
// budget's amount. The rest shape the member stack's resources (the
// quarantine policy, the schedule's rate, the budget's notifications, the
// role's permissions, subscriptions), which are one template for every
// account.
var notOverridable = map[string]string{
	"quarantine":              "it decides whether the stack creates the quarantine policy",
	"breakGlassArns":          "the quarantine policy and the trip topic's policy name them",
	"resweepMinutes":          "it is the schedule's rate",
	"censusMinutes":           "it is the schedule's rate",
	"tripOnForecast":          "it adds a budget notification",
	"stopDatabases":           "it adds permissions to the function's role",
	"deactivateNewAccessKeys": "it adds permissions to the function's role",
}

// overridableDeployKeys are the deploy keys an override may change.
// billingAlarmThresholdUsd follows budgetUsd unless set.
var overridableDeployKeys = []string{"budgetUsd", "billingAlarmThresholdUsd"}

// OverridableKeys lists every key an override may change, sorted.
func OverridableKeys() []string {
	keys := append([]string{}, overridableDeployKeys...)
	for _, st := range settings.All {
		if st.Key != "" && notOverridable[st.Key] == "" {
			keys = append(keys, st.Key)
		}
	}
	sort.Strings(keys)
	return keys
}

func overridable(key string) bool {
	for _, k := range OverridableKeys() {
		if k == key {
			return true
		}
	}
	return false
}

// orgFields are the block's keys; anything else is an error.
var orgFields = []struct {
	key  string
	kind kind
	set  func(c *OrgConfig, raw json.RawMessage) error
}{
	{"organizationId", kindString, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.OrganizationID) }},
	{"targetOuIds", kindStringList, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.TargetOUIDs) }},
	{"scpGuard", kindBool, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.SCPGuard) }},
	{"orgQuarantine", kindBool, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.OrgQuarantine) }},
	{"orgAdminArns", kindStringList, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.OrgAdminARNs) }},
	{"memberAccessRole", kindString, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.MemberAccessRole) }},
	{"centralEmails", kindStringList, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.CentralEmails) }},
	{"failureTolerancePercentage", kindNumber, func(c *OrgConfig, r json.RawMessage) error {
		return json.Unmarshal(r, &c.FailureTolerancePercentage)
	}},
	{"maxConcurrentPercentage", kindNumber, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.MaxConcurrentPercentage) }},
	{"callAs", kindString, func(c *OrgConfig, r json.RawMessage) error { return json.Unmarshal(r, &c.CallAs) }},
	// overrides is read after the rest: it needs the killswitch block.
	{"overrides", kindObjectList, nil},
}

const kindObjectList kind = 100

func orgKindName(k kind) string {
	if k == kindObjectList {
		return "a list of objects"
	}
	return k.String()
}

func orgKnownKeys() string {
	keys := make([]string, len(orgFields))
	for i, f := range orgFields {
		keys[i] = f.key
	}
	return strings.Join(keys, ", ")
}

// OrgConfigFromContext reads the killswitchOrg block (cdk.json, or
// `-c killswitchOrg='{…}'`) and `-c killswitchOrg.<key>=<value>` overrides.
// present is false when neither is given: then there is no org stack.
func OrgConfigFromContext(node constructs.Node, member Config) (cfg OrgConfig, present bool, err error) {
	block := node.TryGetContext(jsii.String(OrgContextKey))
	overrides := map[string]any{}
	if all, ok := node.GetAllContext(nil).(map[string]any); ok {
		for k, v := range all {
			if strings.HasPrefix(k, OrgContextKey+".") {
				overrides[strings.TrimPrefix(k, OrgContextKey+".")] = v
			}
		}
	}
	if block == nil && len(overrides) == 0 {
		return OrgConfig{}, false, nil
	}
	cfg, err = ParseOrgConfig(block, overrides, member)
	return cfg, true, err
}

// ParseOrgConfig builds the OrgConfig from the raw killswitchOrg block (an
// object, a string holding one, or nil), per-key overrides (strings as
// given on the command line), and the killswitch config the overrides
// apply to. Every problem is reported, each naming its key as
// killswitchOrg.<key>.
func ParseOrgConfig(block any, overrides map[string]any, member Config) (OrgConfig, error) {
	cfg := DefaultOrgConfig()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", OrgContextKey, key, fmt.Sprintf(format, args...)))
	}

	values := map[string]json.RawMessage{}
	switch b := block.(type) {
	case nil:
	case string:
		if strings.TrimSpace(b) != "" {
			if err := json.Unmarshal([]byte(b), &values); err != nil {
				return cfg, fmt.Errorf("%s: must be a JSON object (keys: %s), got %s", OrgContextKey, orgKnownKeys(), truncate(b))
			}
		}
	default:
		data, err := json.Marshal(b)
		if err == nil {
			err = json.Unmarshal(data, &values)
		}
		if err != nil {
			return cfg, fmt.Errorf("%s: must be a JSON object (keys: %s), got %s", OrgContextKey, orgKnownKeys(), truncate(string(data)))
		}
	}
	for k, v := range overrides {
		raw, err := orgOverrideJSON(k, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		values[k] = raw
	}

	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var rawOverrides json.RawMessage
	for _, k := range keys {
		f, ok := orgField(k)
		switch {
		case !ok:
			bad(k, "unknown key (known keys: %s)", orgKnownKeys())
		case string(values[k]) == "null":
			bad(k, "must be %s, got null", orgKindName(f.kind))
		case f.set == nil:
			rawOverrides = values[k]
		default:
			if err := f.set(&cfg, values[k]); err != nil {
				bad(k, "must be %s, got %s", orgKindName(f.kind), truncate(string(values[k])))
			}
		}
	}

	if cfg.OrganizationID == "" {
		bad("organizationId", "is required: the organization's ID, like o-a1b2c3d4e5 (aws organizations describe-organization)")
	} else if !orgIDPattern.MatchString(cfg.OrganizationID) {
		bad("organizationId", "must be an organization ID like o-a1b2c3d4e5, got %q", cfg.OrganizationID)
	}
	if len(cfg.TargetOUIDs) == 0 {
		bad("targetOuIds", "is required: at least one OU (ou-…) or the root (r-…) whose accounts get the kill switch")
	}
	seen := map[string]bool{}
	for i, ou := range cfg.TargetOUIDs {
		k := fmt.Sprintf("targetOuIds[%d]", i)
		switch {
		case !ouPattern.MatchString(ou):
			bad(k, "must be an OU ID like ou-ab12-cdef3456 or a root ID like r-ab12, got %q", ou)
		case seen[ou]:
			bad(k, "%q is listed twice", ou)
		}
		seen[ou] = true
	}
	for i, a := range cfg.OrgAdminARNs {
		if !orgAdminPattern.MatchString(a) {
			bad(fmt.Sprintf("orgAdminArns[%d]", i), "must be an IAM role or user ARN (wildcards * and ? allowed), like arn:aws:iam::*:role/OrgSecurityAdmin, got %q", a)
		}
	}
	if cfg.MemberAccessRole != "" && !roleNamePattern.MatchString(cfg.MemberAccessRole) {
		bad("memberAccessRole", "must be an IAM role name (letters, digits and +=,.@_-, at most 64), like OrganizationAccountAccessRole, or \"\" for none, got %q", cfg.MemberAccessRole)
	}
	seenEmail := map[string]bool{}
	for i, e := range cfg.CentralEmails {
		k := fmt.Sprintf("centralEmails[%d]", i)
		if !validEmail(e) {
			bad(k, "must be a plain email address like you@example.com, got %q", e)
		} else if seenEmail[strings.ToLower(e)] {
			bad(k, "duplicate address %q", e)
		}
		seenEmail[strings.ToLower(e)] = true
	}
	if cfg.FailureTolerancePercentage < 0 || cfg.FailureTolerancePercentage > 100 {
		bad("failureTolerancePercentage", "must be from 0 to 100, got %d", cfg.FailureTolerancePercentage)
	}
	if cfg.MaxConcurrentPercentage < 1 || cfg.MaxConcurrentPercentage > 100 {
		bad("maxConcurrentPercentage", "must be from 1 to 100, got %d", cfg.MaxConcurrentPercentage)
	}
	if cfg.CallAs != "SELF" && cfg.CallAs != "DELEGATED_ADMIN" {
		bad("callAs", "must be \"SELF\" (the management account) or \"DELEGATED_ADMIN\" (a delegated StackSets administrator), got %q", cfg.CallAs)
	}
	if rawOverrides != nil {
		errs = append(errs, cfg.parseOverrides(rawOverrides, member)...)
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = "  " + e.Error()
		}
		return cfg, fmt.Errorf("invalid %s config (cdk.json context or -c):\n%s", OrgContextKey, strings.Join(msgs, "\n"))
	}
	return cfg, nil
}

func orgField(key string) (struct {
	key  string
	kind kind
	set  func(c *OrgConfig, raw json.RawMessage) error
}, bool) {
	for _, f := range orgFields {
		if f.key == key {
			return f, true
		}
	}
	return orgFields[0], false
}

// orgOverrideJSON turns `-c killswitchOrg.<key>=<value>` into JSON: lists
// may be comma-separated, strings bare.
func orgOverrideJSON(key string, v any) (json.RawMessage, error) {
	f, ok := orgField(key)
	if !ok {
		return nil, fmt.Errorf("%s.%s: unknown key (known keys: %s)", OrgContextKey, key, orgKnownKeys())
	}
	return commandLineJSON(f.kind, v)
}

// parseOverrides reads killswitchOrg.overrides: a list of
// {"targets": [account IDs or target OU IDs], "killswitch": {key: value}}.
// Each override's keys are applied over the killswitch config and the
// result is validated as a whole, so that the same rules hold per account.
func (c *OrgConfig) parseOverrides(raw json.RawMessage, member Config) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", OrgContextKey, key, fmt.Sprintf(format, args...)))
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		bad("overrides", "must be a list of {\"targets\": [...], \"killswitch\": {...}}, got %s", truncate(string(raw)))
		return errs
	}
	targetOU := map[string]bool{}
	for _, ou := range c.TargetOUIDs {
		targetOU[ou] = true
	}
	claimed := map[string]int{}
	for i, item := range list {
		at := fmt.Sprintf("overrides[%d]", i)
		o := OrgOverride{}
		for k := range item {
			if k != "targets" && k != "killswitch" {
				bad(at+"."+k, "unknown key (known keys: targets, killswitch)")
			}
		}
		var targets []string
		if err := json.Unmarshal(item["targets"], &targets); err != nil || len(targets) == 0 {
			bad(at+".targets", "must be a non-empty list of account IDs (12 digits) or OU IDs from targetOuIds, got %s", truncate(string(item["targets"])))
		}
		for j, tg := range targets {
			k := fmt.Sprintf("%s.targets[%d]", at, j)
			switch {
			case accountRe.MatchString(tg):
				o.Accounts = append(o.Accounts, tg)
			case targetOU[tg]:
				o.OUs = append(o.OUs, tg)
			case ouPattern.MatchString(tg):
				// A nested OU would need its accounts taken out of the
				// parent's instances, which StackSets can do by account
				// only: list the accounts instead.
				bad(k, "%q is not one of targetOuIds; an override can name a target OU itself or accounts (12 digits), not an OU inside one", tg)
				continue
			default:
				bad(k, "must be an account ID (12 digits) or an OU ID from targetOuIds, got %q", tg)
				continue
			}
			if prev, dup := claimed[tg]; dup {
				bad(k, "%q is already overridden by overrides[%d]; a target may have one override", tg, prev)
			}
			claimed[tg] = i
		}
		var block map[string]json.RawMessage
		if err := json.Unmarshal(item["killswitch"], &block); err != nil || len(block) == 0 {
			bad(at+".killswitch", "must be a non-empty object of killswitch keys (overridable: %s), got %s", strings.Join(OverridableKeys(), ", "), truncate(string(item["killswitch"])))
			continue
		}
		mcfg := member
		// Lists are shared with the base config: setField replaces them,
		// never appends, so the base is not changed.
		ok := true
		keys := make([]string, 0, len(block))
		for k := range block {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if why := notOverridable[k]; why != "" || (!overridable(k) && isKnownKey(k)) {
				if why == "" {
					why = "it shapes the member stack's resources"
				}
				bad(at+".killswitch."+k, "cannot differ per account: %s, and the member stack is one template (overridable: %s)", why, strings.Join(OverridableKeys(), ", "))
				ok = false
				continue
			}
			if err := setField(&mcfg, k, block[k]); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s.%s", OrgContextKey, at, err))
				ok = false
				continue
			}
			o.Keys = append(o.Keys, k)
		}
		// The alarm follows the budget, as in the killswitch block, unless
		// a threshold of its own was given.
		if block["budgetUsd"] != nil && block["billingAlarmThresholdUsd"] == nil &&
			member.BillingAlarmThresholdUSD == member.BudgetUSD*member.TripThresholdPercent/100 {
			mcfg.BillingAlarmThresholdUSD = mcfg.BudgetUSD * mcfg.TripThresholdPercent / 100
		}
		for _, p := range mcfg.problems() {
			errs = append(errs, fmt.Errorf("%s.%s.%s", OrgContextKey, at, p))
			ok = false
		}
		if ok {
			o.Config = mcfg
			c.Overrides = append(c.Overrides, o)
		}
	}
	return errs
}

func isKnownKey(k string) bool {
	if _, ok := fieldByKey(k); ok {
		return true
	}
	_, ok := settings.ByKey(k)
	return ok
}
