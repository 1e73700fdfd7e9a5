package stack_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/manifest"
	"github.com/killswitch/killswitch/internal/metrics"
)

// The "no scheduled run" alarm and `killswitch status`'s overdue census
// wait the same number of missed runs, so they never disagree.
func TestNoCensusAlarmAndStatusAgree(t *testing.T) {
	if stack.NoCensusPeriods != manifest.OverdueAfter {
		t.Errorf("the alarm waits %d periods, status calls the census overdue after %d runs", stack.NoCensusPeriods, manifest.OverdueAfter)
	}
}

// dashboardBody is the synthesised dashboard's body as JSON: the
// Fn::Join's literal parts, with each token (the function's name, the
// region) as "TOKEN".
func dashboardBody(t *testing.T, b built) map[string]any {
	t.Helper()
	id := b.one(t, "AWS::CloudWatch::Dashboard", "DashboardName", stack.DashboardName)
	raw := b.props(id)["DashboardBody"]
	var sb strings.Builder
	switch v := raw.(type) {
	case string:
		sb.WriteString(v)
	case map[string]any:
		join := v["Fn::Join"].([]any)
		for _, part := range join[1].([]any) {
			if s, ok := part.(string); ok {
				sb.WriteString(s)
			} else {
				sb.WriteString("TOKEN")
			}
		}
	default:
		t.Fatalf("DashboardBody is %T", raw)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(sb.String()), &body); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, sb.String())
	}
	return body
}

// read is one metric a widget reads: namespace, name and dimension names
// (values aside: a SEARCH reads every value).
type read struct{ ns, name, dims string }

func (r read) String() string { return r.ns + ":" + r.name + "[" + r.dims + "]" }

func readOf(m metrics.Metric) read {
	return read{metrics.Namespace, m.Name, strings.Join(m.Dimensions, ",")}
}

var searchExpr = regexp.MustCompile(`^SEARCH\('\{([^}]*)\} MetricName="([^"]+)"', '(\w+)', (\d+)\)$`)

// widgetReads lists what the body's metric widgets read, and its
// horizontal annotations by label.
func widgetReads(t *testing.T, body map[string]any) (map[read]bool, map[string]float64) {
	t.Helper()
	reads, caps := map[read]bool{}, map[string]float64{}
	for _, w := range body["widgets"].([]any) {
		props, _ := w.(map[string]any)["properties"].(map[string]any)
		lines, _ := props["metrics"].([]any)
		for _, line := range lines {
			items := line.([]any)
			if opts, ok := items[0].(map[string]any); ok {
				expr, _ := opts["expression"].(string)
				sm := searchExpr.FindStringSubmatch(expr)
				if sm == nil {
					t.Errorf("expression %q is not a SEARCH of one metric", expr)
					continue
				}
				schema := strings.Split(sm[1], ",")
				reads[read{schema[0], sm[2], strings.Join(schema[1:], ",")}] = true
				continue
			}
			var strs []string
			for _, it := range items {
				if s, ok := it.(string); ok {
					strs = append(strs, s)
				}
			}
			var dims []string
			for i := 2; i+1 < len(strs); i += 2 {
				dims = append(dims, strs[i])
			}
			reads[read{strs[0], strs[1], strings.Join(dims, ",")}] = true
		}
		if ann, ok := props["annotations"].(map[string]any); ok {
			for _, h := range list(ann["horizontal"]) {
				hm := h.(map[string]any)
				caps[hm["label"].(string)] = hm["value"].(float64)
			}
		}
	}
	return reads, caps
}

// The dashboard reads exactly stack.DashboardMetrics (the list the
// integration test holds the function's output to), by the namespace,
// names and dimensions of internal/metrics; it draws each census cap at
// the configured value; and it shows the function's errors and throttles.
func TestDashboardReadsTheFunctionsMetrics(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.MaxVCPUs, cfg.MaxHourlyBurnUSD = 48, 7
	b := build(t, cfg, "us-east-1")
	body := dashboardBody(t, b)
	reads, caps := widgetReads(t, body)

	want := map[read]bool{}
	for _, m := range stack.DashboardMetrics() {
		if !slices.ContainsFunc(metrics.All(), func(d metrics.Metric) bool { return d.ID() == m.ID() }) {
			t.Errorf("DashboardMetrics lists %s, which internal/metrics does not define", m.ID())
		}
		want[readOf(m)] = true
	}
	for r := range want {
		if !reads[r] {
			t.Errorf("the dashboard does not read %s", r)
		}
	}
	for r := range reads {
		if r.ns == metrics.Namespace && !want[r] {
			t.Errorf("the dashboard reads %s, which DashboardMetrics does not list", r)
		}
	}
	for _, name := range []string{"Errors", "Throttles", "Invocations"} {
		if !reads[read{"AWS/Lambda", name, "FunctionName"}] {
			t.Errorf("the dashboard does not show the function's %s", name)
		}
	}

	wantCaps := map[string]int{
		census.CapHourlyBurnUSD: 7, census.CapVCPUs: 48, census.CapRunningInstances: cfg.MaxRunningInstances,
		census.CapGPUs: cfg.MaxGPUs, census.CapRegionsInUse: cfg.MaxRegionsInUse,
	}
	for name, v := range wantCaps {
		label := fmt.Sprintf("%s = %d (trips above)", name, v)
		if got, ok := caps[label]; !ok || got != float64(v) {
			t.Errorf("no cap line %q at %d; lines: %v", label, v, caps)
		}
	}
	if len(caps) != len(wantCaps) {
		t.Errorf("cap lines %v, want one per census cap", caps)
	}
	if t.Failed() {
		raw, _ := json.MarshalIndent(body, "", " ")
		t.Logf("body:\n%s", raw)
	}
}

