// Package settings is the one definition of every setting the killswitch
// function reads: its cdk.json key, its KILLSWITCH_* variable, its default
// and its rules. The CDK app validates cdk.json and writes the function's
// environment with it; the function reads that environment back with it. It
// imports neither the engine nor the AWS SDK, so infra can use it cheaply.
package settings

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/guard"
)

// Actions for EC2 instances.
const (
	ActionStop      = "stop"
	ActionTerminate = "terminate"
)

// Settings is the function's whole configuration.
type Settings struct {
	// Action is what happens to EC2 instances: stop (keeps EBS) or terminate.
	Action string
	// TerminateUnstoppable terminates, in stop mode, what EC2 refuses to
	// stop; otherwise it is left running and reported.
	TerminateUnstoppable bool
	// OverrideProtection turns off stop and termination protection that
	// blocks the action, then retries it.
	OverrideProtection bool
	// ExemptInstanceIDs are never touched.
	ExemptInstanceIDs []string
	// DryRun makes no mutating call; the report says what would be done.
	DryRun bool
	// NotifyTopicARN receives the human-readable report; empty means the
	// report is only logged. The stack wires it; it is not a knob.
	NotifyTopicARN string
	// NotifyEmails are the addresses cdk.json subscribes to the notify
	// topic (notificationEmails): the integrity check expects exactly
	// these. The stack wires it; it is not a knob.
	NotifyEmails []string
	// TripTopicARN is the trip topic, whose only subscriber must be the
	// function itself. The stack wires it; it is not a knob. Empty: no
	// deployment to check (the CLI, a hand-built environment).
	TripTopicARN string
	// SlackEnabled publishes every message in AWS Chatbot's format too, for
	// the Slack channel subscribed to the notify topic. The stack wires it
	// when slackWorkspaceId and slackChannelId are set.
	SlackEnabled bool
	// CentralTopicARN, in an AWS Organization, is the org stack's topic in
	// the management account: every report also goes there. Empty outside
	// an organization. The StackSet wires it; it is not a knob.
	CentralTopicARN string
	// TripOnForecast lets a FORECASTED budget alert at the trip threshold act.
	TripOnForecast bool
	// RegionConcurrency bounds how many regions are swept at once.
	RegionConcurrency int
	// RegionTimeout bounds one region's sweep.
	RegionTimeout time.Duration
	// DeadlineReserve is kept back from the Lambda deadline to publish a
	// partial report.
	DeadlineReserve time.Duration
	// ExemptNames are names or IDs of any other kind never touched: an
	// owner's Auto Scaling group, Lambda function, ECS service...
	ExemptNames []string
	// StopDatabases also stops RDS instances and Aurora clusters.
	StopDatabases bool
	// ResweepMinutes is how often the stack's schedule invokes the function,
	// which re-sweeps while the latch is tripped.
	ResweepMinutes int
	// LatchParameter is the SSM parameter holding the latch; the stack
	// wires it. Empty: no latch (one sweep per trip).
	LatchParameter string
	// DisarmKeyARN is the KMS HMAC key whose MAC proves a disarm; the
	// stack wires it. Empty: every disarm of a tripped switch is refused.
	DisarmKeyARN string
	// Quarantine is what the trip does to IAM principals: QuarantineDenyLaunch
	// attaches the stack's deny policy to every user, group and role except
	// the exempt ones; QuarantineOff does not.
	Quarantine string
	// QuarantinePolicyARN is the deny policy the stack created; the stack
	// wires it. Empty: no quarantine, whatever Quarantine says.
	QuarantinePolicyARN string
	// OwnRoleIDs are the unique role IDs (AROA...) of the roles the stack
	// created: the function's, the schedule's and, with Slack, Chatbot's.
	// The stack wires them. The quarantine exempts a role by its ID, never
	// by its name alone, and checks those roles' trust policies on every
	// sweep. Empty: no role is exempt as the switch's own.
	OwnRoleIDs []string
	// BreakGlassARNs are IAM users and roles the quarantine never touches,
	// whose keys are never deactivated, and who alone may publish to the
	// trip topic.
	BreakGlassARNs []string
	// IAMLookbackDays is how far back the IAM trail looks for new users,
	// keys, passwords and roles.
	IAMLookbackDays int
	// DeactivateNewAccessKeys deactivates access keys created in the
	// look-back window (not the break-glass principals').
	DeactivateNewAccessKeys bool
	// BudgetName and AlarmName are the stack's own budget and billing
	// alarm; the stack wires them. Alerts from any other budget or alarm
	// do not trip.
	BudgetName string
	AlarmName  string
	// ManifestBucket is the S3 bucket that holds the restore manifests; the
	// stack wires it. Empty: no manifest, and a restore is manual.
	ManifestBucket string
	// SkipRegions are never swept: regions an SCP denies (Control Tower
	// accounts often deny some), which an attacker cannot use either.
	SkipRegions []string
	// CensusMinutes is how often the schedule takes the live-usage census
	// while the switch is not tripped.
	CensusMinutes int
	// The census caps: any one exceeded trips the switch as a budget alert
	// does. Observed > limit trips; maxGPUs 0 means any GPU trips.
	MaxRunningInstances int
	MaxVCPUs            int
	MaxGPUs             int
	MaxHourlyBurnUSD    int
	MaxRegionsInUse     int
}

