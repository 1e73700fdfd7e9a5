package handler_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/metrics"
	"github.com/killswitch/killswitch/internal/selftest"
)

// emitted reads back every metric point the handler wrote, keyed by the
// metric's ID and its dimension values.
func emitted(t *testing.T, out []byte) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		pts, err := metrics.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, p := range pts {
			key := p.Name
			for _, d := range []string{metrics.DimRegion, metrics.DimKind, metrics.DimVerb} {
				if v, ok := p.Dimensions[d]; ok {
					key += "/" + d + "=" + v
				}
			}
			if _, dup := got[key]; dup {
				t.Errorf("%s written twice", key)
			}
			got[key] = p.Value
		}
	}
	return got
}

// Every path of the handler writes its metrics once, from its Result: the
// census, a census trip, a budget trip, a dry run, a re-sweep that catches
// a relaunch, a failed self-test, a disarm.
func TestHandleWritesTheRunsMetrics(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	since := t0.Add(-time.Hour)
	normal := census.Census{Instances: 2, VCPUs: 4, HourlyBurnUSD: 0.02, RegionsInUse: 1, RegionsRead: 17, Calls: 40, Duration: 1500 * time.Millisecond,
		Regions: []census.RegionCount{
			{Region: "us-east-1", Instances: 2, VCPUs: 4, HourlyBurnUSD: 0.02, Types: map[string]int{"t3.micro": 2}},
			{Region: "eu-west-1"}, // read, nothing running: no record
		}}
	gpus := census.Census{Instances: 3, VCPUs: 24, GPUs: 3, HourlyBurnUSD: 9.18, RegionsInUse: 1, RegionsRead: 17,
		Regions: []census.RegionCount{{Region: "ap-east-1", Instances: 3, VCPUs: 24, GPUs: 3, HourlyBurnUSD: 9.18, Types: map[string]int{"p3.2xlarge": 3}}}}
	broken := selftest.Result{Checks: []selftest.Check{{Name: "stop instances in eu-west-1", Problem: "permission LOST"}, {Name: "topic", OK: true}}}
	tripped := latch.State{Tripped: true, Since: since, Reason: "budget", Resweeps: 4, Relaunches: 2, LastSelfTest: t0}

	tests := []struct {
		name     string
		event    string // "" is the budget alert
		latch    latch.State
		census   census.Census
		selfTest selftest.Result
		dryRun   bool
		want     map[string]float64
		absent   []string
	}{
		{name: "census of normal use, self-test passes", event: scheduledEvent, census: normal,
			want: map[string]float64{"ScheduledRuns": 1, "RunningInstances": 2, "VCPUs": 4, "GPUs": 0, "HourlyBurnUSD": 0.02,
				"RegionsInUse": 1, "CensusRegionsFailed": 0, "CensusAPICalls": 40, "CensusDuration": 1500,
				"RunningInstances/Region=us-east-1": 2, "VCPUs/Region=us-east-1": 4, "GPUs/Region=us-east-1": 0, "HourlyBurnUSD/Region=us-east-1": 0.02,
				"Tripped": 0, "Resweeps": 0, "RelaunchesCaught": 0, "SelfTestPassed": 1, "SelfTestChecksFailed": 0},
			absent: []string{"RunningInstances/Region=eu-west-1", "Trips", "SweepDuration"}},
		{name: "self-test fails", event: scheduledEvent, census: normal, selfTest: broken,
			want: map[string]float64{"SelfTestPassed": 0, "SelfTestChecksFailed": 1}},
		{name: "the census trips on a GPU", event: scheduledEvent, census: gpus, latch: latch.State{LastSelfTest: t0},
			want: map[string]float64{"ScheduledRuns": 1, "GPUs": 3, "GPUs/Region=ap-east-1": 3, "Trips": 1, "ResourcesContained": 1,
				"SweepFailures": 0, "SweepRegionsFailed": 0, "SweepDuration": 0,
				"ResourcesContained/Kind=EC2 instances/Verb=stopped": 1, "Tripped": 1, "Resweeps": 0},
			absent: []string{"SelfTestPassed"}},
		{name: "a budget alert trips", want: map[string]float64{"Trips": 1, "ResourcesContained": 1, "Tripped": 1,
			"ResourcesContained/Kind=EC2 instances/Verb=stopped": 1},
			absent: []string{"ScheduledRuns", "RunningInstances"}},
		{name: "a dry run is no trip", dryRun: true, want: map[string]float64{"ResourcesContained": 1,
			"ResourcesContained/Kind=EC2 instances/Verb=would stop": 1},
			absent: []string{"Trips", "Tripped"}},
		{name: "a re-sweep catches a relaunch", event: scheduledEvent, latch: tripped,
			want:   map[string]float64{"ScheduledRuns": 1, "ResourcesContained": 1, "Tripped": 1, "Resweeps": 5, "RelaunchesCaught": 3},
			absent: []string{"Trips", "RunningInstances"}},
		{name: "a disarm", event: string(disarmEvent(t, newFakeKMS(), since, t0, "clean")), latch: tripped,
			want: map[string]float64{"Tripped": 0}, absent: []string{"ScheduledRuns", "Trips"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			store, c := &memLatch{st: tc.latch}, &clock{t: t0}
			cfg := latchConfig(t, store, c)
			cfg.Census, cfg.Caps, cfg.SelfTest = &fakeCensus{c: tc.census}, hobbyCaps, &fakeSelfTest{res: tc.selfTest}
			cfg.Policy.DryRun = tc.dryRun
			cfg.Metrics = metrics.NewWriter(&out, c.now)
			event := []byte(tc.event)
			if tc.event == "" {
				event = budgetActual(t)
			}
			if _, err := handler.New(&fakeSweeper{}, &fakePublisher{}, cfg, quiet()).Handle(context.Background(), event); err != nil {
				t.Fatal(err)
			}
			got := emitted(t, out.Bytes())
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (written %v), want %v", k, g, ok, v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s written, want none", k)
				}
			}
			if t.Failed() {
				t.Logf("written:\n%s", out.String())
			}
		})
	}
}

