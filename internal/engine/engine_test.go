package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/engine"
)

// fakeRegions is a hand-written RegionLister.
type fakeRegions struct {
	regions []string
	err     error
}

func (f fakeRegions) EnabledRegions(context.Context) ([]string, error) { return f.regions, f.err }

// fakeKind is a hand-written Kind whose behaviour is set per region.
type fakeKind struct {
	name string
	// found lists resources by region; a resource whose ID starts with
	// "refuse-" is refused, "term-" terminated, anything else stopped.
	found map[string][]engine.Resource
	// findErr and panicIn make Find fail or panic in a region.
	findErr map[string]error
	panicIn map[string]bool
	// partial is what Find returns along with its findErr, as a paginated
	// listing does when a later page fails.
	partial map[string][]engine.Resource
	// findHook runs at the start of every Find.
	findHook func(ctx context.Context, region string) error
	// outcome, if set, overrides the default "done" outcome of a decision.
	outcome func(d engine.Decision) engine.Outcome

	mu          sync.Mutex
	findCalls   []string
	containToDo map[string][]engine.Decision
}

var _ engine.Kind = (*fakeKind)(nil)

func (k *fakeKind) Name() string { return k.name }
func (k *fakeKind) Noun() string { return "thing" }

var (
	verbStop = engine.Verb{Past: "stopped", Plan: "stop"}
	verbTerm = engine.Verb{Past: "terminated", Plan: "terminate"}
)

func (k *fakeKind) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	k.mu.Lock()
	k.findCalls = append(k.findCalls, region)
	k.mu.Unlock()
	if k.findHook != nil {
		if err := k.findHook(ctx, region); err != nil {
			return nil, err
		}
	}
	if k.panicIn[region] {
		panic("fake kind exploded in " + region)
	}
	if err := k.findErr[region]; err != nil {
		return k.partial[region], err
	}
	return k.found[region], nil
}

func (k *fakeKind) Decide(r engine.Resource) engine.Decision {
	switch {
	case strings.HasPrefix(r.ID, "refuse-"):
		return engine.Leave(r, "left alone by the kind")
	case strings.HasPrefix(r.ID, "term-"):
		return engine.Act(r, verbTerm, "cannot be stopped")
	}
	return engine.Act(r, verbStop, "action is stop")
}

func (k *fakeKind) Contain(_ context.Context, region string, todo []engine.Decision) []engine.Outcome {
	k.mu.Lock()
	if k.containToDo == nil {
		k.containToDo = map[string][]engine.Decision{}
	}
	k.containToDo[region] = append(k.containToDo[region], todo...)
	k.mu.Unlock()
	var outs []engine.Outcome
	for _, d := range todo {
		if d.Leave {
			panic("Contain got a Leave")
		}
		o := engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone}
		if k.outcome != nil {
			o = k.outcome(d)
		}
		outs = append(outs, o)
	}
	return outs
}

func (k *fakeKind) containCalls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.containToDo)
}

func res(ids ...string) []engine.Resource {
	var out []engine.Resource
	for _, id := range ids {
		out = append(out, engine.Resource{ID: id, State: "running"})
	}
	return out
}

func regionNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("xx-test-%02d", i))
	}
	return out
}

func newEngine(regions engine.RegionLister, opts engine.Options, kinds ...engine.Kind) *engine.Engine {
	return engine.New(regions, kinds, opts)
}

var stopPolicy = engine.Policy{}

func regionByName(t *testing.T, rep *engine.Report, name string) engine.RegionReport {
	t.Helper()
	for _, rr := range rep.Regions {
		if rr.Region == name {
			return rr
		}
	}
	t.Fatalf("region %s missing from report", name)
	return engine.RegionReport{}
}