// ScheduleMinutes is the one schedule's interval: it serves both the census
// (while armed) and the re-sweep (while tripped), so it runs at the shorter
// of the two.
func (s Settings) ScheduleMinutes() int { return min(s.CensusMinutes, s.ResweepMinutes) }

// Quarantine modes.
const (
	QuarantineDenyLaunch = "deny-launch"
	QuarantineOff        = "off"
)

// Type is how a setting is written in cdk.json.
type Type int

const (
	Bool Type = iota
	Int
	String
	StringList
	Duration
)

func (t Type) String() string {
	return [...]string{"true or false", "a whole number", "a string", "a list of strings", "a duration such as \"90s\""}[t]
}

// Problem is one rule a value breaks. Item is the list index it concerns,
// or -1 for the whole value.
type Problem struct {
	Item int
	Msg  string
}

// Setting is one entry of the table: everything about one knob.
type Setting struct {
	// Key is the cdk.json key in the killswitch block; "" for a variable the
	// stack wires itself (not a knob).
	Key string
	// Env is the function's environment variable.
	Env  string
	Type Type
	// Doc is one line for the README and errors.
	Doc string
	get func(*Settings) string
	set func(*Settings, string) []Problem
}

// Default returns the defaults, suited to a hobby account.
func Default() Settings {
	s := Settings{
		Action:               ActionStop,
		TerminateUnstoppable: true,
		OverrideProtection:   true,
		ExemptInstanceIDs:    []string{},
		RegionConcurrency:    32,
		RegionTimeout:        4 * time.Minute,
		DeadlineReserve:      10 * time.Second,
		ExemptNames:          []string{},
		NotifyEmails:         []string{},
		ResweepMinutes:       10,
		Quarantine:           QuarantineDenyLaunch,
		BreakGlassARNs:       []string{},
		OwnRoleIDs:           []string{},
		IAMLookbackDays:      7,
		SkipRegions:          []string{},
		BudgetName:           guard.BudgetName,
		AlarmName:            guard.BillingAlarmName,
	}
	// The census defaults suit a hobby account: a few small instances in
	// one or two regions, never a GPU.
	s.CensusMinutes = 5
	s.MaxRunningInstances = 10
	s.MaxVCPUs = 32
	s.MaxGPUs = 0
	s.MaxHourlyBurnUSD = 5
	s.MaxRegionsInUse = 3
	return s
}

