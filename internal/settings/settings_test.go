package settings_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

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
	if s.Action != settings.ActionStop || !s.TerminateUnstoppable || !s.OverrideProtection || s.DryRun || len(s.ExemptInstanceIDs) != 0 || len(s.ExemptNames) != 0 || s.StopDatabases {
		t.Errorf("settings = %+v, want stop, terminate-unstoppable, override, no dry run, no exemptions, databases left alone", s)
	}
	if s.NotifyTopicARN != "" || s.TripOnForecast {
		t.Errorf("settings = %+v", s)
	}
	if s.Quarantine != settings.QuarantineDenyLaunch || s.QuarantinePolicyARN != "" || len(s.BreakGlassARNs) != 0 ||
		s.IAMLookbackDays != 7 || s.DeactivateNewAccessKeys || s.BudgetName != "killswitch-monthly" || s.AlarmName != "killswitch-estimated-charges" {
		t.Errorf("guard defaults = %+v, want deny-launch, no policy wired, no break-glass, 7 days, keys left active, the stack's own budget and alarm", s)
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
			func(s settings.Settings) bool { return s.Action == settings.ActionTerminate }},
		{"action is trimmed and case-insensitive", map[string]string{settings.EnvAction: " TERMINATE "},
			func(s settings.Settings) bool { return s.Action == settings.ActionTerminate }},
		{"terminate-unstoppable off", map[string]string{settings.EnvTerminateUnstoppable: "false"},
			func(s settings.Settings) bool { return !s.TerminateUnstoppable }},
		{"override protection off", map[string]string{settings.EnvOverrideProtection: "false"},
			func(s settings.Settings) bool { return !s.OverrideProtection }},
		{"dry run on", map[string]string{settings.EnvDryRun: "true"},
			func(s settings.Settings) bool { return s.DryRun }},
		{"trip on forecast", map[string]string{settings.EnvTripOnForecast: "TRUE"},
			func(s settings.Settings) bool { return s.TripOnForecast }},
		{"exempt IDs, 8 and 17 digits, spaces and empty items", map[string]string{settings.EnvExemptInstanceIDs: " i-0123abcd, ,i-0123456789abcdef0,"},
			func(s settings.Settings) bool {
				return slices.Equal(s.ExemptInstanceIDs, []string{"i-0123abcd", "i-0123456789abcdef0"})
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
		{"exempt names", map[string]string{settings.EnvExemptNames: "owner-asg, prod/web ,my-fn"},
			func(s settings.Settings) bool {
				return slices.Equal(s.ExemptNames, []string{"owner-asg", "prod/web", "my-fn"})
			}},
		{"skip regions", map[string]string{settings.EnvSkipRegions: "eu-south-2, me-central-1"},
			func(s settings.Settings) bool {
				return slices.Equal(s.SkipRegions, []string{"eu-south-2", "me-central-1"})
			}},
		{"stop databases", map[string]string{settings.EnvStopDatabases: "true"},
			func(s settings.Settings) bool { return s.StopDatabases }},
		{"resweep minutes", map[string]string{settings.EnvResweepMinutes: "1"},
			func(s settings.Settings) bool { return s.ResweepMinutes == 1 }},
		{"latch parameter", map[string]string{settings.EnvLatchParameter: "/killswitch/latch"},
			func(s settings.Settings) bool { return s.LatchParameter == "/killswitch/latch" }},
		{"quarantine off", map[string]string{settings.EnvQuarantine: "OFF"},
			func(s settings.Settings) bool { return s.Quarantine == settings.QuarantineOff }},
		{"quarantine policy", map[string]string{settings.EnvQuarantinePolicyARN: "arn:aws:iam::111122223333:policy/killswitch-quarantine"},
			func(s settings.Settings) bool {
				return s.QuarantinePolicyARN == "arn:aws:iam::111122223333:policy/killswitch-quarantine"
			}},
		{"break-glass user and role with a path", map[string]string{settings.EnvBreakGlassARNs: "arn:aws:iam::111122223333:user/bg , arn:aws:iam::111122223333:role/ops/break-glass"},
			func(s settings.Settings) bool {
				return slices.Equal(s.BreakGlassARNs, []string{"arn:aws:iam::111122223333:user/bg", "arn:aws:iam::111122223333:role/ops/break-glass"})
			}},
		{"own role IDs", map[string]string{settings.EnvOwnRoleIDs: "AROA1234567890EXAMPLE, AROAZZZZ99999999ABCDE"},
			func(s settings.Settings) bool {
				return slices.Equal(s.OwnRoleIDs, []string{"AROA1234567890EXAMPLE", "AROAZZZZ99999999ABCDE"})
			}},
		{"iam look-back", map[string]string{settings.EnvIAMLookbackDays: "30"},
			func(s settings.Settings) bool { return s.IAMLookbackDays == 30 }},
		{"deactivate new keys", map[string]string{settings.EnvDeactivateNewKeys: "true"},
			func(s settings.Settings) bool { return s.DeactivateNewAccessKeys }},
		{"own budget and alarm names", map[string]string{settings.EnvBudgetName: "my budget", settings.EnvAlarmName: "my/alarm"},
			func(s settings.Settings) bool { return s.BudgetName == "my budget" && s.AlarmName == "my/alarm" }},
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
		{settings.EnvExemptNames, "has space"},
		{settings.EnvStopDatabases, "sometimes"},
		{settings.EnvSkipRegions, "Europe"},
		{settings.EnvSkipRegions, "eu-south-2,eu-south-2"},
		{settings.EnvResweepMinutes, "0"},
		{settings.EnvResweepMinutes, "61"},
		{settings.EnvLatchParameter, "no spaces allowed"},
		{settings.EnvQuarantine, "deny-all"},
		{settings.EnvQuarantinePolicyARN, "arn:aws:iam::111122223333:role/not-a-policy"},
		{settings.EnvBreakGlassARNs, "arn:aws:iam::111122223333:group/admins"},
		{settings.EnvBreakGlassARNs, "arn:aws:iam::111122223333:root"},
		{settings.EnvBreakGlassARNs, strings.Repeat("arn:aws:iam::111122223333:user/u,", 11)},
		{settings.EnvOwnRoleIDs, "AIDA1234567890EXAMPLE"},
		{settings.EnvOwnRoleIDs, "arn:aws:iam::111122223333:role/killswitch/killswitch-function"},
		{settings.EnvIAMLookbackDays, "0"},
		{settings.EnvIAMLookbackDays, "91"},
		{settings.EnvDeactivateNewKeys, "please"},
		{settings.EnvBudgetName, "has:colon"},
		{settings.EnvAlarmName, "line\nbreak"},
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

// Every setting round-trips through its variable: what Environment writes,
// Load reads back to the same settings. The CDK app writes the function's
// environment this way, so a value set in cdk.json reaches the function.
func TestEnvironmentRoundTrips(t *testing.T) {
	t.Parallel()
	s := settings.Default()
	s.Action = settings.ActionTerminate
	s.TerminateUnstoppable = false
	s.OverrideProtection = false
	s.ExemptInstanceIDs = []string{"i-0123abcd", "i-0123456789abcdef0"}
	s.DryRun = true
	s.TripOnForecast = true
	s.RegionConcurrency = 5
	s.RegionTimeout = 75 * time.Second
	s.DeadlineReserve = 20 * time.Second
	s.ExemptNames = []string{"owner-asg"}
	s.StopDatabases = true
	s.ResweepMinutes = 3
	s.LatchParameter = "/killswitch/latch"
	s.NotifyTopicARN = "arn:aws:sns:us-east-1:111122223333:killswitch-notify"
	s.Quarantine = settings.QuarantineOff
	s.QuarantinePolicyARN = "arn:aws:iam::111122223333:policy/killswitch-quarantine"
	s.BreakGlassARNs = []string{"arn:aws:iam::111122223333:role/break-glass"}
	s.IAMLookbackDays = 3
	s.DeactivateNewAccessKeys = true
	s.BudgetName = "other-budget"
	s.AlarmName = "other-alarm"

	env := s.Environment()
	if len(env) != len(settings.All) {
		t.Errorf("environment has %d variables, the table %d", len(env), len(settings.All))
	}
	got, err := settings.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
}

// The table is the one definition: every key and variable is unique, every
// default passes its own rule, and every field of Settings has a row.
func TestTableIsConsistent(t *testing.T) {
	t.Parallel()
	keys, envs := map[string]bool{}, map[string]bool{}
	for _, st := range settings.All {
		if st.Key != "" && keys[st.Key] || envs[st.Env] {
			t.Errorf("duplicate %q / %q", st.Key, st.Env)
		}
		keys[st.Key], envs[st.Env] = true, true
		if !strings.HasPrefix(st.Env, "KILLSWITCH_") || st.Doc == "" {
			t.Errorf("%s: want a KILLSWITCH_ name and a doc line", st.Env)
		}
		d := settings.Default()
		if def := st.Default(); def != "" {
			if probs := st.Set(&d, def); len(probs) > 0 {
				t.Errorf("%s: default %q breaks its own rule: %v", st.Env, def, probs)
			}
		}
	}
	if n := reflect.TypeOf(settings.Settings{}).NumField(); n != len(settings.All) {
		t.Errorf("Settings has %d fields but the table %d rows: a field without a row cannot be set", n, len(settings.All))
	}
}