// A run that fails still writes what it did: the failed sweep's failures
// are the point of the metric.
func TestHandleWritesMetricsWhenTheSweepFails(t *testing.T) {
	t.Parallel()
	sw := &fakeSweeper{report: func(_ context.Context, p engine.Policy) *engine.Report {
		rep := &engine.Report{Regions: []engine.RegionReport{
			{Region: "us-east-1", Kinds: []engine.KindReport{{Kind: "EC2 instances", Noun: "instance", Found: 2, Outcomes: []engine.Outcome{
				{ID: "i-1", Verb: stopVerb, Status: engine.StatusDone}, {ID: "i-2", Verb: stopVerb, Status: engine.StatusFailed, Code: "UnauthorizedOperation"}}}}},
			{Region: "eu-west-1", Error: "not reached", NotReached: true}}}
		rep.Retally()
		return rep
	}}
	var out bytes.Buffer
	cfg := defaults(t)
	cfg.Metrics = metrics.NewWriter(&out, nil)
	_, err := handler.New(sw, &fakePublisher{}, cfg, quiet()).Handle(context.Background(), budgetActual(t))
	if err == nil {
		t.Fatal("a failed sweep returned no error")
	}
	got := emitted(t, out.Bytes())
	for k, v := range map[string]float64{"Trips": 1, "ResourcesContained": 1, "SweepFailures": 1, "SweepRegionsFailed": 1,
		"ResourcesContained/Kind=EC2 instances/Verb=stopped": 1} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// A writer that fails costs the metrics, never the run.
func TestHandleSurvivesAFailedMetricsWriter(t *testing.T) {
	t.Parallel()
	cfg := defaults(t)
	cfg.Metrics = metrics.NewWriter(failingWriter{}, nil)
	res, err := handler.New(&fakeSweeper{}, &fakePublisher{}, cfg, quiet()).Handle(context.Background(), budgetActual(t))
	if err != nil || res == nil || !res.Tripped || !res.Notified {
		t.Fatalf("res %+v, err %v: want the trip done and reported", res, err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

// What the metrics add to the log per census: one line of totals and one
// per region in use, so the bytes grow with the regions in use only (an
// attack of 300 instances in 17 regions costs what 17 instances do).
func TestCensusMetricsBytes(t *testing.T) {
	t.Parallel()
	regions := []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2",
		"eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-southeast-1", "ap-southeast-2", "af-south-1", "ap-east-1", "me-south-1"}
	base := 0
	for _, inUse := range []int{0, 1, 4, 17} {
		c := census.Census{RegionsRead: 38, Calls: 120, Duration: 2345 * time.Millisecond}
		for i, r := range regions {
			rc := census.RegionCount{Region: r}
			if i < inUse {
				rc = census.RegionCount{Region: r, Instances: 18, VCPUs: 144, GPUs: 18, HourlyBurnUSD: 55.08}
				c.Instances, c.VCPUs, c.GPUs, c.HourlyBurnUSD, c.RegionsInUse = c.Instances+18, c.VCPUs+144, c.GPUs+18, c.HourlyBurnUSD+55.08, c.RegionsInUse+1
			}
			c.Regions = append(c.Regions, rc)
		}
		res := &handler.Result{Census: &c, Latch: &latch.State{}, Triggers: []handler.TriggerLine{{Source: "schedule"}}}
		var out bytes.Buffer
		n, err := metrics.NewWriter(&out, nil).Emit(handler.Records(res))
		if err != nil {
			t.Fatal(err)
		}
		if lines := bytes.Count(out.Bytes(), []byte("\n")); lines != 1+inUse {
			t.Errorf("%d regions in use: %d lines, want %d", inUse, lines, 1+inUse)
		}
		if inUse == 0 {
			base = n
		} else if per := (n - base) / inUse; per > 400 {
			t.Errorf("%d regions in use: %d bytes a region, want at most 400", inUse, per)
		}
		t.Logf("census metrics, %2d region(s) in use: %5d bytes in %d line(s)", inUse, n, 1+inUse)
	}
}
