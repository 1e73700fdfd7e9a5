package tests

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/awsconfig"
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
// the production attempt count, but short backoff and attempt timeouts.
var fastRetries = awsconfig.Options{
	MaxAttempts:    10,
	MaxBackoff:     100 * time.Millisecond,
	AttemptTimeout: 2 * time.Second,
	DialTimeout:    500 * time.Millisecond,
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
	p := behindProxy(t, r, faultproxy.Config{Seed: 30, ThrottleFraction: 0.30}, fastRetries)

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
	t.Logf("30%% throttled: %d attacker instances over %d regions contained in %v; EC2 calls %d, attempts %d; proxy: %d requests, %d throttled (%.0f%%)",
		len(r.seeded.Attackers()), len(attack.OriginStory().Regions), elapsed.Round(time.Millisecond),
		r.calls.Calls("EC2", "", ""), r.calls.Attempts("EC2", "", ""), ec2.Requests, ec2.Throttled, 100*share)
}

// deadRegion runs one region dead on the first delivery and healthy on
// Lambda's retry.
func deadRegion(t *testing.T, mode faultproxy.Mode, o awsconfig.Options, regionTimeout string) {
	const dead = "eu-west-1"
	r := newRig(t, smallStory(), map[string]string{settings.EnvRegionTimeout: regionTimeout})
	p := behindProxy(t, r, faultproxy.Config{Seed: 1, Regions: map[string]faultproxy.Mode{dead: mode}}, o)
	if len(r.seeded.ByRegion[dead]) == 0 {
		t.Fatalf("the seed put nothing in %s", dead)
	}

	start := time.Now()
	res, err := r.invoke(budgetActual)
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

	// Lambda's async retry, with the region back.
	p.SetRegion(dead, faultproxy.Healthy)
	r.calls.Reset()
	res, err = r.invoke(budgetActual)
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
	want := len(r.seeded.ByRegion[dead])
	if got := res.Report.Totals.Changed; got != want {
		t.Errorf("retry contained %d instance(s), want %d (the dead region's)", got, want)
	}
	msgs = r.notify.receive(t, 1)
	if strings.Contains(msgs[0].Subject, "ACTION NEEDED") {
		t.Errorf("retry's notification still says action needed: %q\n%s", msgs[0].Subject, msgs[0].Body)
	}
}

func TestFaultDeadRegionRefusedIsReportedAndRetried(t *testing.T) {
	// Every attempt is reset: 10 attempts with backoff capped at 100 ms
	// fail the region's describe call in about a second, well inside the
	// region timeout.
	deadRegion(t, faultproxy.Refuse, fastRetries, "30s")
}

func TestFaultDeadRegionHangingIsCutByRegionTimeout(t *testing.T) {
	// Each attempt hangs until its 2 s attempt timeout; the 5 s region
	// timeout ends the region before the attempts run out. (moto serves
	// about 30 calls a second on two cores, so the healthy regions need a
	// few seconds too; tighter numbers cut them as well.)
	o := fastRetries
	o.AttemptTimeout = 2 * time.Second
	deadRegion(t, faultproxy.Hang, o, "5s")
}

func TestFaultThreeDeliveriesOfOneEventActOnce(t *testing.T) {
	r := newRig(t, smallStory(), nil)
	// A bit of latency and throttling, so the deliveries meet a busy API.
	p := behindProxy(t, r, faultproxy.Config{Seed: 3, Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, ThrottleFraction: 0.1}, fastRetries)

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
	// 200 ms a call and 4 regions at a time: the 17 regions need five waves
	// of at least describe + stop (and split rounds where protection is
	// on), about 3 s or more. The Lambda deadline is 1.5 s; the default
	// 10 s reserve is capped at a quarter of that (375 ms), so the sweep
	// gets 1.125 s and the report is published in the 375 ms kept back.
	r := newRig(t, attack.OriginStory(), map[string]string{settings.EnvRegionConcurrency: "4"})
	behindProxy(t, r, faultproxy.Config{Seed: 4, Latency: 200 * time.Millisecond}, fastRetries)
	if r.settings.DeadlineReserve <= 1500*time.Millisecond/4 {
		t.Fatalf("deadline reserve %v would not be capped; the test needs the default 10s", r.settings.DeadlineReserve)
	}

	const lambdaTimeout = 1500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), lambdaTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	res, err := r.invokeWithin(ctx, budgetActual)
	returned := time.Now()
	if err == nil {
		t.Fatal("handler returned no error although the sweep was cut short")
	}
	if returned.After(deadline) {
		t.Errorf("handler returned %v after the Lambda deadline", returned.Sub(deadline))
	}
	rep := res.Report
	swept := rep.FinishedAt.Sub(rep.StartedAt)
	if want := lambdaTimeout - lambdaTimeout/4; swept > want+150*time.Millisecond {
		t.Errorf("sweep ran %v, want it cut at about %v (deadline minus the capped reserve)", swept, want)
	}
	if !res.Notified {
		t.Fatalf("partial report not published: %s", res.NotifyError)
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
	t.Logf("deadline %v: swept for %v, returned %v before the deadline; %d of %d regions not finished (%d never started); contained %d",
		lambdaTimeout, swept.Round(time.Millisecond), deadline.Sub(returned).Round(time.Millisecond),
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