var (
	instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	topicARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$`)
	namePattern       = regexp.MustCompile(`^[A-Za-z0-9_./:@-]{1,255}$`)
	parameterPattern  = regexp.MustCompile(`^/?[A-Za-z0-9_./-]{1,1000}$`)
	kmsKeyARNPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}$`)
	// An IAM user or role as IAM lists it: path included.
	principalARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:(user|role)/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}$`)
	// A role's unique ID as IAM reports it (RoleId): AROA and upper-case
	// letters and digits.
	roleIDPattern    = regexp.MustCompile(`^AROA[A-Z0-9]{8,124}$`)
	policyARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:policy/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}$`)
	// AWS Budgets forbids ':' and '\' in budget names.
	budgetNamePattern = regexp.MustCompile(`^[^:\\\x00-\x1f]{1,100}$`)
	alarmNamePattern  = regexp.MustCompile(`^[^\x00-\x1f]{1,255}$`)
	regionPattern     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	// The stack validates notificationEmails strictly (infra/stack's
	// config); this only keeps a list separator or a space out.
	notifyEmailPattern = regexp.MustCompile(`^[^@\s,]+@[^@\s,]+\.[^@\s,]+$`)
	// S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and
	// hyphens, starting and ending with a letter or digit.
	bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// MaxBreakGlass keeps the quarantine policy, which names every break-glass
// principal, far below IAM's 6,144-character limit for a managed policy.
const MaxBreakGlass = 10