func TestRunSweepsEveryRegionWithinConcurrencyBound(t *testing.T) {
	t.Parallel()
	for _, conc := range []int{1, 3, 8} {
		t.Run(fmt.Sprint("concurrency ", conc), func(t *testing.T) {
			t.Parallel()
			regions := regionNames(20)
			var inFlight, maxInFlight atomic.Int32
			reached := make(chan struct{})
			var once sync.Once
			k := &fakeKind{name: "things", found: map[string][]engine.Resource{}}
			for _, r := range regions {
				k.found[r] = res("i-" + r)
			}
			k.findHook = func(ctx context.Context, region string) error {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				if n >= int32(conc) {
					once.Do(func() { close(reached) })
				}
				// Hold every region until the bound has been reached once,
				// so that a sweep that is not concurrent cannot pass.
				select {
				case <-reached:
				case <-time.After(5 * time.Second):
					return errors.New("the concurrency bound was never reached")
				}
				time.Sleep(2 * time.Millisecond)
				return nil
			}
			e := newEngine(fakeRegions{regions: regions}, engine.Options{Concurrency: conc}, k)

			rep := e.Run(context.Background(), stopPolicy)

			if err := rep.Err(); err != nil {
				t.Fatalf("Err = %v", err)
			}
			if got := maxInFlight.Load(); got != int32(conc) {
				t.Errorf("max regions in flight = %d, want exactly %d", got, conc)
			}
			if got := slices.Sorted(slices.Values(k.findCalls)); !slices.Equal(got, regions) {
				t.Errorf("Find called for %v, want every region once", got)
			}
			if rep.Totals.Regions != 20 || rep.Totals.ByLabel["stopped"] != 20 || rep.Totals.Found != 20 {
				t.Errorf("totals = %+v", rep.Totals)
			}
		})
	}
}

func TestRunIsolatesRegionFailures(t *testing.T) {
	t.Parallel()
	regions := []string{"ap-south-1", "eu-west-1", "us-east-1", "us-west-2"}
	k := &fakeKind{
		name:    "things",
		found:   map[string][]engine.Resource{"ap-south-1": res("a1", "a2"), "us-east-1": res("u1"), "us-west-2": res("w1")},
		findErr: map[string]error{"eu-west-1": errors.New("AuthFailure: region not enabled")},
		panicIn: map[string]bool{"us-west-2": true},
	}
	e := newEngine(fakeRegions{regions: regions}, engine.Options{}, k)

	rep := e.Run(context.Background(), stopPolicy)

	if got := rep.FailedRegions(); !slices.Equal(got, []string{"eu-west-1", "us-west-2"}) {
		t.Errorf("FailedRegions = %v", got)
	}
	err := rep.Err()
	if err == nil || !strings.Contains(err.Error(), "eu-west-1") || !strings.Contains(err.Error(), "us-west-2") {
		t.Errorf("Err = %v, want it to name eu-west-1 and us-west-2", err)
	}
	eu := regionByName(t, rep, "eu-west-1")
	if len(eu.Kinds) != 1 || !strings.Contains(eu.Kinds[0].Error, "AuthFailure") || !strings.Contains(eu.Kinds[0].Error, "things") {
		t.Errorf("eu-west-1 = %+v", eu)
	}
	usw := regionByName(t, rep, "us-west-2")
	if !strings.Contains(usw.Error, "internal error") || !strings.Contains(usw.Error, "exploded") {
		t.Errorf("us-west-2 error = %q, want the recovered panic", usw.Error)
	}
	if rep.Totals.ByLabel["stopped"] != 3 || rep.Totals.RegionsFailed != 2 || rep.Totals.Regions != 4 {
		t.Errorf("totals = %+v, want 3 stopped in the healthy regions, 2 regions failed", rep.Totals)
	}
	if got := regionByName(t, rep, "ap-south-1").Kinds[0].IDs("stopped"); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("ap-south-1 stopped = %v", got)
	}
}

func TestRunFallsBackWhenDiscoveryFails(t *testing.T) {
	t.Parallel()
	fallback := []string{"us-west-2", "us-east-1", "us-west-2", ""}
	tests := []struct {
		name    string
		lister  fakeRegions
		wantErr string
	}{
		{"DescribeRegions fails", fakeRegions{err: errors.New("ec2:DescribeRegions: AccessDenied")}, "AccessDenied"},
		{"no regions listed", fakeRegions{regions: []string{}}, "no enabled regions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := &fakeKind{name: "things", found: map[string][]engine.Resource{"us-east-1": res("i-1")}}
			e := newEngine(tc.lister, engine.Options{FallbackRegions: fallback}, k)

			rep := e.Run(context.Background(), stopPolicy)

			if !strings.Contains(rep.RegionDiscoveryError, tc.wantErr) {
				t.Errorf("RegionDiscoveryError = %q, want it to contain %q", rep.RegionDiscoveryError, tc.wantErr)
			}
			var swept []string
			for _, rr := range rep.Regions {
				swept = append(swept, rr.Region)
			}
			if want := []string{"us-east-1", "us-west-2"}; !slices.Equal(swept, want) {
				t.Errorf("swept %v, want the fallback regions %v, deduplicated", swept, want)
			}
			if rep.Totals.ByLabel["stopped"] != 1 {
				t.Errorf("totals = %+v", rep.Totals)
			}
			// The built-in list may lack a region the attacker enabled, so
			// the sweep counts as incomplete and Lambda retries it.
			if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "regions could not be listed") {
				t.Errorf("Err = %v, want the discovery failure", err)
			}
		})
	}
}

