package tests

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/internal/trigger"
	"github.com/killswitch/killswitch/tests/internal/attack"
)

// latchParameter is the stack's latch, as it creates it.
const latchParameter = "/killswitch/latch"

// invokeEvent runs the handler on a raw event, as Lambda would.
func (r *rig) invokeEvent(event string) (*handler.Result, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewJSONHandler(testWriter{r.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return app.New(r.cfg, r.settings, log, app.WithFunctionName("killswitch")).Handler.Handle(ctx, json.RawMessage(event))
}

func (r *rig) latch() latch.State {
	r.t.Helper()
	st, err := latch.NewSSM(ssm.NewFromConfig(r.plain), latchParameter).Load(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// The switch holds: after a trip the attacker starts the stopped instances
// again, launches more in a third region and raises the Auto Scaling group
// back to 10. The next run of the stack's schedule, with the exact event
// the schedule sends, contains all of it and says "relaunch caught"; the
// one after makes no mutating call and publishes nothing; after the owner
// disarms, a scheduled run sweeps nothing.
func TestResweepCatchesRelaunchesUntilDisarmed(t *testing.T) {
	ctx := context.Background()
	plan := attack.Plan{Regions: []string{"us-east-1", "eu-west-1"}, Instances: 12, PerLaunch: 3, StopProtectEvery: 5}
	// Caps high enough that the census (census_test.go) does not trip on
	// the seeded attack: this test is about the re-sweep after a budget
	// trip.
	r := newRig(t, plan, map[string]string{settings.EnvLatchParameter: latchParameter,
		settings.EnvMaxRunningInstances: "1000", settings.EnvMaxVCPUs: "100000", settings.EnvMaxGPUs: "1000",
		settings.EnvMaxHourlyBurnUSD: "100000", settings.EnvMaxRegionsInUse: "64"})
	// The day's self-test (selftest_test.go) is already done.
	armLatch(t, r, true)
	seededRelaunchers, err := attack.SeedRelaunchers(ctx, r.plain, attack.RelauncherPlan{Region: "eu-west-1",
		Groups: map[string]int32{"miner-asg": 20}, PersistentSpot: 2})
	if err != nil {
		t.Fatal(err)
	}
	persistent := spotInstances(t, r, "eu-west-1", seededRelaunchers.SpotRequests)
	const group, third = "miner-asg", "ap-southeast-2"

	// Before a trip, the schedule finds an armed switch: it takes the
	// census (under the caps) and sweeps nothing.
	r.calls.Reset()
	res, err := r.invokeEvent(trigger.ScheduledEvent)
	if err != nil || res.Report != nil || res.Tripped || len(r.calls.Mutating()) != 0 {
		t.Fatalf("scheduled run while armed: err %v, report %v, tripped %v, mutating calls %v; want a census only", err, res.Report != nil, res.Tripped, r.calls.Mutating())
	}

	// The trip.
	if res, err = r.invoke(budgetActual); err != nil || !res.Tripped {
		t.Fatalf("trip: %v, %+v", err, res)
	}
	r.notify.receive(t, 1)
	if st := r.latch(); !st.Tripped || !strings.Contains(st.Reason, "killswitch-monthly") {
		t.Fatalf("latch after the trip = %+v, want tripped by the budget", st)
	}
	if g := groupState(t, r, "eu-west-1", group); g.Desired != 0 || g.Max != 0 {
		t.Fatalf("group after the trip = %+v, want 0", g)
	}
	// A persistent Spot request's instance is stopped, not terminated:
	// terminating it would reopen the request and EC2 would launch another.
	euStates, err := attack.States(ctx, r.plain, []string{"eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range persistent {
		if euStates[id] != "stopped" {
			t.Errorf("persistent Spot instance %s: state %q after the trip, want stopped", id, euStates[id])
		}
	}
	open, err := attack.SpotRequestStates(ctx, r.plain, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range seededRelaunchers.SpotRequests {
		if st, listed := open[req]; listed && st != "cancelled" {
			t.Errorf("persistent Spot request %s: state %q after the trip, want cancelled", req, st)
		}
	}

	// The attacker, who still holds the keys.
	restarted := append(append([]string{}, r.seeded.ByRegion["us-east-1"][:2]...), r.seeded.ByRegion["eu-west-1"][:2]...)
	restarted = withoutExempt(restarted, r.seeded.Exempt)
	for _, id := range restarted {
		c := ec2.NewFromConfig(r.plain, func(o *ec2.Options) { o.Region = r.seeded.Region[id] })
		if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := attack.Seed(ctx, r.plain, attack.Plan{Regions: []string{third}, Instances: 5, PerLaunch: 5})
	if err != nil {
		t.Fatal(err)
	}
	asc := autoscaling.NewFromConfig(r.plain, func(o *autoscaling.Options) { o.Region = "eu-west-1" })
	if _, err := asc.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := asc.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(group),
		MinSize: aws.Int32(10), MaxSize: aws.Int32(10), DesiredCapacity: aws.Int32(10)}); err != nil {
		t.Fatal(err)
	}

	// The schedule's next run catches all of it.
	r.calls.Reset()
	res, err = r.invokeEvent(trigger.ScheduledEvent)
	if err != nil {
		t.Fatalf("re-sweep: %v", err)
	}
	if !res.RelaunchCaught || res.Report == nil {
		t.Fatalf("re-sweep result = %+v, want a relaunch caught", res)
	}
	st := r.states()
	for _, id := range restarted {
		if st[id] != "stopped" {
			t.Errorf("restarted %s: state %q after the re-sweep, want stopped", id, st[id])
		}
	}
	thirdStates, err := attack.States(ctx, r.plain, []string{third})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range fresh.Attackers() {
		if thirdStates[id] != "stopped" {
			t.Errorf("new instance %s in %s: state %q, want stopped", id, third, thirdStates[id])
		}
	}
	if g := groupState(t, r, "eu-west-1", group); g.Desired != 0 || g.Max != 0 || g.Min != 0 {
		t.Errorf("group after the re-sweep = %+v, want 0/0/0", g)
	}
	if got := count(res.Report, "Auto Scaling groups", "scaled to 0 (launches suspended)"); got != 1 {
		t.Errorf("re-sweep scaled %d group(s), want 1", got)
	}
	msgs := r.notify.receive(t, 1)
	if !strings.Contains(msgs[0].Subject, "RELAUNCH CAUGHT") || !strings.Contains(msgs[0].Body, "THE SWITCH HOLDS") {
		t.Errorf("re-sweep notification %q does not say relaunch caught:\n%s", msgs[0].Subject, msgs[0].Body)
	}
	if st := r.latch(); st.Resweeps != 1 || st.Relaunches < len(restarted)+len(fresh.Attackers())+1 {
		t.Errorf("latch after the re-sweep = %+v", st)
	}

	// Nothing new: no mutating call, nothing published.
	r.calls.Reset()
	res, err = r.invokeEvent(trigger.ScheduledEvent)
	if err != nil {
		t.Fatalf("quiet re-sweep: %v", err)
	}
	for k, n := range r.calls.Mutating() {
		if k.Service != "SSM" { // the latch's own count
			t.Errorf("quiet re-sweep made %d %s %s call(s) in %s", n, k.Service, k.Operation, k.Region)
		}
	}
	if res.Notified || res.RelaunchCaught {
		t.Errorf("quiet re-sweep published or caught something: %+v", res)
	}

	// The owner disarms; the schedule then sweeps nothing.
	if res, err = r.invokeEvent(`{"killswitch":"disarm","reason":"cleaned up"}`); err != nil || !res.Notified {
		t.Fatalf("disarm: %v, %+v", err, res)
	}
	if disarm := r.notify.receive(t, 1); !strings.Contains(disarm[0].Subject, "DISARMED") {
		t.Errorf("disarm notification %q", disarm[0].Subject)
	}
	if st := r.latch(); st.Tripped || st.DisarmReason != "cleaned up" {
		t.Errorf("latch after disarm = %+v", st)
	}
	r.calls.Reset()
	if res, err = r.invokeEvent(trigger.ScheduledEvent); err != nil || res.Report != nil || res.Tripped {
		t.Errorf("scheduled run after disarm: %v, report %v, tripped %v", err, res.Report != nil, res.Tripped)
	}
	// Armed again: a census, which changes nothing.
	if m := r.calls.Mutating(); len(m) != 0 {
		t.Errorf("scheduled run after disarm made mutating calls: %v", m)
	}
}

func groupState(t *testing.T, r *rig, region, name string) attack.GroupState {
	t.Helper()
	groups, err := attack.Groups(context.Background(), r.plain, region)
	if err != nil {
		t.Fatal(err)
	}
	return groups[name]
}

func withoutExempt(ids, exempt []string) []string {
	var out []string
	for _, id := range ids {
		if !strings.Contains(strings.Join(exempt, ","), id) {
			out = append(out, id)
		}
	}
	return out
}

// spotInstances are the instances the given Spot requests launched.
func spotInstances(t *testing.T, r *rig, region string, requests []string) []string {
	t.Helper()
	c := ec2.NewFromConfig(r.plain, func(o *ec2.Options) { o.Region = region })
	out, err := c.DescribeSpotInstanceRequests(context.Background(), &ec2.DescribeSpotInstanceRequestsInput{SpotInstanceRequestIds: requests})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, req := range out.SpotInstanceRequests {
		if id := aws.ToString(req.InstanceId); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) != len(requests) {
		t.Fatalf("Spot requests %v launched %v", requests, ids)
	}
	return ids
}