// All is every setting, in the order the README lists them.
var All = []Setting{
	{
		Key: "action", Env: "KILLSWITCH_ACTION", Type: String,
		Doc: "`stop` (keeps EBS data) or `terminate` EC2 instances.",
		get: func(s *Settings) string { return s.Action },
		set: func(s *Settings, v string) []Problem {
			v = strings.ToLower(v)
			if v != ActionStop && v != ActionTerminate {
				return whole(fmt.Sprintf("must be %q or %q, got %q", ActionStop, ActionTerminate, v))
			}
			s.Action = v
			return nil
		},
	},
	boolSetting("terminateUnstoppable", "KILLSWITCH_TERMINATE_UNSTOPPABLE",
		"In stop mode, terminate instances EC2 refuses to stop (one-time Spot, instance-store root).",
		func(s *Settings) *bool { return &s.TerminateUnstoppable }),
	boolSetting("overrideProtection", "KILLSWITCH_OVERRIDE_PROTECTION",
		"Turn off stop and termination protection that blocks the action, then retry.",
		func(s *Settings) *bool { return &s.OverrideProtection }),
	{
		Key: "exemptInstanceIds", Env: "KILLSWITCH_EXEMPT_INSTANCE_IDS", Type: StringList,
		Doc: "Instance IDs never touched (`i-` and 8 or 17 hex digits).",
		get: func(s *Settings) string { return strings.Join(s.ExemptInstanceIDs, ",") },
		set: func(s *Settings, v string) []Problem {
			var probs []Problem
			ids := []string{}
			for i, id := range splitList(v) {
				if !instanceIDPattern.MatchString(id) {
					probs = append(probs, Problem{Item: i, Msg: fmt.Sprintf("must be an EC2 instance ID like i-0123456789abcdef0, got %q", id)})
					continue
				}
				ids = append(ids, id)
			}
			s.ExemptInstanceIDs = ids
			return probs
		},
	},
	boolSetting("dryRun", "KILLSWITCH_DRY_RUN", "Report only; change nothing.",
		func(s *Settings) *bool { return &s.DryRun }),
	boolSetting("tripOnForecast", "KILLSWITCH_TRIP_ON_FORECAST",
		"Also trip when AWS Budgets FORECASTS spend over the trip threshold (the stack then sends that alert to the trip topic).",
		func(s *Settings) *bool { return &s.TripOnForecast }),
	{
		Key: "regionConcurrency", Env: "KILLSWITCH_REGION_CONCURRENCY", Type: Int,
		Doc: "How many regions are swept at once (1 to 64).",
		get: func(s *Settings) string { return strconv.Itoa(s.RegionConcurrency) },
		set: func(s *Settings, v string) []Problem {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 64 {
				return whole(fmt.Sprintf("must be a whole number from 1 to 64, got %q", v))
			}
			s.RegionConcurrency = n
			return nil
		},
	},
	durationSetting("regionTimeout", "KILLSWITCH_REGION_TIMEOUT",
		"Longest one region's sweep may take, so a hanging endpoint cannot hold the report back.",
		func(s *Settings) *time.Duration { return &s.RegionTimeout }),
	durationSetting("deadlineReserve", "KILLSWITCH_DEADLINE_RESERVE",
		"Time kept back from the Lambda timeout to publish a partial report (at most a quarter of the time left).",
		func(s *Settings) *time.Duration { return &s.DeadlineReserve }),
	{
		Key: "exemptNames", Env: "KILLSWITCH_EXEMPT_NAMES", Type: StringList,
		Doc: "Names or IDs of other resources never touched: Auto Scaling groups, Lambda functions, ECS services (`cluster/service`), EKS node groups (`cluster/nodegroup`), Spot and fleet request IDs, SageMaker notebooks, Batch compute environments, RDS instances and clusters.",
		get: func(s *Settings) string { return strings.Join(s.ExemptNames, ",") },
		set: func(s *Settings, v string) []Problem {
			var probs []Problem
			names := []string{}
			for i, n := range splitList(v) {
				if !namePattern.MatchString(n) {
					probs = append(probs, Problem{Item: i, Msg: fmt.Sprintf("must be a resource name or ID (letters, digits and -_./:@, at most 255), got %q", n)})
					continue
				}
				names = append(names, n)
			}
			s.ExemptNames = names
			return probs
		},
	},
	boolSetting("stopDatabases", "KILLSWITCH_STOP_DATABASES",
		"Also stop RDS DB instances and Aurora clusters (AWS starts a stopped database again after 7 days).",
		func(s *Settings) *bool { return &s.StopDatabases }),
	{
		Key: "resweepMinutes", Env: "KILLSWITCH_RESWEEP_MINUTES", Type: Int,
		Doc: "Minutes between scheduled runs, which re-sweep while the switch is tripped (1 to 60).",
		get: func(s *Settings) string { return strconv.Itoa(s.ResweepMinutes) },
		set: func(s *Settings, v string) []Problem {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 60 {
				return whole(fmt.Sprintf("must be a whole number from 1 to 60, got %q", v))
			}
			s.ResweepMinutes = n
			return nil
		},
	},
	{
		Env: "KILLSWITCH_LATCH_PARAMETER", Type: String,
		Doc: "The SSM parameter holding the latch; the stack sets it.",
		get: func(s *Settings) string { return s.LatchParameter },
		set: func(s *Settings, v string) []Problem {
			if !parameterPattern.MatchString(v) {
				return whole(fmt.Sprintf("%q is not an SSM parameter name", v))
			}
			s.LatchParameter = v
			return nil
		},
	},
	{
		Env: "KILLSWITCH_DISARM_KEY_ARN", Type: String,
		Doc: "The KMS HMAC key whose MAC proves a disarm (only break-glass principals and the root user may make one); the stack sets it.",
		get: func(s *Settings) string { return s.DisarmKeyARN },
		set: func(s *Settings, v string) []Problem {
			if !kmsKeyARNPattern.MatchString(v) {
				return whole(fmt.Sprintf("%q is not a KMS key ARN", v))
			}
			s.DisarmKeyARN = v
			return nil
		},
	},
	{
		Key: "quarantine", Env: "KILLSWITCH_QUARANTINE", Type: String,
		Doc: "`deny-launch`: on a trip, attach the stack's deny policy (no launching compute, no new users or keys, no changing the kill switch) to every IAM user, group and role but the kill switch's own, AWS's service-linked and reserved roles, and `breakGlassArns`; re-applied on every re-sweep. `off`: no quarantine.",
		get: func(s *Settings) string { return s.Quarantine },
		set: func(s *Settings, v string) []Problem {
			v = strings.ToLower(v)
			if v != QuarantineDenyLaunch && v != QuarantineOff {
				return whole(fmt.Sprintf("must be %q or %q, got %q", QuarantineDenyLaunch, QuarantineOff, v))
			}
			s.Quarantine = v
			return nil
		},
	},
	{
		Key: "breakGlassArns", Env: "KILLSWITCH_BREAK_GLASS_ARNS", Type: StringList,
		Doc: "IAM users and roles (ARNs as IAM shows them, path included; at most 10) never quarantined, whose keys are never deactivated, and who alone may publish a manual trip to the trip topic.",
		get: func(s *Settings) string { return strings.Join(s.BreakGlassARNs, ",") },
		set: func(s *Settings, v string) []Problem {
			var probs []Problem
			arns := []string{}
			for i, a := range splitList(v) {
				if !principalARNPattern.MatchString(a) {
					probs = append(probs, Problem{Item: i, Msg: fmt.Sprintf("must be an IAM user or role ARN like arn:aws:iam::111122223333:role/break-glass, got %q", a)})
					continue
				}
				arns = append(arns, a)
			}
			if len(arns) > MaxBreakGlass {
				probs = append(probs, Problem{Item: -1, Msg: fmt.Sprintf("at most %d break-glass principals, got %d", MaxBreakGlass, len(arns))})
			}
			s.BreakGlassARNs = arns
			return probs
		},
	},
	{
		Key: "iamLookbackDays", Env: "KILLSWITCH_IAM_LOOKBACK_DAYS", Type: Int,
		Doc: "The IAM trail reports users, access keys, console passwords and roles created in the last this many days (1 to 90).",
		get: func(s *Settings) string { return strconv.Itoa(s.IAMLookbackDays) },
		set: func(s *Settings, v string) []Problem {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 90 {
				return whole(fmt.Sprintf("must be a whole number from 1 to 90, got %q", v))
			}
			s.IAMLookbackDays = n
			return nil
		},
	},
	{
		Key: "skipRegions", Env: "KILLSWITCH_SKIP_REGIONS", Type: StringList,
		Doc: "Regions never swept, for regions an SCP denies (an attacker cannot use them either); the report names them once. An access error in any other region is still a failure.",
		get: func(s *Settings) string { return strings.Join(s.SkipRegions, ",") },
		set: func(s *Settings, v string) []Problem {
			var probs []Problem
			regions := []string{}
			seen := map[string]bool{}
			for i, r := range splitList(v) {
				switch {
				case !regionPattern.MatchString(r):
					probs = append(probs, Problem{Item: i, Msg: fmt.Sprintf("must be a region code like eu-south-2, got %q", r)})
				case seen[r]:
					probs = append(probs, Problem{Item: i, Msg: fmt.Sprintf("%q is listed twice", r)})
				default:
					seen[r] = true
					regions = append(regions, r)
				}
			}
			s.SkipRegions = regions
			return probs
		},
	},
	intSetting("censusMinutes", "KILLSWITCH_CENSUS_MINUTES", 1, 60,
		"Minutes between live-usage censuses (read-only: instances, vCPUs, GPUs, burn, regions in every region) while the switch is armed; the schedule runs at the shorter of this and resweepMinutes.",
		func(s *Settings) *int { return &s.CensusMinutes }),
	intSetting("maxRunningInstances", "KILLSWITCH_MAX_RUNNING_INSTANCES", 1, 1_000_000,
		"Census cap: more running or pending EC2 instances than this, over every region, trips the switch.",
		func(s *Settings) *int { return &s.MaxRunningInstances }),
	intSetting("maxVCPUs", "KILLSWITCH_MAX_VCPUS", 1, 10_000_000,
		"Census cap: more vCPUs running than this, over every region, trips the switch.",
		func(s *Settings) *int { return &s.MaxVCPUs }),
	intSetting("maxGPUs", "KILLSWITCH_MAX_GPUS", 0, 1_000_000,
		"Census cap: more GPUs or accelerators (p, g, trn, inf, dl) running than this trips the switch; 0, the default, trips on the first one.",
		func(s *Settings) *int { return &s.MaxGPUs }),
	intSetting("maxHourlyBurnUSD", "KILLSWITCH_MAX_HOURLY_BURN_USD", 1, 10_000_000,
		"Census cap: an estimated on-demand burn above this many USD per hour (Spot counted at on-demand) trips the switch.",
		func(s *Settings) *int { return &s.MaxHourlyBurnUSD }),
	intSetting("maxRegionsInUse", "KILLSWITCH_MAX_REGIONS_IN_USE", 1, 64,
		"Census cap: instances, Auto Scaling groups, ECS tasks or SageMaker compute running in more regions than this trips the switch.",
		func(s *Settings) *int { return &s.MaxRegionsInUse }),
	boolSetting("deactivateNewAccessKeys", "KILLSWITCH_DEACTIVATE_NEW_ACCESS_KEYS",
		"Deactivate access keys created in the look-back window (except the break-glass principals'); the report gives the command to delete each.",
		func(s *Settings) *bool { return &s.DeactivateNewAccessKeys }),
	{
		Env: "KILLSWITCH_QUARANTINE_POLICY_ARN", Type: String,
		Doc: "The quarantine policy's ARN; the stack sets it.",
		get: func(s *Settings) string { return s.QuarantinePolicyARN },
		set: func(s *Settings, v string) []Problem {
			if !policyARNPattern.MatchString(v) {
				return whole(fmt.Sprintf("%q is not an IAM policy ARN", v))
			}
			s.QuarantinePolicyARN = v
			return nil
		},
	},
	{
		Env: "KILLSWITCH_OWN_ROLE_IDS", Type: StringList,
		Doc: "The unique IDs (AROA...) of the roles the stack created; the quarantine spares a role as the switch's own only by its ID, and checks their trust policies on every sweep. The stack sets it.",
		get: func(s *Settings) string { return strings.Join(s.OwnRoleIDs, ",") },
		set: func(s *Settings, v string) []Problem {
			var probs []Problem
			ids := []string{}
			for i, id := range splitList(v) {
				if !roleIDPattern.MatchString(id) {
					probs = append(probs, Problem{Item: i, Msg: fmt.Sprintf("must be an IAM role's unique ID like AROA1234567890EXAMPLE, got %q", id)})
					continue
				}
				ids = append(ids, id)
			}
			s.OwnRoleIDs = ids
			return probs
		},
	},
	{
		Env: "KILLSWITCH_BUDGET_NAME", Type: String,
		Doc: "The stack's own budget; an alert from any other budget does not trip. The stack sets it.",
		get: func(s *Settings) string { return s.BudgetName },
		set: func(s *Settings, v string) []Problem {
			if !budgetNamePattern.MatchString(v) {
				return whole(fmt.Sprintf("%q is not an AWS Budgets budget name", v))
			}
			s.BudgetName = v
			return nil
		},
	},
	{
		Env: "KILLSWITCH_ALARM_NAME", Type: String,
		Doc: "The stack's own billing alarm; any other alarm does not trip. The stack sets it.",
		get: func(s *Settings) string { return s.AlarmName },
		set: func(s *Settings, v string) []Problem {
			if !alarmNamePattern.MatchString(v) {
				return whole(fmt.Sprintf("%q is not a CloudWatch alarm name", v))
			}
			s.AlarmName = v
			return nil
		},
	},
	{
		Env: "KILLSWITCH_MANIFEST_BUCKET", Type: String,
		Doc: "The S3 bucket the function writes its restore manifest to before it changes anything; the stack sets it.",
		get: func(s *Settings) string { return s.ManifestBucket },
		set: func(s *Settings, v string) []Problem {
			if !bucketPattern.MatchString(v) || strings.Contains(v, "..") {
				return whole(fmt.Sprintf("%q is not an S3 bucket name", v))
			}
			s.ManifestBucket = v
			return nil
		},
	},
	{
		Env: "KILLSWITCH_CENTRAL_TOPIC_ARN", Type: String,
		Doc: "In an AWS Organization, the org stack's central topic, which also receives every report; the StackSet sets it.",
		get: func(s *Settings) string { return s.CentralTopicARN },
		set: func(s *Settings, v string) []Problem {
			if !topicARNPattern.MatchString(v) {
				return whole(fmt.Sprintf("%q is not an SNS topic ARN", v))
			}
			s.CentralTopicARN = v
			return nil
		},
	},
	// Not a knob: the stack sets it from slackWorkspaceId/slackChannelId, so
	// the function never sends Chatbot's JSON to a topic with no Chatbot.
	boolSetting("", "KILLSWITCH_SLACK_ENABLED",
		"Publish every message in AWS Chatbot's custom-notification format too (email keeps the plain text); the stack sets it when Slack is configured.",
		func(s *Settings) *bool { return &s.SlackEnabled }),
	{
		Env: "KILLSWITCH_NOTIFY_TOPIC_ARN", Type: String,
		Doc: "The notify topic's ARN; the stack sets it.",
		get: func(s *Settings) string { return s.NotifyTopicARN },
		set: func(s *Settings, v string) []Problem {
			if !topicARNPattern.MatchString(v) {
				return whole(fmt.Sprintf("%q is not an SNS topic ARN", v))
			}
			s.NotifyTopicARN = v
			return nil
		},
	},
	{
		Env: "KILLSWITCH_NOTIFY_EMAILS", Type: StringList,
		Doc: "The addresses subscribed to the notify topic (notificationEmails), which every sweep and the self-test check its subscriptions against; the stack sets it.",
		get: func(s *Settings) string { return strings.Join(s.NotifyEmails, ",") },
		set: func(s *Settings, v string) []Problem {
			var probs []Problem
			emails := []string{}
			for i, e := range splitList(v) {
				if !notifyEmailPattern.MatchString(e) {
					probs = append(probs, Problem{Item: i, Msg: fmt.Sprintf("must be an email address like you@example.com, got %q", e)})
					continue
				}
				emails = append(emails, e)
			}
			s.NotifyEmails = emails
			return probs
		},
	},
	{
		Env: "KILLSWITCH_TRIP_TOPIC_ARN", Type: String,
		Doc: "The trip topic's ARN, whose only subscriber must be the function; the stack sets it.",
		get: func(s *Settings) string { return s.TripTopicARN },
		set: func(s *Settings, v string) []Problem {
			if !topicARNPattern.MatchString(v) {
				return whole(fmt.Sprintf("%q is not an SNS topic ARN", v))
			}
			s.TripTopicARN = v
			return nil
		},
	},
}