func TestRunDryRunContainsNothing(t *testing.T) {
	t.Parallel()
	k := &fakeKind{name: "things", found: map[string][]engine.Resource{
		"eu-north-1": res("i-a", "term-b", "refuse-c"),
		"sa-east-1":  res("i-d"),
	}}
	e := newEngine(fakeRegions{regions: []string{"eu-north-1", "sa-east-1"}}, engine.Options{}, k)

	rep := e.Run(context.Background(), engine.Policy{DryRun: true})

	if n := k.containCalls(); n != 0 {
		t.Fatalf("Contain called in %d region(s) during a dry run", n)
	}
	if !rep.DryRun {
		t.Errorf("report DryRun=%v", rep.DryRun)
	}
	kr := regionByName(t, rep, "eu-north-1").Kinds[0]
	if !slices.Equal(kr.IDs("would stop"), []string{"i-a"}) || !slices.Equal(kr.IDs("would terminate"), []string{"term-b"}) {
		t.Errorf("eu-north-1 plan: %+v", kr.Counts)
	}
	if len(kr.IDs("stopped"))+len(kr.IDs("terminated")) != 0 {
		t.Errorf("dry run reports real actions: %+v", kr)
	}
	if len(kr.Refused) != 1 || kr.Refused[0].ID != "refuse-c" || kr.Refused[0].Reason == "" {
		t.Errorf("refused = %+v", kr.Refused)
	}
	want := engine.Totals{Regions: 2, Found: 4, Changed: 3, Refused: 1,
		ByLabel: map[string]int{"would stop": 2, "would terminate": 1}}
	if !reflect.DeepEqual(rep.Totals, want) {
		t.Errorf("totals = %+v, want %+v", rep.Totals, want)
	}
	if err := rep.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}

func TestRunReportsRefusedWithReason(t *testing.T) {
	t.Parallel()
	k := &fakeKind{name: "things", found: map[string][]engine.Resource{"us-east-1": res("refuse-1", "i-2", "refuse-3")}}
	e := newEngine(fakeRegions{regions: []string{"us-east-1"}}, engine.Options{}, k)

	rep := e.Run(context.Background(), stopPolicy)

	kr := rep.Regions[0].Kinds[0]
	if len(kr.Refused) != 2 {
		t.Fatalf("refused = %+v, want 2", kr.Refused)
	}
	for _, r := range kr.Refused {
		if !strings.HasPrefix(r.ID, "refuse-") || r.Reason != "left alone by the kind" {
			t.Errorf("refusal %+v", r)
		}
	}
	for _, d := range k.containToDo["us-east-1"] {
		if strings.HasPrefix(d.Resource.ID, "refuse-") {
			t.Errorf("refused %s was passed to Contain", d.Resource.ID)
		}
	}
	if len(k.containToDo["us-east-1"]) != 1 || rep.Totals.Refused != 2 || rep.Totals.ByLabel["stopped"] != 1 {
		t.Errorf("contain todo %+v, totals %+v", k.containToDo, rep.Totals)
	}
}

func TestRunNamesRegionsNotReachedBeforeDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want string
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, "deadline exceeded"},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, "canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			regions := regionNames(6)
			k := &fakeKind{name: "things", found: map[string][]engine.Resource{}}
			k.findHook = func(ctx context.Context, region string) error {
				if region == regions[0] {
					<-ctx.Done() // the first region hangs until the end
					return ctx.Err()
				}
				return nil
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			e := newEngine(fakeRegions{regions: regions}, engine.Options{Concurrency: 1}, k)

			rep := e.Run(ctx, stopPolicy)

			err := rep.Err()
			if err == nil {
				t.Fatal("Err = nil after the deadline")
			}
			if got := rep.FailedRegions(); !slices.Equal(got, regions) {
				t.Errorf("FailedRegions = %v, want every region %v", got, regions)
			}
			for _, r := range regions {
				if !strings.Contains(err.Error(), r) {
					t.Errorf("Err %q does not name %s", err, r)
				}
			}
			for _, rr := range rep.Regions[1:] {
				text := rr.Error
				for _, kr := range rr.Kinds {
					text += kr.Error
				}
				if !strings.Contains(text, "not reached") || !strings.Contains(text, tc.want) {
					t.Errorf("%s: %+v, want it marked not reached (%s)", rr.Region, rr, tc.want)
				}
			}
			if rep.Totals.RegionsFailed != len(regions) {
				t.Errorf("totals = %+v", rep.Totals)
			}
		})
	}
}

