package stack_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
)

// declaredCalls reads a package of the function as source (infra must not
// import it) and returns the AWS actions its client interfaces declare.
func declaredCalls(t *testing.T, dir string) map[string]bool {
	t.Helper()
	root, err := stack.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	calls := map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if it, ok := n.(*ast.InterfaceType); ok {
				for _, m := range it.Methods.List {
					if a := actionOf(m); a != "" {
						calls[a] = true
					}
				}
			}
			return true
		})
	}
	return calls
}

// Every call the census and the self-test can make is allowed on the
// function's role: a missing one would only show in AWS, as a census that
// cannot see (or a self-test that reports a loss that is not one). The
// census's own statements are on the role, and nothing it adds can change
// anything.
func TestCensusPermissions(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	allowed := map[string]bool{}
	bySid := map[string]map[string]any{}
	for _, st := range b.roleStatements(b.functionRole(t)) {
		if st["Effect"] != "Allow" {
			continue
		}
		for _, a := range list(st["Action"]) {
			allowed[a.(string)] = true
		}
		if sid, ok := st["Sid"].(string); ok {
			bySid[sid] = st
		}
	}
	want := map[string]bool{}
	for _, dir := range []string{"internal/census", "internal/selftest", "internal/integrity", "internal/latch"} {
		for a := range declaredCalls(t, dir) {
			want[a] = true
		}
	}
	for _, a := range []string{"ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "ecs:DescribeClusters", "ec2:StopInstances", "sns:GetTopicAttributes", "ssm:GetParameter"} {
		if !want[a] {
			t.Errorf("the source scan did not find %s: it is broken", a)
		}
	}
	for a := range want {
		if !allowed[a] {
			t.Errorf("the census or self-test calls %s, which the function's role does not allow", a)
		}
	}
	for _, s := range stack.CensusPermissions.Statements {
		got := bySid[s.Sid]
		if got == nil {
			t.Errorf("role has no statement %s", s.Sid)
			continue
		}
		for _, a := range s.Actions {
			if !strings.Contains(a, ":Describe") && !strings.Contains(a, ":List") && !strings.Contains(a, ":Get") {
				t.Errorf("%s: %s is not a read", s.Sid, a)
			}
		}
	}
	topic := bySid["SelfTestReadsTheNotifyTopic"]
	if topic == nil || !reflectEqualJSON(topic["Resource"], ref(b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName))) ||
		!reflectEqualJSON(topic["Action"], "sns:GetTopicAttributes") {
		t.Errorf("self-test topic statement = %v, want sns:GetTopicAttributes on the notify topic only", topic)
	}
}

// The caps are validated at synth, each error naming its key, and reach
// the function's environment.
func TestCensusCapsAreValidatedAtSynth(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{"censusMinutes", "0", "killswitch.censusMinutes: must be a whole number from 1 to 60"},
		{"censusMinutes", "61", "killswitch.censusMinutes: must be a whole number from 1 to 60"},
		{"maxGPUs", "-1", "killswitch.maxGPUs: must be a whole number from 0 to"},
		{"maxRunningInstances", "0", "killswitch.maxRunningInstances: must be a whole number from 1 to"},
		{"maxVCPUs", "lots", "killswitch.maxVCPUs"},
		{"maxHourlyBurnUSD", "2.5", "killswitch.maxHourlyBurnUSD"},
		{"maxRegionsInUse", "0", "killswitch.maxRegionsInUse: must be a whole number from 1 to 64"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			_, err := stack.ParseConfig(map[string]any{}, map[string]any{tc.key: tc.value})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	cfg, err := stack.ParseConfig(map[string]any{"maxGPUs": 2, "censusMinutes": 3, "maxHourlyBurnUSD": 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxGPUs != 2 || cfg.CensusMinutes != 3 || cfg.MaxHourlyBurnUSD != 40 || cfg.MaxRunningInstances != 10 {
		t.Errorf("config = %+v", cfg.Settings)
	}
	env := build(t, cfg, "us-east-1").functionEnv(t)
	for k, v := range map[string]string{"KILLSWITCH_MAX_GPUS": "2", "KILLSWITCH_CENSUS_MINUTES": "3", "KILLSWITCH_MAX_HOURLY_BURN_USD": "40",
		"KILLSWITCH_MAX_RUNNING_INSTANCES": "10", "KILLSWITCH_MAX_VCPUS": "32", "KILLSWITCH_MAX_REGIONS_IN_USE": "3"} {
		if env[k] != v {
			t.Errorf("function environment %s = %v, want %s", k, env[k], v)
		}
	}
}

// ScheduledEventFile is the event the integration tests deliver as the
// schedule: this test holds it to the synthesised template's schedule
// input, byte for byte, so the census and re-sweep tests run on exactly
// what EventBridge Scheduler sends.
const scheduledEventFile = "tests/testdata/scheduled-event.json"

func TestScheduledEventFileIsTheTemplatesInput(t *testing.T) {
	root, err := stack.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, scheduledEventFile))
	if err != nil {
		t.Fatal(err)
	}
	b := build(t, stack.DefaultConfig(), "us-east-1")
	sched := b.one(t, "AWS::Scheduler::Schedule", "Name", stack.ResweepScheduleName)
	input := b.props(sched)["Target"].(map[string]any)["Input"]
	if got := strings.TrimSuffix(string(raw), "\n"); input != got {
		t.Errorf("%s holds %q, the template's schedule sends %q: write the template's input there", scheduledEventFile, got, input)
	}
}