// Variable names, for code that sets one variable (tests, the demo).
const (
	EnvAction               = "KILLSWITCH_ACTION"
	EnvTerminateUnstoppable = "KILLSWITCH_TERMINATE_UNSTOPPABLE"
	EnvOverrideProtection   = "KILLSWITCH_OVERRIDE_PROTECTION"
	EnvExemptInstanceIDs    = "KILLSWITCH_EXEMPT_INSTANCE_IDS"
	EnvDryRun               = "KILLSWITCH_DRY_RUN"
	EnvNotifyTopicARN       = "KILLSWITCH_NOTIFY_TOPIC_ARN"
	EnvCentralTopicARN      = "KILLSWITCH_CENTRAL_TOPIC_ARN"
	EnvTripOnForecast       = "KILLSWITCH_TRIP_ON_FORECAST"
	EnvRegionConcurrency    = "KILLSWITCH_REGION_CONCURRENCY"
	EnvRegionTimeout        = "KILLSWITCH_REGION_TIMEOUT"
	EnvDeadlineReserve      = "KILLSWITCH_DEADLINE_RESERVE"
	EnvExemptNames          = "KILLSWITCH_EXEMPT_NAMES"
	EnvStopDatabases        = "KILLSWITCH_STOP_DATABASES"
	EnvResweepMinutes       = "KILLSWITCH_RESWEEP_MINUTES"
	EnvLatchParameter       = "KILLSWITCH_LATCH_PARAMETER"
	EnvDisarmKeyARN         = "KILLSWITCH_DISARM_KEY_ARN"
	EnvQuarantine           = "KILLSWITCH_QUARANTINE"
	EnvQuarantinePolicyARN  = "KILLSWITCH_QUARANTINE_POLICY_ARN"
	EnvOwnRoleIDs           = "KILLSWITCH_OWN_ROLE_IDS"
	EnvBreakGlassARNs       = "KILLSWITCH_BREAK_GLASS_ARNS"
	EnvIAMLookbackDays      = "KILLSWITCH_IAM_LOOKBACK_DAYS"
	EnvDeactivateNewKeys    = "KILLSWITCH_DEACTIVATE_NEW_ACCESS_KEYS"
	EnvBudgetName           = "KILLSWITCH_BUDGET_NAME"
	EnvAlarmName            = "KILLSWITCH_ALARM_NAME"
	EnvSkipRegions          = "KILLSWITCH_SKIP_REGIONS"
	EnvCensusMinutes        = "KILLSWITCH_CENSUS_MINUTES"
	EnvMaxRunningInstances  = "KILLSWITCH_MAX_RUNNING_INSTANCES"
	EnvMaxVCPUs             = "KILLSWITCH_MAX_VCPUS"
	EnvMaxGPUs              = "KILLSWITCH_MAX_GPUS"
	EnvMaxHourlyBurnUSD     = "KILLSWITCH_MAX_HOURLY_BURN_USD"
	EnvMaxRegionsInUse      = "KILLSWITCH_MAX_REGIONS_IN_USE"
	EnvManifestBucket       = "KILLSWITCH_MANIFEST_BUCKET"
	EnvSlackEnabled         = "KILLSWITCH_SLACK_ENABLED"
	EnvNotifyEmails         = "KILLSWITCH_NOTIFY_EMAILS"
	EnvTripTopicARN         = "KILLSWITCH_TRIP_TOPIC_ARN"
)