func TestRunRegionTimeoutBoundsOneRegion(t *testing.T) {
	t.Parallel()
	k := &fakeKind{name: "things", found: map[string][]engine.Resource{"us-east-1": res("i-1")}}
	k.findHook = func(ctx context.Context, region string) error {
		if region == "me-south-1" {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	// No wall clock: me-south-1's timeout fires once us-east-1's sweep has
	// finished (its timer stopped), however slow the machine is.
	healthyDone := make(chan struct{})
	timer := func(region string, _ time.Duration, end func()) func() bool {
		if region == "me-south-1" {
			go func() {
				<-healthyDone
				end()
			}()
			return func() bool { return true }
		}
		return func() bool { close(healthyDone); return true }
	}
	e := newEngine(fakeRegions{regions: []string{"me-south-1", "us-east-1"}}, engine.Options{RegionTimer: timer}, k)

	rep := e.Run(context.Background(), stopPolicy)

	if got := rep.FailedRegions(); !slices.Equal(got, []string{"me-south-1"}) {
		t.Errorf("FailedRegions = %v", got)
	}
	if rep.Totals.ByLabel["stopped"] != 1 {
		t.Errorf("totals = %+v", rep.Totals)
	}
}

func TestRunSkipsListedRegionsAndNamesThemOnce(t *testing.T) {
	t.Parallel()
	k := &fakeKind{name: "things", found: map[string][]engine.Resource{"us-east-1": res("i-1"), "eu-south-2": res("i-2")},
		findErr: map[string]error{"me-central-1": errors.New("UnauthorizedOperation: denied by an SCP")}}
	e := newEngine(fakeRegions{regions: []string{"eu-south-2", "me-central-1", "us-east-1"}},
		engine.Options{SkipRegions: []string{"eu-south-2", "ap-east-2"}}, k)

	rep := e.Run(context.Background(), stopPolicy)

	if !slices.Equal(rep.SkippedRegions, []string{"eu-south-2"}) {
		t.Errorf("SkippedRegions = %v, want only the listed region that was skipped", rep.SkippedRegions)
	}
	if slices.Contains(k.findCalls, "eu-south-2") {
		t.Error("a skipped region was swept")
	}
	// Denied, but not listed: still a failure.
	if got := rep.FailedRegions(); !slices.Equal(got, []string{"me-central-1"}) {
		t.Errorf("FailedRegions = %v, want me-central-1", got)
	}
	if rep.FallbackSweep {
		t.Error("FallbackSweep set although discovery worked")
	}
}

func TestRunMarksAFallbackSweep(t *testing.T) {
	t.Parallel()
	k := &fakeKind{name: "things"}
	e := newEngine(fakeRegions{err: errors.New("hung")}, engine.Options{FallbackRegions: []string{"us-east-1"}}, k)

	rep := e.Run(context.Background(), stopPolicy)

	if !rep.FallbackSweep || rep.RegionDiscoveryError == "" {
		t.Errorf("FallbackSweep %v, discovery error %q: a fallback sweep must say so", rep.FallbackSweep, rep.RegionDiscoveryError)
	}
}

func TestRunTotalsAddUp(t *testing.T) {
	t.Parallel()
	k1 := &fakeKind{name: "groups", found: map[string][]engine.Resource{"us-east-1": res("g1"), "eu-west-1": res("g2", "refuse-g3")}}
	k2 := &fakeKind{
		name: "instances",
		found: map[string][]engine.Resource{
			"us-east-1": res("i-ok", "term-ok", "i-gone", "i-fail", "i-prot", "refuse-x"),
			"eu-west-1": res("i-ok2", "term-prot"),
		},
		outcome: func(d engine.Decision) engine.Outcome {
			o := engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone}
			switch id := d.Resource.ID; {
			case id == "i-gone":
				o.Status = engine.StatusGone
			case id == "i-fail":
				o.Status, o.Code, o.Message = engine.StatusFailed, "UnauthorizedOperation", "denied"
			case strings.HasSuffix(id, "prot"):
				o.Also, o.Note = []engine.Change{{Verb: engine.Verb{Past: "protection turned off", Plan: "turn off protection"}}}, "protection turned off"
			}
			return o
		},
	}
	e := newEngine(fakeRegions{regions: []string{"us-east-1", "eu-west-1"}}, engine.Options{}, k1, k2)

	rep := e.Run(context.Background(), engine.Policy{})

	want := engine.Totals{
		Regions: 2, Found: 11, Changed: 7, Gone: 1, Refused: 2, Failed: 1, Also: 2,
		ByLabel: map[string]int{"stopped": 5, "terminated": 2, "already gone": 1, "failed": 1},
	}
	if !reflect.DeepEqual(rep.Totals, want) {
		t.Errorf("totals = %+v\nwant     %+v", rep.Totals, want)
	}
	// Kinds keep their order in every region.
	for _, rr := range rep.Regions {
		if len(rr.Kinds) != 2 || rr.Kinds[0].Kind != "groups" || rr.Kinds[1].Kind != "instances" {
			t.Errorf("%s kinds = %+v", rr.Region, rr.Kinds)
		}
	}
	us := regionByName(t, rep, "us-east-1").Kinds[1]
	if f := us.Failed(); len(f) != 1 || f[0].ID != "i-fail" || f[0].Verb != verbStop || f[0].Code != "UnauthorizedOperation" || f[0].Message != "denied" {
		t.Errorf("failed = %+v", f)
	}
	for _, o := range us.Outcomes {
		if o.ID == "i-prot" && (o.Note == "" || len(o.Also) != 1) {
			t.Errorf("i-prot outcome = %+v, want the protection change and note", o)
		}
	}
	err := rep.Err()
	if err == nil || !strings.Contains(err.Error(), "1 resource(s) could not be contained") {
		t.Errorf("Err = %v", err)
	}
	if len(rep.FailedRegions()) != 0 || rep.Totals.RegionsFailed != 0 {
		t.Errorf("a resource failure marked a region failed: %v", rep.FailedRegions())
	}
	if rep.FinishedAt.Before(rep.StartedAt) {
		t.Errorf("finished %v before started %v", rep.FinishedAt, rep.StartedAt)
	}
}

func TestRunSecondRunFindsNothing(t *testing.T) {
	t.Parallel()
	k := &fakeKind{name: "things", found: map[string][]engine.Resource{}}
	e := newEngine(fakeRegions{regions: []string{"us-east-1", "us-east-2"}}, engine.Options{}, k)

	rep := e.Run(context.Background(), stopPolicy)

	if err := rep.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	if want := (engine.Totals{Regions: 2}); !reflect.DeepEqual(rep.Totals, want) {
		t.Errorf("totals = %+v, want %+v", rep.Totals, want)
	}
	if n := k.containCalls(); n != 0 {
		t.Errorf("Contain called %d times with nothing to do", n)
	}
}

func TestRunContainsWhatWasListedBeforeAListingFailure(t *testing.T) {
	t.Parallel()
	k := &fakeKind{
		name:    "things",
		partial: map[string][]engine.Resource{"eu-west-1": res("page1-a", "page1-b")},
		findErr: map[string]error{"eu-west-1": errors.New("page 2: RequestLimitExceeded")},
	}
	e := newEngine(fakeRegions{regions: []string{"eu-west-1"}}, engine.Options{}, k)

	rep := e.Run(context.Background(), stopPolicy)

	kr := regionByName(t, rep, "eu-west-1").Kinds[0]
	if got := kr.IDs("stopped"); !slices.Equal(got, []string{"page1-a", "page1-b"}) {
		t.Errorf("stopped = %v, want the instances listed before the failure", got)
	}
	if !strings.Contains(kr.Error, "page 2") || rep.Err() == nil {
		t.Errorf("kind error %q, report error %v: the listing failure must still fail the region", kr.Error, rep.Err())
	}
}

// Exemptions are the engine's, for every kind: an exempt ID never reaches
// Decide or Contain, and the report names the setting that exempts it.
func TestRunExemptsByIDForEveryKind(t *testing.T) {
	t.Parallel()
	k1 := &fakeKind{name: "groups", found: map[string][]engine.Resource{"us-east-1": res("owner-asg", "attacker-asg")}}
	k2 := &fakeKind{name: "instances", found: map[string][]engine.Resource{"us-east-1": res("i-owner", "i-attacker")}}
	e := newEngine(fakeRegions{regions: []string{"us-east-1"}}, engine.Options{}, k1, k2)

	rep := e.Run(context.Background(), engine.Policy{Exempt: map[string]string{
		"owner-asg": "KILLSWITCH_EXEMPT_NAMES", "i-owner": "KILLSWITCH_EXEMPT_INSTANCE_IDS"}})

	for _, kr := range rep.Regions[0].Kinds {
		if len(kr.Refused) != 1 || !strings.HasPrefix(kr.Refused[0].Reason, "exempt by ID at deploy time (KILLSWITCH_EXEMPT_") {
			t.Errorf("%s refused = %+v", kr.Kind, kr.Refused)
		}
		if kr.Changed() != 1 {
			t.Errorf("%s changed %d, want the attacker's one", kr.Kind, kr.Changed())
		}
	}
	for _, k := range []*fakeKind{k1, k2} {
		for _, d := range k.containToDo["us-east-1"] {
			if strings.Contains(d.Resource.ID, "owner") {
				t.Errorf("exempt %s reached Contain", d.Resource.ID)
			}
		}
	}
}

// No outcome is dropped: an unknown status or an empty verb is counted
// where the report can see it, fails the run, and a decision the kind
// forgot, or a Contain that panicked, is reported as failed.
func TestRunPlacesEveryOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		outcome   func(d engine.Decision) engine.Outcome
		panics    bool
		wantLabel string
		wantCode  string
	}{
		{name: "unknown status", outcome: func(d engine.Decision) engine.Outcome {
			return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: "exploded"}
		}, wantLabel: "UNPLACED: unknown status exploded"},
		{name: "empty verb", outcome: func(d engine.Decision) engine.Outcome {
			return engine.Outcome{ID: d.Resource.ID, Status: engine.StatusDone}
		}, wantLabel: "UNPLACED: unknown verb (done)"},
		{name: "no outcome at all", outcome: func(d engine.Decision) engine.Outcome {
			return engine.Outcome{ID: "someone-else", Verb: d.Verb, Status: engine.StatusDone}
		}, wantLabel: engine.LabelFailed, wantCode: "NoOutcome"},
		{name: "contain panics", panics: true, wantLabel: engine.LabelFailed, wantCode: "InternalError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := &fakeKind{name: "things", found: map[string][]engine.Resource{"us-east-1": res("i-1")}, outcome: tc.outcome}
			if tc.panics {
				k.outcome = func(engine.Decision) engine.Outcome { panic("kind bug") }
			}
			e := newEngine(fakeRegions{regions: []string{"us-east-1"}}, engine.Options{}, k)

			rep := e.Run(context.Background(), engine.Policy{})

			kr := rep.Regions[0].Kinds[0]
			if got := kr.IDs(tc.wantLabel); !slices.Contains(got, "i-1") {
				t.Errorf("outcomes %+v: i-1 not placed under %q", kr.Outcomes, tc.wantLabel)
			}
			if rep.Totals.ByLabel[tc.wantLabel] == 0 {
				t.Errorf("totals %+v lack %q", rep.Totals, tc.wantLabel)
			}
			if rep.Err() == nil {
				t.Errorf("Err = nil: an outcome that is not a containment must fail the run")
			}
			if tc.wantCode != "" {
				if f := kr.Failed(); len(f) == 0 || f[len(f)-1].Code != tc.wantCode {
					t.Errorf("failed = %+v, want code %s", f, tc.wantCode)
				}
			}
		})
	}
}

