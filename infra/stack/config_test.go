package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/settings"
)

func TestInvalidConfigFailsWithItsMessage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		block     string
		overrides map[string]any
		want      []string
	}{
		{"negative budget", `{"budgetUsd":-5}`, nil,
			[]string{"killswitch.budgetUsd: must be greater than 0, got -5"}},
		{"zero trip threshold", `{"tripThresholdPercent":0}`, nil,
			[]string{"killswitch.tripThresholdPercent: must be greater than 0, got 0"}},
		{"trip threshold below a warning threshold", `{"tripThresholdPercent":70}`, nil,
			[]string{"killswitch.warningThresholdsPercent[1]: must be below tripThresholdPercent (70), got 80"}},
		{"warning equal to trip", `{"warningThresholdsPercent":[100]}`, nil,
			[]string{"killswitch.warningThresholdsPercent[0]: must be below tripThresholdPercent (100), got 100"}},
		{"negative forecast", `{"forecastWarningThresholdsPercent":[-1]}`, nil,
			[]string{"killswitch.forecastWarningThresholdsPercent[0]: must be greater than 0, got -1"}},
		{"duplicate warning", `{"warningThresholdsPercent":[50,50]}`, nil,
			[]string{"killswitch.warningThresholdsPercent[1]: duplicate threshold 50"}},
		{"too many notifications", `{"warningThresholdsPercent":[10,20,30,40,50,60,70],"forecastWarningThresholdsPercent":[90,100,110]}`, nil,
			[]string{"killswitch.warningThresholdsPercent: too many budget notifications: 11 (the trip, 7 warning(s), 3 forecast(s)), AWS Budgets allows at most 10"}},
		{"malformed email", `{"notificationEmails":["ops@example.com","not-an-email"]}`, nil,
			[]string{`killswitch.notificationEmails[1]: must be a plain email address like you@example.com, got "not-an-email"`}},
		{"email with display name", `{"notificationEmails":["Ops <ops@example.com>"]}`, nil,
			[]string{`killswitch.notificationEmails[0]: must be a plain email address`}},
		{"too many emails", `{"notificationEmails":["a1@x.io","a2@x.io","a3@x.io","a4@x.io","a5@x.io","a6@x.io","a7@x.io","a8@x.io","a9@x.io","a10@x.io","a11@x.io"]}`, nil,
			[]string{"killswitch.notificationEmails: at most 10 addresses"}},
		{"unknown action", `{"action":"nuke"}`, nil,
			[]string{`killswitch.action: must be "stop" or "terminate", got "nuke"`}},
		{"instance ID not i-", `{"exemptInstanceIds":["i-0123456789abcdef0","0123456789abcdef0"]}`, nil,
			[]string{`killswitch.exemptInstanceIds[1]: must be an EC2 instance ID like i-0123456789abcdef0, got "0123456789abcdef0"`}},
		{"instance ID wrong length", `{"exemptInstanceIds":["i-0123456789"]}`, nil,
			[]string{`killswitch.exemptInstanceIds[0]: must be an EC2 instance ID`}},
		{"unknown key (typo)", `{"budgetUSD":20}`, nil,
			[]string{"killswitch.budgetUSD: unknown key (known keys: budgetUsd,"}},
		{"wrong type", `{"budgetUsd":"ten"}`, nil,
			[]string{`killswitch.budgetUsd: must be a number, got "ten"`}},
		{"null", `{"dryRun":null}`, nil,
			[]string{"killswitch.dryRun: must be true or false, got null"}},
		{"billing alarm threshold zero", `{"billingAlarmThresholdUsd":0}`, nil,
			[]string{"killswitch.billingAlarmThresholdUsd: must be greater than 0, got 0"}},
		{"slack channel without workspace", `{"slackChannelId":"C0123ABCD"}`, nil,
			[]string{"killswitch.slackWorkspaceId: must be set when slackChannelId is set"}},
		{"slack workspace without channel", `{"slackWorkspaceId":"T0123ABCD"}`, nil,
			[]string{"killswitch.slackChannelId: must be set when slackWorkspaceId is set"}},
		{"region timeout not below the function timeout", `{"regionTimeout":"5m"}`, nil,
			[]string{"killswitch.regionTimeout: must be shorter than the function's 5m0s timeout, got 5m0s"}},
		{"deadline reserve not below half the function timeout", `{"deadlineReserve":"2m30s"}`, nil,
			[]string{"killswitch.deadlineReserve: must be shorter than half the function's 5m0s timeout, got 2m30s"}},
		{"region timeout not a duration", `{"regionTimeout":"soon"}`, nil,
			[]string{`killswitch.regionTimeout: must be a positive duration such as "90s", got "soon"`}},
		{"deadline reserve a number", `{"deadlineReserve":10}`, nil,
			[]string{`killswitch.deadlineReserve: must be a duration such as "90s", got 10`}},
		{"region concurrency out of range", `{"regionConcurrency":0}`, nil,
			[]string{`killswitch.regionConcurrency: must be a whole number from 1 to 64, got "0"`}},
		{"resweep minutes out of range", `{"resweepMinutes":61}`, nil,
			[]string{`killswitch.resweepMinutes: must be a whole number from 1 to 60, got "61"`}},
		{"resweep minutes not whole", `{"resweepMinutes":1.5}`, nil,
			[]string{`killswitch.resweepMinutes: must be a whole number from 1 to 60, got "1.5"`}},
		{"exempt name with a space", `{"exemptNames":["owner-asg","my asg"]}`, nil,
			[]string{`killswitch.exemptNames[1]: must be a resource name or ID`}},
		{"exempt name with a comma", `{"exemptNames":["a,b"]}`, nil,
			[]string{`killswitch.exemptNames[0]: must not contain a comma, got "a,b"`}},
		{"stop databases a string", `{"stopDatabases":"yes"}`, nil,
			[]string{`killswitch.stopDatabases: must be true or false, got "yes"`}},
		{"per-key override: region timeout too long", "", map[string]any{"regionTimeout": "6m"},
			[]string{"killswitch.regionTimeout: must be shorter than the function's 5m0s timeout, got 6m0s"}},
		{"per-key override: bad resweep", "", map[string]any{"resweepMinutes": "0"},
			[]string{`killswitch.resweepMinutes: must be a whole number from 1 to 60, got "0"`}},
		{"not an object", `[1,2]`, nil,
			[]string{"killswitch: must be a JSON object of settings"}},
		{"several problems at once", `{"budgetUsd":-5,"action":"nuke"}`, nil,
			[]string{"killswitch.budgetUsd: must be greater than 0, got -5", `killswitch.action: must be "stop" or "terminate", got "nuke"`}},
		{"type error and rule error together", `{"budgetUsd":"x","action":"nuke"}`, nil,
			[]string{`killswitch.budgetUsd: must be a number, got "x"`, `killswitch.action: must be "stop" or "terminate", got "nuke"`}},
		{"per-key override: bad value", "", map[string]any{"budgetUsd": "-5"},
			[]string{"killswitch.budgetUsd: must be greater than 0, got -5"}},
		{"per-key override: not a number", "", map[string]any{"budgetUsd": "lots"},
			[]string{`killswitch.budgetUsd: must be a number, got "lots"`}},
		{"per-key override: unknown key", "", map[string]any{"budget": "20"},
			[]string{"killswitch.budget: unknown key"}},
		{"per-key override: bad email", "", map[string]any{"notificationEmails": "a@example.com,b@"},
			[]string{`killswitch.notificationEmails[1]: must be a plain email address like you@example.com, got "b@"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var block any
			if tc.block != "" {
				block = tc.block
			}
			_, err := stack.ParseConfig(block, tc.overrides)
			if err == nil {
				t.Fatalf("config %s %v: want an error, got none", tc.block, tc.overrides)
			}
			if strings.Contains(tc.name, "budget") && strings.Contains(err.Error(), "billingAlarmThresholdUsd") {
				t.Errorf("a bad budget must not also blame the derived billingAlarmThresholdUsd:\n%v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestCrossRulesAcceptTheLargestValidValues: the rules that tie settings to
// the function's timeout refuse only what cannot work.
func TestCrossRulesAcceptTheLargestValidValues(t *testing.T) {
	cfg, err := stack.ParseConfig(`{"regionTimeout":"4m59s","deadlineReserve":"2m29s"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RegionTimeout != 4*time.Minute+59*time.Second || cfg.DeadlineReserve != 2*time.Minute+29*time.Second {
		t.Errorf("got %v, %v", cfg.RegionTimeout, cfg.DeadlineReserve)
	}
	// A Config built in code is checked by the same rules.
	c := stack.DefaultConfig()
	c.RegionTimeout = stack.FunctionTimeout
	c.DeadlineReserve = stack.FunctionTimeout / 2
	err = c.Validate()
	for _, want := range []string{"killswitch.regionTimeout: must be shorter", "killswitch.deadlineReserve: must be shorter than half"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: want %q, got %v", want, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	want := stack.Config{
		Settings: settings.Settings{
			Action: "stop", TerminateUnstoppable: true, OverrideProtection: true,
			ExemptInstanceIDs: []string{}, DryRun: false, TripOnForecast: false,
			RegionConcurrency: 32, RegionTimeout: 4 * time.Minute, DeadlineReserve: 10 * time.Second,
			ExemptNames: []string{}, StopDatabases: false, ResweepMinutes: 10,
			Quarantine: "deny-launch", BreakGlassARNs: []string{}, OwnRoleIDs: []string{}, NotifyEmails: []string{}, IAMLookbackDays: 7,
			BudgetName: stack.BudgetName, AlarmName: stack.BillingAlarmName,
			CensusMinutes: 5, MaxRunningInstances: 10, MaxVCPUs: 32, MaxGPUs: 0, MaxHourlyBurnUSD: 5, MaxRegionsInUse: 3,
			SkipRegions: []string{},
		},
		BudgetUSD: 10, TripThresholdPercent: 100,
		WarningThresholdsPercent: []float64{50, 80}, ForecastWarningThresholdsPercent: []float64{100},
		NotificationEmails: []string{}, BillingAlarm: true, BillingAlarmThresholdUSD: 10, Dashboard: true,
	}
	for name, block := range map[string]any{"nil": nil, "empty object": map[string]any{}, "empty string": "", "empty JSON": "{}"} {
		got, err := stack.ParseConfig(block, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// TestCdkJSONBlockIsValidAndMatchesDefaults keeps cdk.json honest: its block
// must parse, and it documents the defaults.
func TestCdkJSONBlockIsValidAndMatchesDefaults(t *testing.T) {
	root, err := stack.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.App != "go run ./infra" {
		t.Errorf(`cdk.json app = %q, want "go run ./infra"`, doc.App)
	}
	got, err := stack.ParseConfig(doc.Context["killswitch"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, stack.DefaultConfig()) {
		t.Errorf("cdk.json killswitch block:\n got %+v\nwant defaults %+v", got, stack.DefaultConfig())
	}
	// Every knob is written out, in its default, so that cdk.json is the
	// list of what can be set.
	block, _ := doc.Context["killswitch"].(map[string]any)
	for _, st := range settings.All {
		if st.Key == "" {
			continue
		}
		v, ok := block[st.Key]
		if !ok {
			t.Errorf("cdk.json lacks %q (default %q)", st.Key, st.Default())
			continue
		}
		var asVariable string
		switch v := v.(type) {
		case []any:
			items := make([]string, len(v))
			for i, item := range v {
				items[i] = fmt.Sprint(item)
			}
			asVariable = strings.Join(items, ",")
		default:
			asVariable = fmt.Sprint(v)
		}
		if asVariable != st.Default() {
			t.Errorf("cdk.json %s = %v, want the default written as %q", st.Key, v, st.Default())
		}
	}
}

func TestConfigOverrides(t *testing.T) {
	got, err := stack.ParseConfig(
		map[string]any{"budgetUsd": 50.0, "notificationEmails": []any{"ops@example.com"}},
		map[string]any{
			"budgetUsd":                "20",
			"action":                   "terminate",
			"dryRun":                   "true",
			"warningThresholdsPercent": "40,60",
			"exemptInstanceIds":        "i-0123456789abcdef0, i-12345678",
			"notificationEmails":       `["a@example.com","b@example.com"]`,
			"slackWorkspaceId":         "T0123ABCD",
			"slackChannelId":           "C0123ABCD",
			"exemptNames":              "owner-asg, prod/web",
			"stopDatabases":            "true",
			"resweepMinutes":           "5",
			"tripOnForecast":           "true",
			"regionConcurrency":        "8",
			"regionTimeout":            "90s",
			"deadlineReserve":          "20s",
		})
	if err != nil {
		t.Fatal(err)
	}
	want := stack.DefaultConfig()
	want.BudgetUSD = 20
	want.BillingAlarmThresholdUSD = 20
	want.Action = "terminate"
	want.DryRun = true
	want.WarningThresholdsPercent = []float64{40, 60}
	want.ExemptInstanceIDs = []string{"i-0123456789abcdef0", "i-12345678"}
	want.NotificationEmails = []string{"a@example.com", "b@example.com"}
	want.SlackWorkspaceID, want.SlackChannelID = "T0123ABCD", "C0123ABCD"
	want.ExemptNames = []string{"owner-asg", "prod/web"}
	want.StopDatabases = true
	want.ResweepMinutes = 5
	want.TripOnForecast = true
	want.RegionConcurrency = 8
	want.RegionTimeout = 90 * time.Second
	want.DeadlineReserve = 20 * time.Second
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}

	// A whole block given as a JSON string, as `-c killswitch='{...}'` does.
	got, err = stack.ParseConfig(`{"budgetUsd":25,"billingAlarmThresholdUsd":7.5}`, nil)
	if err != nil || got.BudgetUSD != 25 || got.BillingAlarmThresholdUSD != 7.5 {
		t.Errorf("JSON string block: %+v, %v", got, err)
	}
}

// TestConfigFromContext goes through the CDK context, as the app does.
func TestConfigFromContext(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{
		"killswitch":           map[string]any{"budgetUsd": 30, "action": "terminate"},
		"killswitch.budgetUsd": "40",
		"unrelated":            "x",
	}})
	cfg, err := stack.ConfigFromContext(app.Node())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BudgetUSD != 40 || cfg.Action != "terminate" || cfg.BillingAlarmThresholdUSD != 40 {
		t.Errorf("got %+v", cfg)
	}

	app = awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{"killswitch": `{"budgetUsd":-5}`}})
	if _, err := stack.ConfigFromContext(app.Node()); err == nil || !strings.Contains(err.Error(), "killswitch.budgetUsd") {
		t.Errorf("want a budgetUsd error, got %v", err)
	}
}
