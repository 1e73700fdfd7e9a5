// Package settings reads the Lambda's KILLSWITCH_* environment. The CDK app
// validates the same values at synth time; this is the last line of defence
// against a hand-edited function, and it names the variable that is wrong.
package settings

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/engine"
)

// Settings is the Lambda's whole configuration.
type Settings struct {
	Policy engine.Policy
	// NotifyTopicARN receives the human-readable report; empty means the
	// report is only logged.
	NotifyTopicARN string
	// TripOnForecast lets a FORECASTED budget alert act, not only report.
	TripOnForecast bool
	// RegionConcurrency bounds how many regions are swept at once.
	RegionConcurrency int
	// RegionTimeout bounds one region's sweep.
	RegionTimeout time.Duration
	// DeadlineReserve is kept back from the Lambda deadline to publish a
	// partial report.
	DeadlineReserve time.Duration
}

// Variable names, with their defaults in Load.
const (
	EnvAction               = "KILLSWITCH_ACTION"
	EnvTerminateUnstoppable = "KILLSWITCH_TERMINATE_UNSTOPPABLE"
	EnvOverrideProtection   = "KILLSWITCH_OVERRIDE_PROTECTION"
	EnvExemptInstanceIDs    = "KILLSWITCH_EXEMPT_INSTANCE_IDS"
	EnvDryRun               = "KILLSWITCH_DRY_RUN"
	EnvNotifyTopicARN       = "KILLSWITCH_NOTIFY_TOPIC_ARN"
	EnvTripOnForecast       = "KILLSWITCH_TRIP_ON_FORECAST"
	EnvRegionConcurrency    = "KILLSWITCH_REGION_CONCURRENCY"
	EnvRegionTimeout        = "KILLSWITCH_REGION_TIMEOUT"
	EnvDeadlineReserve      = "KILLSWITCH_DEADLINE_RESERVE"
)

var (
	instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	topicARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$`)
)

// Load reads the settings through getenv (os.Getenv in production), and
// reports every bad variable at once.
func Load(getenv func(string) string) (Settings, error) {
	s := Settings{
		Policy: engine.Policy{
			Action:               engine.ActionStop,
			TerminateUnstoppable: true,
			OverrideProtection:   true,
			Exempt:               map[string]bool{},
		},
		RegionConcurrency: 32,
		RegionTimeout:     4 * time.Minute,
		DeadlineReserve:   10 * time.Second,
	}
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}

	if v := strings.TrimSpace(getenv(EnvAction)); v != "" {
		a, err := engine.ParseAction(strings.ToLower(v))
		if err != nil {
			bad(EnvAction, "%v", err)
		}
		s.Policy.Action = a
	}
	boolVar := func(name string, dst *bool) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(name, "want true or false, got %q", v)
			return
		}
		*dst = b
	}
	boolVar(EnvTerminateUnstoppable, &s.Policy.TerminateUnstoppable)
	boolVar(EnvOverrideProtection, &s.Policy.OverrideProtection)
	boolVar(EnvDryRun, &s.Policy.DryRun)
	boolVar(EnvTripOnForecast, &s.TripOnForecast)

	for _, id := range strings.Split(getenv(EnvExemptInstanceIDs), ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if !instanceIDPattern.MatchString(id) {
			bad(EnvExemptInstanceIDs, "%q is not an EC2 instance ID (i- followed by 8 or 17 hex digits)", id)
			continue
		}
		s.Policy.Exempt[id] = true
	}

	if v := strings.TrimSpace(getenv(EnvNotifyTopicARN)); v != "" {
		if !topicARNPattern.MatchString(v) {
			bad(EnvNotifyTopicARN, "%q is not an SNS topic ARN", v)
		}
		s.NotifyTopicARN = v
	}

	if v := strings.TrimSpace(getenv(EnvRegionConcurrency)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			bad(EnvRegionConcurrency, "want a whole number from 1 to 64, got %q", v)
		} else {
			s.RegionConcurrency = n
		}
	}
	durationVar := func(name string, dst *time.Duration) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(name, "want a positive duration such as 90s, got %q", v)
			return
		}
		*dst = d
	}
	durationVar(EnvRegionTimeout, &s.RegionTimeout)
	durationVar(EnvDeadlineReserve, &s.DeadlineReserve)

	if len(problems) > 0 {
		return s, fmt.Errorf("invalid killswitch settings: %s", strings.Join(problems, "; "))
	}
	return s, nil
}