// The prior state a kind records travels into the report, for the restore:
// the kind's own type in the outcome, its description for people.
func TestRunCarriesPriorState(t *testing.T) {
	t.Parallel()
	r := engine.Resource{ID: "g1", Prior: sizes{Min: 2, Max: 9, Desired: 5}}
	k := &fakeKind{name: "groups", found: map[string][]engine.Resource{"us-east-1": {r}},
		outcome: func(d engine.Decision) engine.Outcome {
			return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone, Prior: d.Resource.Prior}
		}}
	e := newEngine(fakeRegions{regions: []string{"us-east-1"}}, engine.Options{}, k)

	for _, dry := range []bool{false, true} {
		rep := e.Run(context.Background(), engine.Policy{DryRun: dry})
		o := rep.Regions[0].Kinds[0].Outcomes[0]
		if p, ok := o.Prior.(sizes); !ok || p != (sizes{Min: 2, Max: 9, Desired: 5}) {
			t.Errorf("dry run %v: prior = %#v", dry, o.Prior)
		}
	}
}

type sizes struct{ Min, Max, Desired int }

func (s sizes) Describe() string {
	return fmt.Sprintf("min %d, max %d, desired %d", s.Min, s.Max, s.Desired)
}

// A report read back from JSON (the Lambda's result, a manifest) keeps
// every outcome and its prior state, as raw JSON for the kind to decode.
func TestReportRoundTripsThroughJSON(t *testing.T) {
	t.Parallel()
	r := engine.Resource{ID: "g1", Prior: sizes{Min: 2, Max: 9, Desired: 5}}
	k := &fakeKind{name: "groups", found: map[string][]engine.Resource{"us-east-1": {r}},
		outcome: func(d engine.Decision) engine.Outcome {
			return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone, Prior: d.Resource.Prior,
				Also: []engine.Change{{Verb: engine.Verb{Past: "unlocked", Plan: "unlock"}, Prior: sizes{Min: 1}}}}
		}}
	rep := newEngine(fakeRegions{regions: []string{"us-east-1"}}, engine.Options{}, k).Run(context.Background(), engine.Policy{})

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back engine.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	o := back.Regions[0].Kinds[0].Outcomes[0]
	var prior sizes
	raw, ok := o.Prior.(engine.RawPrior)
	if !ok || json.Unmarshal(raw, &prior) != nil || prior != (sizes{Min: 2, Max: 9, Desired: 5}) {
		t.Errorf("prior back = %#v", o.Prior)
	}
	if len(o.Also) != 1 || o.Also[0].Prior == nil || o.Label() != "stopped" {
		t.Errorf("outcome back = %+v", o)
	}
	again, _ := json.Marshal(&back)
	if string(again) != string(b) {
		t.Errorf("second marshal differs:\n%s\n%s", again, b)
	}
}

