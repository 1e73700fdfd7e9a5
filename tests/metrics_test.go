package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/metrics"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/chain"
	"github.com/killswitch/killswitch/tests/internal/lambdarun"
)

// logSink collects the function's output and wakes waiters on each write:
// the bootstrap writes its metrics just before it answers, and the pipe
// from the emulator may deliver them a moment after the answer.
type logSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newLogSink() *logSink { return &logSink{wrote: make(chan struct{}, 1)} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.buf.Write(p)
	s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// emfSince returns the complete EMF lines written after offset, and their
// bytes, checking each against the format.
func (s *logSink) emfSince(t *testing.T, offset int) (lines [][]metrics.Point, size int) {
	t.Helper()
	s.mu.Lock()
	out := bytes.Clone(s.buf.Bytes()[offset:])
	s.mu.Unlock()
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i+1]
	} else {
		return nil, 0
	}
	for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		pts, err := metrics.Decode(line)
		if err == metrics.ErrNotEMF {
			continue
		}
		if err != nil {
			t.Fatalf("an invalid EMF line: %v\n%s", err, line)
		}
		lines = append(lines, pts)
		size += len(line) + 1
	}
	return lines, size
}

func (s *logSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

// invokeForMetrics invokes the function with event and returns its result
// and the EMF lines it wrote, waiting (within ctx) for as many lines as
// the result says it wrote.
func invokeForMetrics(ctx context.Context, t *testing.T, f *lambdarun.Function, sink *logSink, event string) (*handler.Result, [][]metrics.Point, int) {
	t.Helper()
	offset := sink.len()
	raw, err := f.Invoke(ctx, []byte(event))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var res handler.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("result: %v: %s", err, raw)
	}
	want := len(handler.Records(&res))
	for {
		lines, size := sink.emfSince(t, offset)
		if len(lines) >= want {
			if len(lines) > want {
				t.Errorf("%d EMF lines, the result accounts for %d", len(lines), want)
			}
			return &res, lines, size
		}
		select {
		case <-sink.wrote:
		case <-ctx.Done():
			t.Fatalf("the function wrote %d of its %d EMF lines", len(lines), want)
		}
	}
}

// TestMetricsFromTheRealBootstrap runs the shipped bootstrap under the
// Lambda runtime emulator against moto, with the exact scheduled event:
// first a census of a quiet account (with the day's self-test), then,
// after an attack is seeded, a census that trips and sweeps. The function's
// stdout must carry valid EMF lines for every metric the dashboard and
// the alarms read, in the namespace and dimensions internal/metrics
// defines, with the seeded attack's numbers.
func TestMetricsFromTheRealBootstrap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin, cfg := realChain(ctx, t)
	box, err := newInbox(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := newLogSink()
	ch, err := chain.Start(ctx, chain.Options{Config: cfg, MotoURL: motoServer.URL, Bin: bin,
		NotifyTopicARN: box.topicARN, FunctionLogs: sink, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("emulator and bootstrap output (tail):\n%s", ch.Function.Logs())
		}
		ch.Close()
	})
	event := strings.TrimSpace(scheduledEvent(t))

	// 1. A quiet account: the census sees nothing, the self-test is due.
	quiet, quietLines, quietBytes := invokeForMetrics(ctx, t, ch.Function, sink, event)
	if quiet.Census == nil || quiet.SelfTest == nil || quiet.Tripped {
		t.Fatalf("first run: census %v, self-test %v, tripped %v; want a census and the self-test", quiet.Census != nil, quiet.SelfTest != nil, quiet.Tripped)
	}

	// 2. The attack: 8 × p3.2xlarge (8 vCPUs, 1 GPU each) over 4 regions,
	// past maxRegionsInUse (3), maxGPUs (0) and more.
	plan := attack.Plan{Regions: []string{"us-east-1", "eu-west-1", "ap-east-1", "me-south-1"}, Instances: 8, PerLaunch: 2}
	seeded, err := attack.Seed(ctx, cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	trip, tripLines, tripBytes := invokeForMetrics(ctx, t, ch.Function, sink, event)
	if !trip.Tripped || trip.Report == nil {
		t.Fatalf("the census did not trip: %+v", trip.Breaches)
	}

	all := append(append([][]metrics.Point{}, quietLines...), tripLines...)
	for _, m := range stack.DashboardMetrics() {
		found := false
		for _, line := range all {
			for _, p := range line {
				found = found || p.Matches(m)
			}
		}
		if !found {
			t.Errorf("the dashboard reads %s, which the function never wrote", m.ID())
		}
	}

	// The numbers are the attack's.
	total := map[string]float64{}
	perRegion := map[string]map[string]float64{}
	contained := map[string]float64{}
	for _, line := range tripLines {
		for _, p := range line {
			switch {
			case len(p.Dimensions) == 0:
				total[p.Name] = p.Value
			case p.Dimensions[metrics.DimRegion] != "":
				if perRegion[p.Name] == nil {
					perRegion[p.Name] = map[string]float64{}
				}
				perRegion[p.Name][p.Dimensions[metrics.DimRegion]] = p.Value
			default:
				contained[p.Dimensions[metrics.DimKind]+"/"+p.Dimensions[metrics.DimVerb]] += p.Value
			}
		}
	}
	n := float64(len(seeded.Attackers()))
	for name, want := range map[string]float64{
		metrics.RunningInstances.Name: n, metrics.VCPUs.Name: 8 * n, metrics.GPUs.Name: n,
		metrics.RegionsInUse.Name: float64(len(plan.Regions)), metrics.ScheduledRuns.Name: 1, metrics.Trips.Name: 1,
		metrics.Tripped.Name: 1, metrics.ResourcesContained.Name: n, metrics.SweepFailures.Name: 0,
	} {
		if got, ok := total[name]; !ok || got != want {
			t.Errorf("%s = %v (written %v), want %v", name, got, ok, want)
		}
	}
	if len(perRegion[metrics.RegionRunningInstances.Name]) != len(plan.Regions) {
		t.Errorf("running instances written for regions %v, want exactly %v", perRegion[metrics.RegionRunningInstances.Name], plan.Regions)
	}
	for _, r := range plan.Regions {
		ids := float64(len(seeded.ByRegion[r]))
		if perRegion[metrics.RegionRunningInstances.Name][r] != ids || perRegion[metrics.RegionVCPUs.Name][r] != 8*ids {
			t.Errorf("%s: %v instances, %v vCPUs; want %v and %v", r, perRegion[metrics.RegionRunningInstances.Name][r], perRegion[metrics.RegionVCPUs.Name][r], ids, 8*ids)
		}
	}
	if contained["EC2 instances/stopped"] != n {
		t.Errorf("contained by kind and verb %v, want %v EC2 instances stopped", contained, n)
	}

	// What the metrics cost in log bytes: one census of a quiet account
	// (plus the day's self-test), and one of 4 regions in use that trips.
	t.Logf("EMF log bytes: quiet census + self-test: %d bytes in %d line(s); census of %d regions in use + trip: %d bytes in %d line(s)",
		quietBytes, len(quietLines), len(plan.Regions), tripBytes, len(tripLines))
}
