package tests

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/apicount"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// relauncherKinds are the kinds that relaunch instances, in the table's
// order, built on cfg as Kinds builds them.
func relauncherKinds(cfg aws.Config) []engine.Kind {
	var out []engine.Kind
	for _, k := range resources.Kinds(cfg, settings.Default(), resources.Self{}) {
		switch k.(type) {
		case *resources.AutoScalingGroups, *resources.SpotFleetRequests, *resources.EC2Fleets, *resources.SpotInstanceRequests:
			out = append(out, k)
		}
	}
	return out
}

// The calls that change something, over every kind here.
var relauncherMutations = []string{
	"SuspendProcesses", "UpdateAutoScalingGroup", "CancelSpotInstanceRequests", "CancelSpotFleetRequests", "DeleteFleets",
}

// One sweep leaves nothing that relaunches instances, spares the owner's
// exempt group, records every prior state, and a second sweep changes
// nothing. Sequential: it resets the shared moto.
func TestRelaunchersContainedOnMoto(t *testing.T) {
	ctx := context.Background()
	if err := motoServer.Reset(); err != nil {
		t.Fatal(err)
	}
	plain, err := moto.Config(ctx, motoServer.URL, awsconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const region = moto.Region
	seeded, err := attack.SeedRelaunchers(ctx, plain, attack.RelauncherPlan{
		Region:            region,
		Groups:            map[string]int32{"attacker-asg": 20, "owner-asg": 2},
		PersistentSpot:    2,
		SpotFleetCapacity: 3,
		EC2FleetCapacity:  4,
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := attack.Groups(ctx, plain, region)
	if err != nil {
		t.Fatal(err)
	}
	if before["attacker-asg"].Instances != 20 || before["owner-asg"].Instances != 2 {
		t.Fatalf("seeded groups = %+v, want 20 and 2 instances", before)
	}
	running, err := attack.RunningByRegion(ctx, plain, []string{region})
	if err != nil {
		t.Fatal(err)
	}
	// 22 in groups, 2 persistent Spot, 3 in the Spot Fleet, 4 in the EC2 Fleet.
	if running[region] != 31 {
		t.Fatalf("%d instances running after seeding, want 31", running[region])
	}

	counted := plain.Copy()
	calls := apicount.New()
	calls.Attach(&counted)
	eng := resources.NewEngine(counted, relauncherKinds(counted), engine.Options{})
	policy := engine.Policy{Exempt: map[string]string{"owner-asg": settings.EnvExemptNames}}

	rep := eng.Run(ctx, policy)

	if rep.Totals.RegionsFailed != 0 || rep.Totals.Failed != 0 || rep.RegionDiscoveryError != "" {
		t.Fatalf("report has failures: %+v", rep.Totals)
	}
	byKind := map[string]engine.KindReport{}
	for _, rr := range rep.Regions {
		for _, kr := range rr.Kinds {
			if kr.Error != "" {
				t.Errorf("%s in %s: %s", kr.Kind, rr.Region, kr.Error)
			}
			if rr.Region == region {
				byKind[kr.Kind] = kr
			} else if kr.Found != 0 {
				t.Errorf("%s found %d in %s, where nothing was seeded", kr.Kind, kr.Found, rr.Region)
			}
		}
	}

	// The report: every relauncher contained under its own verb, with the
	// prior state a restore needs.
	wantDone := []struct {
		kind  string
		verb  engine.Verb
		ids   []string
		prior func(engine.PriorState) bool
	}{
		{"Auto Scaling groups", resources.VerbScaleGroupToZero, []string{"attacker-asg"}, func(p engine.PriorState) bool {
			g, ok := p.(resources.AutoScalingGroupPrior)
			return ok && g.MinSize == 1 && g.MaxSize == 30 && g.DesiredCapacity == 20 && slices.Equal(g.Suspends, resources.GroupLaunchProcesses)
		}},
		{"Spot Fleet requests", resources.VerbCancelSpotFleet, seeded.SpotFleets, func(p engine.PriorState) bool {
			f, ok := p.(resources.SpotFleetPrior)
			return ok && f.TargetCapacity == 3 && f.State == "active"
		}},
		{"EC2 Fleets", resources.VerbDeleteEC2Fleet, seeded.EC2Fleets, func(p engine.PriorState) bool {
			f, ok := p.(resources.EC2FleetPrior)
			return ok && f.TotalTargetCapacity == 4 && f.Type == "maintain" && f.State == "active"
		}},
		{"Spot Instance requests", resources.VerbCancelSpotRequest, seeded.SpotRequests, func(p engine.PriorState) bool {
			r, ok := p.(resources.SpotRequestPrior)
			return ok && r.Type == "persistent" && r.State == "active" && r.InstanceID != ""
		}},
	}
	for _, w := range wantDone {
		kr, ok := byKind[w.kind]
		if !ok {
			t.Errorf("no report for %s", w.kind)
			continue
		}
		got := kr.IDs(w.verb.Past)
		for _, id := range w.ids {
			if !slices.Contains(got, id) {
				t.Errorf("%s %q: %v, want %s among them (outcomes %+v)", w.kind, w.verb.Past, got, id, kr.Outcomes)
			}
		}
		// moto lists a Spot Fleet's own Spot requests and leaves them open
		// once the fleet is cancelled (EC2 cancels them with it), so the
		// Spot request kind may cancel those too; nothing else is extra.
		if len(got) != len(w.ids) && w.kind != "Spot Instance requests" {
			t.Errorf("%s %q: %v, want exactly %v", w.kind, w.verb.Past, got, w.ids)
		}
		for _, o := range kr.Outcomes {
			if !w.prior(o.Prior) {
				t.Errorf("%s %s: prior %#v is not the state found", w.kind, o.ID, o.Prior)
			}
		}
	}
	if asg := byKind["Auto Scaling groups"]; len(asg.Refused) != 1 || asg.Refused[0].ID != "owner-asg" {
		t.Errorf("Auto Scaling groups refused %+v, want only owner-asg, exempt by name", asg.Refused)
	}

	// moto's state: every relauncher stopped relaunching.
	after, err := attack.Groups(ctx, plain, region)
	if err != nil {
		t.Fatal(err)
	}
	if g := after["attacker-asg"]; g.Min != 0 || g.Max != 0 || g.Desired != 0 || g.Instances != 0 ||
		!slices.Equal(g.Suspended, slices.Sorted(slices.Values(resources.GroupLaunchProcesses))) {
		t.Errorf("attacker-asg after = %+v, want 0/0/0, no instances, launches suspended", g)
	}
	if g, b := after["owner-asg"], before["owner-asg"]; g.Min != b.Min || g.Max != b.Max || g.Desired != b.Desired ||
		g.Instances != 2 || len(g.Suspended) != 0 {
		t.Errorf("owner-asg after = %+v, want untouched %+v", g, b)
	}
	spotReqs, err := attack.SpotRequestStates(ctx, plain, region)
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range spotReqs {
		if st == "open" || st == "active" || st == "disabled" {
			t.Errorf("Spot request %s is still %s", id, st)
		}
	}
	spotFleets, err := attack.SpotFleetStates(ctx, plain, region)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range seeded.SpotFleets {
		if st, listed := spotFleets[id]; listed && st != "cancelled_terminating" && st != "cancelled" {
			t.Errorf("Spot Fleet %s is %s, want cancelled", id, st)
		}
	}
	fleets, err := attack.EC2FleetStates(ctx, plain, region)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range seeded.EC2Fleets {
		if st := fleets[id]; st != "deleted_terminating" && st != "deleted" {
			t.Errorf("EC2 Fleet %s is %q, want deleted", id, st)
		}
	}
	// What is left running: the owner's 2, and the 2 instances of the
	// cancelled Spot requests, which cancelling does not terminate (the EC2
	// instances kind, not run here, stops them).
	running, err = attack.RunningByRegion(ctx, plain, []string{region})
	if err != nil {
		t.Fatal(err)
	}
	if running[region] != 4 {
		t.Errorf("%d instances running after the sweep, want 4 (owner's 2, Spot request's 2)", running[region])
	}
	// A second sweep finds nothing and changes nothing.
	calls.Reset()
	rep2 := eng.Run(ctx, policy)
	if rep2.Totals.Failed != 0 || rep2.Totals.Changed != 0 {
		t.Errorf("second run: %+v, want nothing changed or failed", rep2.Totals)
	}
	for _, op := range relauncherMutations {
		if n := calls.Calls("", "", op); n != 0 {
			t.Errorf("second run called %s %d times, want 0", op, n)
		}
	}
	if n := calls.Calls("Auto Scaling", region, "DescribeAutoScalingGroups"); n != 1 {
		t.Errorf("second run described Auto Scaling groups %d times in %s, want 1", n, region)
	}
}