func whole(msg string) []Problem { return []Problem{{Item: -1, Msg: msg}} }

func boolSetting(key, env, doc string, field func(*Settings) *bool) Setting {
	return Setting{Key: key, Env: env, Type: Bool, Doc: doc,
		get: func(s *Settings) string { return strconv.FormatBool(*field(s)) },
		set: func(s *Settings, v string) []Problem {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return whole(fmt.Sprintf("must be true or false, got %q", v))
			}
			*field(s) = b
			return nil
		},
	}
}

// intSetting is a whole number from lo to hi.
func intSetting(key, env string, lo, hi int, doc string, field func(*Settings) *int) Setting {
	return Setting{Key: key, Env: env, Type: Int, Doc: doc,
		get: func(s *Settings) string { return strconv.Itoa(*field(s)) },
		set: func(s *Settings, v string) []Problem {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return whole(fmt.Sprintf("must be a whole number from %d to %d, got %q", lo, hi, v))
			}
			*field(s) = n
			return nil
		},
	}
}

func durationSetting(key, env, doc string, field func(*Settings) *time.Duration) Setting {
	return Setting{Key: key, Env: env, Type: Duration, Doc: doc,
		get: func(s *Settings) string { return field(s).String() },
		set: func(s *Settings, v string) []Problem {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return whole(fmt.Sprintf("must be a positive duration such as \"90s\", got %q", v))
			}
			*field(s) = d
			return nil
		},
	}
}