type globalKind struct{ fakeKind }

func (*globalKind) Global() bool { return true }

// An account-wide kind runs once and is reported first, under "global";
// regional kinds never see that name.
func TestRunSweepsGlobalKindsOnceFirst(t *testing.T) {
	t.Parallel()
	g := &globalKind{fakeKind{name: "IAM principals", found: map[string][]engine.Resource{engine.GlobalRegion: res("user/attacker")}}}
	r := &fakeKind{name: "things", found: map[string][]engine.Resource{"us-east-1": res("i-1")}}
	e := newEngine(fakeRegions{regions: []string{"us-east-1", "eu-west-1"}}, engine.Options{}, g, r)

	rep := e.Run(context.Background(), engine.Policy{})

	if len(rep.Regions) != 3 || rep.Regions[0].Region != engine.GlobalRegion || len(rep.Regions[0].Kinds) != 1 {
		t.Fatalf("regions = %+v, want global first with only the global kind", rep.Regions)
	}
	if !slices.Equal(g.findCalls, []string{engine.GlobalRegion}) {
		t.Errorf("global kind found in %v, want once", g.findCalls)
	}
	if slices.Contains(r.findCalls, engine.GlobalRegion) || len(r.findCalls) != 2 {
		t.Errorf("regional kind found in %v", r.findCalls)
	}
	if rep.Totals.Changed != 2 {
		t.Errorf("totals = %+v", rep.Totals)
	}
}

