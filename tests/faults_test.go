package tests

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/apicount"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/faultproxy"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// The fault tests run the real handler and engine in-process against moto
// behind faultproxy. Seeding and reading back go to moto directly; only
// the kill switch's own calls pass through the proxy.

// fastRetries keeps the fault tests quick: the SDK's adaptive retryer with
// the production attempt count, but short backoff. The attempt and dial
// timeouts stay generous: no test here waits on them (a hung region is cut
// by its injected region timer), and a short one would fail a slow moto
// answer on a loaded machine, which is not a fault under test.
var fastRetries = awsconfig.Options{
	MaxAttempts:    10,
	MaxBackoff:     100 * time.Millisecond,
	AttemptTimeout: time.Minute,
	DialTimeout:    10 * time.Second,
}

// behindProxy starts a fault proxy in front of moto and points the rig's
// counted config at it.
func behindProxy(t *testing.T, r *rig, pc faultproxy.Config, o awsconfig.Options) *faultproxy.Proxy {
	t.Helper()
	pc.Target = motoServer.URL
	p, err := faultproxy.Start(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	cfg, err := moto.Config(context.Background(), p.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	r.calls = apicount.New()
	r.calls.Attach(&cfg)
	r.cfg = cfg
	return p
}

// smallStory is the origin story's 17 regions with 4 attacker instances
// each (protected and Spot ones among them) and the two owner instances:
// enough to tell every region apart, quicker to seed than 298.
func smallStory() attack.Plan {
	p := attack.OriginStory()
	p.Instances = 4 * len(p.Regions)
	p.PerLaunch = 2
	p.TermProtectEvery, p.StopProtectEvery, p.SpotEvery = 7, 9, 5
	return p
}

var mutatingOps = []string{"StopInstances", "TerminateInstances", "ModifyInstanceAttribute"}

func mutatingCalls(c *apicount.Counter, region string) int {
	n := 0
	for _, op := range mutatingOps {
		n += c.Calls("EC2", region, op)
	}
	return n
}

func TestFaultThrottled30PercentStillContainsEverything(t *testing.T) {
	r := newRig(t, attack.OriginStory(), nil)
	p := behindProxy(t, r, faultproxy.Config{Seed: 30, ThrottleFraction: 0.30, MaxThrottlesPerCall: 5}, fastRetries)

	start := time.Now()
	res, err := r.invoke(budgetActual)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("handler under 30%% throttling: %v", err)
	}
	checkOriginStoryContained(t, r)
	if f := res.Report.Totals.Failed; f != 0 {
		t.Errorf("report: %d failed under throttling, want 0", f)
	}
	ec2 := p.Sum("ec2", "", "")
	if ec2.Throttled == 0 {
		t.Fatalf("the proxy throttled nothing: %+v", ec2)
	}
	share := float64(ec2.Throttled) / float64(ec2.Requests)
	if share < 0.2 || share > 0.4 {
		t.Errorf("throttled %d of %d EC2 requests (%.0f%%), want about 30%%", ec2.Throttled, ec2.Requests, 100*share)
	}
	if sns := p.Sum("sns", "", ""); sns.Throttled != 0 {
		t.Errorf("SNS calls were throttled although faults apply to EC2 only: %+v", sns)
	}
	t.Logf("30%% throttled: %d attacker instances over %d regions contained in %v; EC2 calls %d, attempts %d; proxy: %d requests, %d throttled (%.0f%%), %d limited by the buckets",
		len(r.seeded.Attackers()), len(attack.OriginStory().Regions), elapsed.Round(time.Millisecond),
		r.calls.Calls("EC2", "", ""), r.calls.Attempts("EC2", "", ""), ec2.Requests, ec2.Throttled, 100*share, ec2.Limited)
}

// regionTimers stands in for the engine's per-region timeout: a region
// times out only when the test fires its timer, never because a loaded
// machine was slow.
type regionTimers struct {
	mu    sync.Mutex
	end   map[string]func()
	fired []string
}

func newRegionTimers() *regionTimers { return &regionTimers{end: map[string]func(){}} }

// timer is engine.Options.RegionTimer: it records how to end the region.
func (rt *regionTimers) timer(region string, _ time.Duration, end func()) func() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.end[region] = end
	return func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		delete(rt.end, region)
		return true
	}
}