// The three health alarms exist, notify the notify topic (and nothing
// else), and read what they should; the notify topic lets exactly them
// publish. With the dashboard off they stay.
func TestHealthAlarms(t *testing.T) {
	noDashboard := stack.DefaultConfig()
	noDashboard.Dashboard = false
	for _, tc := range []struct {
		name      string
		cfg       stack.Config
		dashboard bool
	}{
		{"default", stack.DefaultConfig(), true},
		{"dashboard off", noDashboard, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, tc.cfg, "us-east-1")
			if n := len(b.ofType("AWS::CloudWatch::Dashboard")); n != map[bool]int{true: 1, false: 0}[tc.dashboard] {
				t.Errorf("%d dashboard(s), want dashboard=%v", n, tc.dashboard)
			}
			notify := b.one(t, "AWS::SNS::Topic", "TopicName", stack.NotifyTopicName)
			fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
			interval := float64(tc.cfg.ScheduleMinutes() * 60)
			tests := []struct {
				alarm                   string
				ns, metric              string
				dims                    []any
				stat, cmp, missing      string
				threshold, period, eval float64
			}{
				{stack.FunctionErrorsAlarm, "AWS/Lambda", "Errors", []any{map[string]any{"Name": "FunctionName", "Value": ref(fn)}},
					"Sum", "GreaterThanOrEqualToThreshold", "notBreaching", 1, interval, stack.FunctionErrorsPeriods},
				{stack.SelfTestAlarm, metrics.Namespace, metrics.SelfTestPassed.Name, nil,
					"Minimum", "LessThanThreshold", "ignore", 1, 3600, 1},
				{stack.NoCensusAlarm, metrics.Namespace, metrics.ScheduledRuns.Name, nil,
					"Sum", "LessThanThreshold", "breaching", 1, interval, stack.NoCensusPeriods},
			}
			for _, w := range tests {
				id := b.one(t, "AWS::CloudWatch::Alarm", "AlarmName", w.alarm)
				p := b.props(id)
				if !jsonEqual(p["AlarmActions"], []any{ref(notify)}) {
					t.Errorf("%s: actions %v, want the notify topic alone", w.alarm, p["AlarmActions"])
				}
				got := []any{p["Namespace"], p["MetricName"], p["Statistic"], p["ComparisonOperator"], p["TreatMissingData"], p["Threshold"], p["Period"], p["EvaluationPeriods"]}
				wantProps := []any{w.ns, w.metric, w.stat, w.cmp, w.missing, w.threshold, w.period, w.eval}
				if !jsonEqual(got, wantProps) {
					t.Errorf("%s: %v, want %v", w.alarm, got, wantProps)
				}
				if !jsonEqual(p["Dimensions"], w.dims) {
					t.Errorf("%s: dimensions %v, want %v", w.alarm, p["Dimensions"], w.dims)
				}
				if p["DatapointsToAlarm"] != nil && p["DatapointsToAlarm"] != p["EvaluationPeriods"] {
					t.Errorf("%s: %v of %v datapoints alarm, want all", w.alarm, p["DatapointsToAlarm"], p["EvaluationPeriods"])
				}
			}

			// The topic policy lets CloudWatch publish for these alarms only.
			var allowed []string
			for _, id := range b.ofType("AWS::SNS::TopicPolicy") {
				if !containsAny(list(b.props(id)["Topics"]), ref(notify)) {
					continue
				}
				for _, s := range b.props(id)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					sm := s.(map[string]any)
					if sm["Sid"] != "AllowOnlyTheKillSwitchHealthAlarms" {
						continue
					}
					if !jsonEqual(sm["Principal"], map[string]any{"Service": "cloudwatch.amazonaws.com"}) || sm["Effect"] != "Allow" {
						t.Errorf("statement %v", sm)
					}
					arns := sm["Condition"].(map[string]any)["ArnEquals"].(map[string]any)["aws:SourceArn"]
					for _, a := range list(arns) {
						j, _ := json.Marshal(a)
						allowed = append(allowed, string(j))
					}
				}
			}
			sort.Strings(allowed)
			var wantARNs []string
			for _, name := range stack.HealthAlarms {
				j, _ := json.Marshal(cfnResource("arn:${Partition}:cloudwatch:${Region}:${Account}:alarm:" + name))
				wantARNs = append(wantARNs, string(j))
			}
			sort.Strings(wantARNs)
			if !slices.Equal(allowed, wantARNs) {
				t.Errorf("the notify topic lets CloudWatch publish for %v, want the health alarms %v", allowed, wantARNs)
			}
		})
	}
}