// The owner's exempt Auto Scaling group keeps its instances: an exempt
// parent exempts the children it launched.
func TestRunExemptParentExemptsItsChildren(t *testing.T) {
	t.Parallel()
	owned := engine.Resource{ID: "i-owned", Parent: "owner-asg"}
	stray := engine.Resource{ID: "i-stray", Parent: "attacker-asg"}
	k := &fakeKind{name: "instances", found: map[string][]engine.Resource{"us-east-1": {owned, stray}}}
	e := newEngine(fakeRegions{regions: []string{"us-east-1"}}, engine.Options{}, k)

	rep := e.Run(context.Background(), engine.Policy{Exempt: map[string]string{"owner-asg": "KILLSWITCH_EXEMPT_NAMES"}})

	kr := rep.Regions[0].Kinds[0]
	if len(kr.Refused) != 1 || kr.Refused[0].ID != "i-owned" || !strings.Contains(kr.Refused[0].Reason, "owner-asg") {
		t.Errorf("refused = %+v", kr.Refused)
	}
	if got := kr.IDs("stopped"); !slices.Equal(got, []string{"i-stray"}) {
		t.Errorf("stopped = %v", got)
	}
}

// The global sweep runs beside the regions: every region finishes while
// the global kind is still held, and the global kinds keep their order.
// Ending the global budget (through the timer seam, no wall clock) reports
// what the global kinds did not reach and fails the report.
func TestRunSweepsGlobalKindsAlongsideRegions(t *testing.T) {
	t.Parallel()
	regions := []string{"eu-west-1", "us-east-1", "us-west-2"}
	held := make(chan struct{}) // the first global kind is inside Contain
	var order []string
	first := &globalKind{fakeKind{name: "first", found: map[string][]engine.Resource{engine.GlobalRegion: res("p-1", "p-2", "p-3")}}}
	first.findHook = func(context.Context, string) error { order = append(order, "first"); return nil }
	second := &globalKind{fakeKind{name: "second", found: map[string][]engine.Resource{engine.GlobalRegion: res("q-1")}}}
	second.findHook = func(context.Context, string) error { order = append(order, "second"); return nil }
	heldFirst := &heldContain{globalKind: first, held: held, done: 1}
	r := &fakeKind{name: "things", found: map[string][]engine.Resource{"us-east-1": res("i-1"), "eu-west-1": res("i-2"), "us-west-2": res("i-3")}}

	regionsDone := make(chan string, len(regions)+1)
	var endGlobal func()
	gotTimer := make(chan struct{})
	timer := func(region string, _ time.Duration, end func()) func() bool {
		if region == engine.GlobalRegion {
			endGlobal = end
			close(gotTimer)
		}
		return func() bool { return true }
	}
	e := newEngine(fakeRegions{regions: regions}, engine.Options{Concurrency: 1, RegionTimer: timer, OnRegion: func(rr engine.RegionReport) {
		regionsDone <- rr.Region
	}}, heldFirst, second, r)

	repc := make(chan *engine.Report)
	go func() { repc <- e.Run(context.Background(), engine.Policy{}) }()

	<-gotTimer
	<-held
	for range regions {
		select {
		case got := <-regionsDone:
			if got == engine.GlobalRegion {
				t.Fatal("the global sweep finished while its kind was held")
			}
		case <-time.After(time.Minute): // a hang, not a deadline: the regions wait for nothing
			t.Fatal("the regions did not finish while the global sweep was held")
		}
	}
	endGlobal()
	rep := <-repc

	if rep.Regions[0].Region != engine.GlobalRegion || len(rep.Regions) != 4 {
		t.Fatalf("regions = %+v, want global first, then 3", rep.Regions)
	}
	if !slices.Equal(order, []string{"first"}) {
		t.Errorf("global kinds found in order %v, want only the first (the second not reached)", order)
	}
	g := rep.Regions[0]
	kr := g.Kinds[0]
	if kr.NotReached != 2 || !strings.Contains(kr.Error, "2 of the 3 thing(s)") {
		t.Errorf("first kind: not reached %d, error %q; want 2 of 3", kr.NotReached, kr.Error)
	}
	if got := kr.IDs(engine.LabelFailed); len(got) != 2 || kr.Counts["stopped"] != 1 {
		t.Errorf("first kind: counts %v, failed %v", kr.Counts, got)
	}
	if !strings.Contains(g.Kinds[1].Error, "not reached") {
		t.Errorf("second kind: %+v, want it not reached", g.Kinds[1])
	}
	if rep.Totals.NotReached != 2 || rep.Totals.Changed != 4 {
		t.Errorf("totals = %+v", rep.Totals)
	}
	err := rep.Err()
	if err == nil || !strings.Contains(err.Error(), "global") || !strings.Contains(err.Error(), "2 resource(s) found but not reached") {
		t.Errorf("Err = %v, want the global sweep and what it did not reach", err)
	}
	for _, region := range regions {
		if rr := regionByName(t, rep, region); rr.Failed() || rr.Kinds[0].Changed() != 1 {
			t.Errorf("%s: %+v", region, rr)
		}
	}
}