// fire times the region out, as its timeout would; false if its sweep is
// not running.
func (rt *regionTimers) fire(region string) bool {
	rt.mu.Lock()
	end := rt.end[region]
	if end != nil {
		rt.fired = append(rt.fired, region)
	}
	rt.mu.Unlock()
	if end == nil {
		return false
	}
	end()
	return true
}

func (rt *regionTimers) firedRegions() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.fired)
}

// invokeWith runs the handler as rig.invokeWithin does, with app options.
func (r *rig) invokeWith(ctx context.Context, eventFile string, opts ...app.Option) (*handler.Result, error) {
	r.t.Helper()
	raw, err := os.ReadFile(eventFile)
	if err != nil {
		r.t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(testWriter{r.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return app.New(r.cfg, r.settings, log, opts...).Handler.Handle(ctx, json.RawMessage(raw))
}

// deadRegion runs one region dead on the first delivery and healthy on
// Lambda's retry. With timers, the dead region's timeout is fired by the
// test once the proxy holds one of its requests; without, the region
// timeout is the wall clock's (never reached when calls fail fast).
func deadRegion(t *testing.T, mode faultproxy.Mode, o awsconfig.Options, timers *regionTimers) {
	const dead = "eu-west-1"
	r := newRig(t, smallStory(), map[string]string{settings.EnvRegionTimeout: "30s"})
	p := behindProxy(t, r, faultproxy.Config{Seed: 1, Regions: map[string]faultproxy.Mode{dead: mode}}, o)
	if len(r.seeded.ByRegion[dead]) == 0 {
		t.Fatalf("the seed put nothing in %s", dead)
	}
	var opts []app.Option
	if timers != nil {
		opts = append(opts, app.WithRegionTimer(timers.timer))
		go func() {
			select {
			case <-p.Held(dead):
				// The region's sweep is waiting on the proxy: time it out.
				timers.fire(dead)
			case <-t.Context().Done():
			}
		}()
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	start := time.Now()
	res, err := r.invokeWith(ctx, budgetActual, opts...)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("handler returned no error with %s dead (%s); Lambda would not retry", dead, mode)
	}
	if !strings.Contains(err.Error(), dead) {
		t.Errorf("handler error %q does not name %s", err, dead)
	}
	if failed := res.Report.FailedRegions(); len(failed) != 1 || failed[0] != dead {
		t.Errorf("report's failed regions %v, want exactly [%s]", failed, dead)
	}
	var others []string
	for _, region := range attack.OriginStory().Regions {
		if region != dead {
			others = append(others, region)
		}
	}
	checkOriginStoryContained(t, r, others...)
	for _, id := range r.seeded.ByRegion[dead] {
		if st := r.states()[id]; st != "running" {
			t.Fatalf("%s in the dead region is %q: the proxy let a call through", id, st)
		}
	}
	c := p.Sum("ec2", dead, "")
	if c.Forwarded != 0 || c.Refused+c.Hung == 0 {
		t.Errorf("proxy counts for %s: %+v, want every request %s and none forwarded", dead, c, mode)
	}
	msgs := r.notify.receive(t, 1)
	if !strings.Contains(msgs[0].Subject, "ACTION NEEDED") || !strings.Contains(msgs[0].Body, dead) {
		t.Errorf("first notification does not flag %s: %q\n%s", dead, msgs[0].Subject, msgs[0].Body)
	}
	t.Logf("%s %s: the other %d regions contained, the run ended in %v; proxy for %s: %+v",
		dead, mode, len(others), elapsed.Round(time.Millisecond), dead, c)

	if timers != nil {
		if fired := timers.firedRegions(); !slices.Equal(fired, []string{dead}) {
			t.Errorf("regions timed out: %v, want only %s", fired, dead)
		}
	}

	// Lambda's async retry, with the region back.
	p.SetRegion(dead, faultproxy.Healthy)
	r.calls.Reset()
	res, err = r.invokeWith(ctx, budgetActual, opts...)
	if err != nil {
		t.Fatalf("retry with %s healthy again: %v", dead, err)
	}
	checkOriginStoryContained(t, r)
	for _, region := range others {
		if n := mutatingCalls(r.calls, region); n != 0 {
			t.Errorf("retry made %d mutating calls in %s, already contained: %v", n, region, r.calls.ByRegion("EC2")[region])
		}
	}
	if n := r.calls.Calls("EC2", dead, "StopInstances"); n == 0 {
		t.Errorf("retry made no StopInstances call in %s", dead)
	}
	// The retry contains what the dead region holds, and only that: its
	// instances, and whatever else the seed put there (its Spot requests,
	// when the seed made Spot instances in it).
	instances := 0
	for _, rr := range res.Report.Regions {
		for _, kr := range rr.Kinds {
			for _, o := range kr.Outcomes {
				switch {
				case !o.Changed():
				case rr.Region != dead:
					t.Errorf("retry changed %s %s in %s, contained on the first delivery", kr.Noun, o.ID, rr.Region)
				case kr.Kind == "EC2 instances":
					instances++
				}
			}
		}
	}
	if want := len(r.seeded.ByRegion[dead]); instances != want {
		t.Errorf("retry contained %d instance(s) in %s, want its %d", instances, dead, want)
	}
	msgs = r.notify.receive(t, 1)
	if strings.Contains(msgs[0].Subject, "ACTION NEEDED") {
		t.Errorf("retry's notification still says action needed: %q\n%s", msgs[0].Subject, msgs[0].Body)
	}
}

func TestFaultDeadRegionRefusedIsReportedAndRetried(t *testing.T) {
	// Every attempt is reset: 10 attempts with backoff capped at 100 ms
	// fail the region's describe call long before the 30 s region timeout.
	deadRegion(t, faultproxy.Refuse, fastRetries, nil)
}

func TestFaultDeadRegionHangingIsCutByRegionTimeout(t *testing.T) {
	// The dead region's request is held until the test fires that region's
	// timeout; the attempt timeout is far longer, so the cut comes from the
	// region timeout and nothing else. The healthy regions have no timeout
	// that can fire: however slow the machine, only the dead region is cut.
	o := fastRetries
	o.AttemptTimeout = 10 * time.Minute
	deadRegion(t, faultproxy.Hang, o, newRegionTimers())
}

func TestFaultThreeDeliveriesOfOneEventActOnce(t *testing.T) {
	r := newRig(t, smallStory(), nil)
	// A bit of latency and throttling, so the deliveries meet a busy API.
	p := behindProxy(t, r, faultproxy.Config{Seed: 3, Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, ThrottleFraction: 0.1, MaxThrottlesPerCall: 5}, fastRetries)

	var after []map[string]string
	for delivery := 1; delivery <= 3; delivery++ {
		r.calls.Reset()
		res, err := r.invoke(budgetActual)
		if err != nil {
			t.Fatalf("delivery %d: %v", delivery, err)
		}
		after = append(after, r.states())
		if delivery == 1 {
			checkOriginStoryContained(t, r)
			continue
		}
		if n := mutatingCalls(r.calls, ""); n != 0 {
			t.Errorf("delivery %d made %d mutating calls: %v", delivery, n, r.calls.ByRegion("EC2"))
		}
		if tot := res.Report.Totals; tot.Changed != 0 {
			t.Errorf("delivery %d contained %d instance(s) again", delivery, tot.Changed)
		}
		if !mapsEqual(after[0], after[delivery-1]) {
			t.Errorf("delivery %d changed the end state", delivery)
		}
	}
	msgs := r.notify.receive(t, 3)
	for i, m := range msgs[1:] {
		if !strings.Contains(m.Subject, "nothing new") {
			t.Errorf("delivery %d's notification: %q, want nothing new", i+2, m.Subject)
		}
	}
	t.Logf("three deliveries: proxy throttled %d of %d EC2 requests", p.Sum("ec2", "", "").Throttled, p.Sum("ec2", "", "").Requests)
}

func TestFaultLambdaDeadlinePublishesPartialReport(t *testing.T) {
	// Every region but the discovery region is held at the proxy for as
	// long as the client waits, so the sweep cannot finish before the
	// deadline's cut, however fast or slow the machine; four regions at a
	// time means the cut finds regions never started. The reserve is not
	// capped (left/4 > reserve while the handler starts within 2 s), so the
	// sweep is cut at exactly deadline - reserve, and the 2 s reserve is
	// for one SNS publish: ample on a busy machine.
	const (
		lambdaTimeout = 10 * time.Second
		reserve       = 2 * time.Second
	)
	r := newRig(t, attack.OriginStory(), map[string]string{
		settings.EnvRegionConcurrency: "4",
		settings.EnvDeadlineReserve:   reserve.String(),
	})
	o := fastRetries
	o.AttemptTimeout = 10 * time.Minute // held attempts wait for the cut
	p := behindProxy(t, r, faultproxy.Config{Seed: 4, Others: faultproxy.Hang,
		Regions: map[string]faultproxy.Mode{moto.Region: faultproxy.Healthy}}, o)

	ctx, cancel := context.WithTimeout(t.Context(), lambdaTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	cut := deadline.Add(-reserve)
	res, err := r.invokeWith(ctx, budgetActual)
	returned := time.Now()
	if err == nil {
		t.Fatal("handler returned no error although the sweep was cut short")
	}
	if returned.After(deadline) {
		t.Errorf("handler returned %v after the Lambda deadline", returned.Sub(deadline))
	}
	rep := res.Report
	// Held regions cannot end before the cut; the engine reads the clock
	// just after it.
	if rep.FinishedAt.Before(cut.Add(-50 * time.Millisecond)) {
		t.Errorf("sweep finished %v before the cut at deadline - reserve: a held region answered", cut.Sub(rep.FinishedAt))
	}
	if !res.Notified {
		t.Fatalf("partial report not published: %s", res.NotifyError)
	}
	if held := p.Sum("ec2", "", ""); held.Hung == 0 {
		t.Fatalf("the proxy held nothing: %+v", held)
	}
	unreached := rep.FailedRegions()
	var notReached []string
	for _, rr := range rep.Regions {
		if rr.NotReached {
			notReached = append(notReached, rr.Region)
		}
	}
	if len(notReached) == 0 {
		t.Errorf("no region reported as not reached: %+v", rep.Regions)
	}
	msgs := r.notify.receive(t, 1)
	body := msgs[0].Body
	if !strings.Contains(body, "INCOMPLETE") || !strings.Contains(msgs[0].Subject, "ACTION NEEDED") {
		t.Errorf("partial report does not say it is incomplete: %q\n%s", msgs[0].Subject, body)
	}
	// The region table lists up to 40 regions (moto lists 38), each
	// unswept one marked NOT SWEPT.
	for _, region := range unreached {
		if !namesUnswept(body, region) {
			t.Errorf("partial report does not name unswept region %s:\n%s", region, body)
		}
	}
	if !strings.Contains(body, "not reached") {
		t.Errorf("partial report does not say what was not reached:\n%s", body)
	}
	t.Logf("deadline %v, reserve %v: sweep cut %v after its start, returned %v before the deadline; %d of %d regions not finished (%d never started); contained %d",
		lambdaTimeout, reserve, rep.FinishedAt.Sub(rep.StartedAt).Round(time.Millisecond), deadline.Sub(returned).Round(time.Millisecond),
		len(unreached), len(rep.Regions), len(notReached), rep.Totals.Changed)
}

// namesUnswept says whether a line of the message names region as not
// swept or not reached.
func namesUnswept(body, region string) bool {
	for _, line := range strings.Split(body, "\n") {
		fields := strings.Fields(strings.ReplaceAll(line, ":", " "))
		if len(fields) > 0 && slices.Contains(fields, region) &&
			(strings.Contains(line, "NOT SWEPT") || strings.Contains(line, "not reached")) {
			return true
		}
	}
	return false
}
