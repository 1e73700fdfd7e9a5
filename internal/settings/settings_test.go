package settings_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/settings"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	s, err := settings.Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	p := s.Policy
	if p.Action != engine.ActionStop || !p.TerminateUnstoppable || !p.OverrideProtection || p.DryRun || len(p.Exempt) != 0 {
		t.Errorf("policy = %+v, want stop, terminate-unstoppable, override, no dry run, no exemptions", p)
	}
	if s.NotifyTopicARN != "" || s.TripOnForecast {
		t.Errorf("settings = %+v", s)
	}
	if s.RegionConcurrency < 1 || s.RegionTimeout <= 0 || s.DeadlineReserve <= 0 {
		t.Errorf("tuning defaults = %d, %v, %v", s.RegionConcurrency, s.RegionTimeout, s.DeadlineReserve)
	}
}

func TestLoadParsesEachVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		vars  map[string]string
		check func(settings.Settings) bool
	}{
		{"action terminate", map[string]string{settings.EnvAction: "terminate"},
			func(s settings.Settings) bool { return s.Policy.Action == engine.ActionTerminate }},
		{"action is trimmed and case-insensitive", map[string]string{settings.EnvAction: " TERMINATE "},
			func(s settings.Settings) bool { return s.Policy.Action == engine.ActionTerminate }},
		{"terminate-unstoppable off", map[string]string{settings.EnvTerminateUnstoppable: "false"},
			func(s settings.Settings) bool { return !s.Policy.TerminateUnstoppable }},
		{"override protection off", map[string]string{settings.EnvOverrideProtection: "false"},
			func(s settings.Settings) bool { return !s.Policy.OverrideProtection }},
		{"dry run on", map[string]string{settings.EnvDryRun: "true"},
			func(s settings.Settings) bool { return s.Policy.DryRun }},
		{"trip on forecast", map[string]string{settings.EnvTripOnForecast: "TRUE"},
			func(s settings.Settings) bool { return s.TripOnForecast }},
		{"exempt IDs, 8 and 17 digits, spaces and empty items", map[string]string{settings.EnvExemptInstanceIDs: " i-0123abcd, ,i-0123456789abcdef0,"},
			func(s settings.Settings) bool {
				return maps.Equal(s.Policy.Exempt, map[string]bool{"i-0123abcd": true, "i-0123456789abcdef0": true})
			}},
		{"notify topic", map[string]string{settings.EnvNotifyTopicARN: "arn:aws:sns:eu-west-1:111122223333:killswitch-notify"},
			func(s settings.Settings) bool {
				return s.NotifyTopicARN == "arn:aws:sns:eu-west-1:111122223333:killswitch-notify"
			}},
		{"GovCloud topic", map[string]string{settings.EnvNotifyTopicARN: "arn:aws-us-gov:sns:us-gov-west-1:111122223333:n.fifo"},
			func(s settings.Settings) bool { return s.NotifyTopicARN != "" }},
		{"region concurrency", map[string]string{settings.EnvRegionConcurrency: "7"},
			func(s settings.Settings) bool { return s.RegionConcurrency == 7 }},
		{"region timeout", map[string]string{settings.EnvRegionTimeout: "90s"},
			func(s settings.Settings) bool { return s.RegionTimeout == 90*time.Second }},
		{"deadline reserve", map[string]string{settings.EnvDeadlineReserve: "1m30s"},
			func(s settings.Settings) bool { return s.DeadlineReserve == 90*time.Second }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := settings.Load(env(tc.vars))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tc.check(s) {
				t.Errorf("settings = %+v", s)
			}
		})
	}
}

func TestLoadNamesTheBadVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
	}{
		{settings.EnvAction, "explode"},
		{settings.EnvAction, "none"},
		{settings.EnvTerminateUnstoppable, "yes please"},
		{settings.EnvOverrideProtection, "yes please"},
		{settings.EnvDryRun, "yes please"},
		{settings.EnvTripOnForecast, "maybe"},
		{settings.EnvExemptInstanceIDs, "x-123"},
		{settings.EnvExemptInstanceIDs, "i-0123456789abcdef0,i-XYZ"},
		{settings.EnvNotifyTopicARN, "killswitch-notify"},
		{settings.EnvNotifyTopicARN, "arn:aws:sqs:us-east-1:111122223333:q"},
		{settings.EnvRegionConcurrency, "0"},
		{settings.EnvRegionConcurrency, "65"},
		{settings.EnvRegionConcurrency, "many"},
		{settings.EnvRegionTimeout, "-1s"},
		{settings.EnvRegionTimeout, "0s"},
		{settings.EnvDeadlineReserve, "10"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			_, err := settings.Load(env(map[string]string{tc.name: tc.value}))
			if err == nil {
				t.Fatalf("Load accepted %s=%q", tc.name, tc.value)
			}
			if !strings.Contains(err.Error(), tc.name) {
				t.Errorf("error %q does not name %s", err, tc.name)
			}
		})
	}
}

func TestLoadReportsEveryBadVariable(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		settings.EnvAction:            "explode",
		settings.EnvDryRun:            "yes please",
		settings.EnvExemptInstanceIDs: "x-123",
		settings.EnvNotifyTopicARN:    "not-an-arn",
		settings.EnvRegionConcurrency: "0",
		settings.EnvRegionTimeout:     "-1s",
	}
	_, err := settings.Load(env(bad))
	if err == nil {
		t.Fatal("Load accepted bad settings")
	}
	for name := range bad {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), settings.EnvDeadlineReserve) {
		t.Errorf("error names a variable that was fine: %v", err)
	}
}
