package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/apicount"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// rig is one moto-backed account with the killswitch handler wired to it.
type rig struct {
	t        *testing.T
	cfg      aws.Config // counted: what the engine uses
	plain    aws.Config // not counted: what the test reads back with
	calls    *apicount.Counter
	seeded   *attack.Seeded
	notify   *inbox
	settings settings.Settings
}

// newRig resets moto, seeds the origin-story attack and subscribes an SQS
// queue to a notify topic.
func newRig(t *testing.T, plan attack.Plan, env map[string]string) *rig {
	t.Helper()
	ctx := context.Background()
	if err := motoServer.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := moto.Config(ctx, motoServer.URL, awsconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := attack.Seed(ctx, cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	box, err := newInbox(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		settings.EnvNotifyTopicARN:    box.topicARN,
		settings.EnvExemptInstanceIDs: strings.Join(seeded.Exempt, ","),
	}
	for k, v := range env {
		vars[k] = v
	}
	s, err := settings.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	counted := cfg.Copy()
	calls := apicount.New()
	calls.Attach(&counted)
	return &rig{t: t, cfg: counted, plain: cfg, calls: calls, seeded: seeded, notify: box, settings: s}
}

// invoke runs the handler on an event file, as Lambda would, with two
// minutes standing in for the Lambda deadline.
func (r *rig) invoke(eventFile string) (*handler.Result, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return r.invokeWithin(ctx, eventFile)
}

// invokeWithin runs the handler under ctx, whose deadline plays the Lambda
// deadline.
func (r *rig) invokeWithin(ctx context.Context, eventFile string) (*handler.Result, error) {
	r.t.Helper()
	raw, err := os.ReadFile(eventFile)
	if err != nil {
		r.t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(testWriter{r.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return app.New(r.cfg, r.settings, log).Handler.Handle(ctx, json.RawMessage(raw))
}

// checkOriginStoryContained holds the account to the stop-mode end state:
// attackers stopped, owner instances running. Spot instances are stopped
// first too (stopping one of a persistent request disables it; terminating
// it would make EC2 launch a replacement). Real EC2 refuses to stop a
// one-time Spot instance with UnsupportedOperation, which the kind answers
// by terminating it; moto lets the stop through, so here they are stopped,
// and the unit tests cover the refusal. With regions given, only those are
// checked.
func checkOriginStoryContained(t *testing.T, r *rig, regions ...string) {
	t.Helper()
	only := set(regions)
	st := r.states()
	for _, id := range r.seeded.Attackers() {
		if len(only) > 0 && !only[r.seeded.Region[id]] {
			continue
		}
		if want := "stopped"; st[id] != want {
			t.Errorf("attacker %s (%s): state %q, want %q", id, r.seeded.Region[id], st[id], want)
		}
	}
	for _, id := range r.seeded.Exempt {
		if st[id] != "running" {
			t.Errorf("exempt owner instance %s: state %q, want running", id, st[id])
		}
	}
}

func (r *rig) states() map[string]string {
	r.t.Helper()
	st, err := attack.States(context.Background(), r.plain, attack.OriginStory().Regions)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

const budgetActual = "testdata/budget-actual.json"

func TestOriginStoryIsContainedInStopMode(t *testing.T) {
	r := newRig(t, attack.OriginStory(), nil)
	start := time.Now()
	res, err := r.invoke(budgetActual)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	if !res.Tripped || res.Report == nil {
		t.Fatalf("budget ACTUAL alert did not trip: %+v", res)
	}
	checkOriginStoryContained(t, r)
	st := r.states()
	if st[r.seeded.ForgedTag] != "stopped" {
		t.Errorf("attacker instance %s with a forged killswitch:exempt tag: state %q, want stopped", r.seeded.ForgedTag, st[r.seeded.ForgedTag])
	}

	rep := res.Report
	if got, want := count(rep, "EC2 instances", "stopped"), len(r.seeded.Attackers()); got != want {
		t.Errorf("report: stopped %d, want %d", got, want)
	}
	if got := count(rep, "EC2 instances", "terminated"); got != 0 {
		t.Errorf("report: terminated %d, want none in stop mode", got)
	}
	// Each seeded Spot instance came from a one-time request, still open
	// or active: cancelled, so it cannot launch again.
	if got, want := count(rep, "Spot Instance requests", "cancelled"), len(r.seeded.Spot); got != want {
		t.Errorf("report: Spot requests cancelled %d, want %d", got, want)
	}
	if got, want := rep.Totals.Refused, len(r.seeded.Exempt); got != want {
		t.Errorf("report: refused %d, want %d (the exempt owner instances)", got, want)
	}
	overridden := reportIDs(rep, overridden)
	for _, id := range r.seeded.StopProtected {
		if !slices.Contains(overridden, id) {
			t.Errorf("stop-protected %s: not reported as protection overridden", id)
		}
	}
	if len(r.seeded.StopProtected) == 0 || len(r.seeded.Spot) == 0 || len(r.seeded.TermProtected) == 0 {
		t.Fatalf("seed lacks protected or Spot instances: %+v", r.seeded)
	}

	msgs := r.notify.receive(t, 1)
	if !strings.Contains(msgs[0].Subject, fmt.Sprintf("contained %d resource(s) in 17 region(s)", len(r.seeded.Attackers())+len(r.seeded.Spot))) {
		t.Errorf("notification subject %q does not give the count and regions", msgs[0].Subject)
	}
	for _, want := range []string{"killswitch-monthly", "$4,812.37", "MFA", "AWS Support", "ap-east-1", "me-south-1"} {
		if !strings.Contains(msgs[0].Body, want) {
			t.Errorf("notification body lacks %q:\n%s", want, msgs[0].Body)
		}
	}

	checkCallFloor(t, r, rep)
	t.Logf("origin story: %d attacker instances over %d regions contained in %v; EC2 calls %d (%d attempts)",
		len(r.seeded.Attackers()), len(attack.OriginStory().Regions), elapsed.Round(time.Millisecond),
		r.calls.Calls("EC2", "", ""), r.calls.Attempts("EC2", "", ""))
}

// ec2APIKinds are the kinds that call the EC2 API, the service the
// counter below measures, so each costs at least one describe per region.
var ec2APIKinds = []string{"EC2 instances", "Spot Instance requests", "Spot Fleet requests", "EC2 Fleets"}

// checkCallFloor holds every region to its floor of EC2 calls: for EC2
// instances one describe page per 1,000 instances plus one action call per
// 1,000 IDs (Spot instances are stopped in a batch of their own, so one
// more where there are any), plus what protection overrides and batch
// splitting add; for the other EC2-API kinds one describe page plus one
// action call per 1,000.
func checkCallFloor(t *testing.T, r *rig, rep *engine.Report) {
	t.Helper()
	byRegion := r.calls.ByRegion("EC2")
	spot := set(r.seeded.Spot)
	for _, rr := range rep.Regions {
		if rr.Region == engine.GlobalRegion {
			continue
		}
		floor, protected, stops, terms := 0, 0, 0, 0
		for _, kr := range rr.Kinds {
			if !slices.Contains(ec2APIKinds, kr.Kind) {
				continue
			}
			floor += max(1, pages(kr.Found))
			if kr.Kind != "EC2 instances" {
				floor += pages(kr.Changed())
				continue
			}
			stopped := kr.IDs("stopped")
			spots := 0
			for _, id := range stopped {
				if spot[id] {
					spots++
				}
			}
			stops, terms = len(stopped), len(kr.IDs("terminated"))
			floor += pages(stops-spots) + pages(spots) + pages(terms)
			// Overridden and failed instances are what makes a batch split.
			protected = len(overridden(kr)) + len(kr.Failed())
		}
		// Each protected instance costs at most a split path of
		// 2*ceil(log2(batch)) calls, one ModifyInstanceAttribute per
		// attribute and one retry per attribute. Reading an instance's
		// protection (DescribeInstanceAttribute, two attributes) is a
		// describe, from EC2's larger bucket: at most two per instance.
		split := 2 * int(math.Ceil(math.Log2(float64(max(stops, terms, 2)))))
		allowed := floor + protected*(split+4)
		got, reads := 0, 0
		for op, n := range byRegion[rr.Region] {
			switch op {
			case "DescribeRegions": // once per trip, checked below
			case "DescribeInstanceAttribute":
				reads += n
			default:
				got += n
			}
		}
		if got > allowed {
			t.Errorf("%s: %d EC2 calls %v, want at most %d (floor %d + %d protected)", rr.Region, got, byRegion[rr.Region], allowed, floor, protected)
		}
		if reads > 2*(stops+terms) {
			t.Errorf("%s: %d protection reads for %d instances, want at most two each", rr.Region, reads, stops+terms)
		}
		t.Logf("%-15s stop %3d  term %3d  protected %d  EC2 calls %2d (floor %d) + %d protection reads  %v",
			rr.Region, stops, terms, protected, got, floor, reads, byRegion[rr.Region])
	}
	if d := r.calls.Calls("EC2", moto.Region, "DescribeRegions"); d != 1 {
		t.Errorf("DescribeRegions called %d times, want 1 per trip", d)
	}
}

// count is how many outcomes of one kind the report placed under label.
func count(rep *engine.Report, kind, label string) int {
	n := 0
	for _, rr := range rep.Regions {
		for _, kr := range rr.Kinds {
			if kr.Kind == kind {
				n += kr.Counts[label]
			}
		}
	}
	return n
}

func pages(n int) int { return (n + 999) / 1000 }

func TestTerminateModeTerminatesEverythingButTheExempt(t *testing.T) {
	r := newRig(t, attack.OriginStory(), map[string]string{settings.EnvAction: "terminate"})
	res, err := r.invoke(budgetActual)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	st := r.states()
	for _, id := range r.seeded.Attackers() {
		if st[id] != "terminated" {
			t.Errorf("%s: state %q, want terminated", id, st[id])
		}
	}
	for _, id := range r.seeded.Exempt {
		if st[id] != "running" {
			t.Errorf("exempt %s: state %q, want running", id, st[id])
		}
	}
	overridden := set(reportIDs(res.Report, overridden))
	for _, id := range r.seeded.TermProtected {
		if !overridden[id] {
			t.Errorf("termination-protected %s not reported as overridden", id)
		}
	}
	checkCallFloor(t, r, res.Report)
}

func TestDryRunChangesNothing(t *testing.T) {
	r := newRig(t, attack.OriginStory(), map[string]string{settings.EnvDryRun: "true"})
	before := r.states()
	r.calls.Reset()
	res, err := r.invoke(budgetActual)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	if after := r.states(); !mapsEqual(before, after) {
		t.Errorf("dry run changed instance states")
	}
	for _, op := range []string{"StopInstances", "TerminateInstances", "ModifyInstanceAttribute"} {
		if n := r.calls.Calls("EC2", "", op); n != 0 {
			t.Errorf("dry run made %d %s calls", n, op)
		}
	}
	if got, want := count(res.Report, "EC2 instances", "would stop"), len(r.seeded.Attackers()); got != want {
		t.Errorf("dry run reports %d instances to stop, want %d", got, want)
	}
	if got, want := res.Report.Totals.Changed, len(r.seeded.Attackers())+len(r.seeded.Spot); got != want {
		t.Errorf("dry run reports %d to contain, want %d (instances and their Spot requests)", got, want)
	}
	msgs := r.notify.receive(t, 1)
	if !strings.Contains(msgs[0].Subject, "DRY RUN") {
		t.Errorf("subject %q does not say DRY RUN", msgs[0].Subject)
	}
}

func TestSecondRunIsANoop(t *testing.T) {
	r := newRig(t, attack.OriginStory(), nil)
	if _, err := r.invoke(budgetActual); err != nil {
		t.Fatalf("first run: %v", err)
	}
	after1 := r.states()
	r.notify.receive(t, 1)
	r.calls.Reset()

	res, err := r.invoke(budgetActual)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if after2 := r.states(); !mapsEqual(after1, after2) {
		t.Errorf("second run changed instance states")
	}
	for _, op := range []string{"StopInstances", "TerminateInstances", "ModifyInstanceAttribute"} {
		if n := r.calls.Calls("EC2", "", op); n != 0 {
			t.Errorf("second run made %d needless %s calls", n, op)
		}
	}
	if t2 := res.Report.Totals; t2.Changed != 0 || t2.Found != len(r.seeded.Exempt) {
		t.Errorf("second run totals %+v, want only the exempt instances found", t2)
	}
	msgs := r.notify.receive(t, 1)
	if !strings.Contains(msgs[0].Subject, "nothing new") || !strings.Contains(msgs[0].Body, "nothing new to contain") {
		t.Errorf("second run's notification does not say nothing new was found: %q\n%s", msgs[0].Subject, msgs[0].Body)
	}
}

func TestWithoutOverrideProtectedInstancesAreReportedNotSilentlySkipped(t *testing.T) {
	r := newRig(t, attack.OriginStory(), map[string]string{
		settings.EnvOverrideProtection:   "false",
		settings.EnvTerminateUnstoppable: "false",
	})
	res, err := r.invoke(budgetActual)
	if err == nil {
		t.Fatal("handler returned no error although stop-protected instances were left running")
	}
	st := r.states()
	failed := set(reportFailures(res.Report))
	for _, id := range r.seeded.StopProtected {
		if st[id] != "running" {
			t.Errorf("stop-protected %s: state %q; with override off it should still run", id, st[id])
		}
		if !failed[id] {
			t.Errorf("stop-protected %s not reported as failed", id)
		}
	}
	refused := map[string]string{}
	for _, rr := range res.Report.Regions {
		for _, kr := range rr.Kinds {
			for _, ref := range kr.Refused {
				refused[ref.ID] = ref.Reason
			}
		}
	}
	// Spot instances are stopped like any other now (moto lets a one-time
	// Spot instance stop; real EC2's refusal is a unit test's business).
	for _, id := range r.seeded.Spot {
		if st[id] != "stopped" || refused[id] != "" {
			t.Errorf("Spot %s: state %q, refusal %q; want stopped", id, st[id], refused[id])
		}
	}
	msgs := r.notify.receive(t, 1)
	if !strings.Contains(msgs[0].Subject, "ACTION NEEDED") || !strings.Contains(msgs[0].Body, "OperationNotPermitted") {
		t.Errorf("notification does not flag the failures: %q\n%s", msgs[0].Subject, msgs[0].Body)
	}
}

func TestAlarmBackToOKDoesNothing(t *testing.T) {
	r := newRig(t, attack.Plan{Regions: []string{"us-east-1"}, Instances: 3}, nil)
	raw, err := os.ReadFile("testdata/cloudwatch-billing-alarm.json")
	if err != nil {
		t.Fatal(err)
	}
	ok := strings.Replace(strings.Replace(string(raw), `\"NewStateValue\": \"ALARM\"`, `\"NewStateValue\": \"OK\"`, 1),
		`\"OldStateValue\": \"OK\"`, `\"OldStateValue\": \"ALARM\"`, 1)
	path := t.TempDir() + "/ok.json"
	if err := os.WriteFile(path, []byte(ok), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := r.invoke(path)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	if res.Tripped || res.Report != nil {
		t.Errorf("an OK transition tripped: %+v", res)
	}
	if n := r.calls.Calls("EC2", "", ""); n != 0 {
		t.Errorf("an OK transition made %d EC2 calls", n)
	}
}

func reportIDs(rep *engine.Report, pick func(engine.KindReport) []string) []string {
	var out []string
	for _, rr := range rep.Regions {
		for _, kr := range rr.Kinds {
			out = append(out, pick(kr)...)
		}
	}
	return out
}

// overridden lists the resources whose containment needed a secondary
// change (protection turned off) on the way.
func overridden(kr engine.KindReport) []string {
	var ids []string
	for _, o := range kr.Outcomes {
		if len(o.Also) > 0 {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

func reportFailures(rep *engine.Report) []string {
	var out []string
	for _, rr := range rep.Regions {
		for _, kr := range rr.Kinds {
			for _, f := range kr.Failed() {
				out = append(out, f.ID)
			}
		}
	}
	return out
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