func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// ByKey finds a knob by its cdk.json key.
func ByKey(key string) (Setting, bool) {
	for _, st := range All {
		if st.Key != "" && st.Key == key {
			return st, true
		}
	}
	return Setting{}, false
}

// Default is the setting's default, as its variable would hold it.
func (st Setting) Default() string {
	d := Default()
	return st.get(&d)
}

// Set parses v (in the variable's form: "true", "90s", "a,b") into s.
func (st Setting) Set(s *Settings, v string) []Problem {
	return st.set(s, strings.TrimSpace(v))
}

// Get formats the setting's value in s in the variable's form.
func (st Setting) Get(s *Settings) string { return st.get(s) }

// Load reads the settings through getenv (os.Getenv in production), and
// reports every bad variable at once, each by name.
func Load(getenv func(string) string) (Settings, error) {
	s := Default()
	var problems []string
	for _, st := range All {
		v := strings.TrimSpace(getenv(st.Env))
		if v == "" {
			continue
		}
		for _, p := range st.Set(&s, v) {
			problems = append(problems, st.Env+": "+p.Msg)
		}
	}
	if len(problems) > 0 {
		return s, fmt.Errorf("invalid killswitch settings: %s", strings.Join(problems, "; "))
	}
	return s, nil
}

// Environment is the function's environment for s: every variable of the
// table, so the deployed function never falls back to a default silently.
func (s Settings) Environment() map[string]string {
	env := make(map[string]string, len(All))
	for _, st := range All {
		env[st.Env] = st.get(&s)
	}
	return env
}