// heldContain contains the first done decisions, then signals held and
// waits for the budget's end, failing the rest with the context's error as
// the kinds' errorCode names it.
type heldContain struct {
	*globalKind
	held chan struct{}
	done int
}

func (k *heldContain) Contain(ctx context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	var out []engine.Outcome
	for i, d := range todo {
		if i == k.done {
			close(k.held)
			<-ctx.Done()
		}
		o := engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone}
		if ctx.Err() != nil {
			o.Status, o.Code, o.Message = engine.StatusFailed, "Canceled", "attaching: "+ctx.Err().Error()
		}
		out = append(out, o)
	}
	return out
}

// A kind whose Find stops at the budget's end says how many it did not
// reach, and the engine counts them.
func TestRunCountsWhatAFindDidNotReach(t *testing.T) {
	t.Parallel()
	g := &globalKind{fakeKind{name: "users", found: map[string][]engine.Resource{}}}
	g.findHook = func(context.Context, string) error {
		return fmt.Errorf("listing: %w", &engine.NotReachedError{Count: 40, Of: 50, What: "user(s)", Err: context.Canceled})
	}
	rep := newEngine(fakeRegions{regions: []string{"us-east-1"}}, engine.Options{}, g).Run(context.Background(), engine.Policy{})
	kr := rep.Regions[0].Kinds[0]
	if kr.NotReached != 40 || !strings.Contains(kr.Error, "40 of 50 user(s) not reached before the time budget ended") {
		t.Errorf("kind report = %+v", kr)
	}
	if rep.Totals.NotReached != 40 || rep.Err() == nil {
		t.Errorf("totals %+v, Err %v", rep.Totals, rep.Err())
	}
}
