package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/tests/internal/apicount"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/faultproxy"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// relaunchRegions carry the relaunchers in the relauncher scenario: in each,
// an Auto Scaling group of 20, two persistent Spot requests, a maintain Spot
// Fleet of 3 and a maintain EC2 Fleet of 4, beside 20 plain instances.
var relaunchRegions = []string{"eu-west-1", "us-east-2", "ap-south-1", "sa-east-1", "ap-northeast-1"}

// relaunchLatency is added to every EC2 and Auto Scaling call.
const relaunchLatency = 50 * time.Millisecond

// relaunchers runs the relauncher scenario in-process twice, with no latency
// (moto alone) and with it, and returns its line for the notes: the calls
// per service and the wall time against the floor the latency sets.
func (b *bench) relaunchers() (string, error) {
	base, err := b.relaunchRun(0)
	if err != nil {
		return "", fmt.Errorf("moto alone: %w", err)
	}
	lat, err := b.relaunchRun(relaunchLatency)
	if err != nil {
		return "", err
	}
	excess := lat.wall - base.wall
	return fmt.Sprintf("%s; moto alone %s, so the latency added %s = %.2fx the floor", lat.line, secs(base.wall), secs(excess),
		float64(excess)/float64(lat.floor)), nil
}

type relaunchResult struct {
	wall, floor time.Duration
	line        string
}

// relaunchRun seeds the scenario afresh and runs it once with latency.
func (b *bench) relaunchRun(latency time.Duration) (*relaunchResult, error) {
	fmt.Fprintf(b.log, "== relaunchers: %d regions, each an Auto Scaling group of 20, Spot requests and fleets, %v per call\n",
		len(relaunchRegions), latency)
	if err := b.moto.Reset(); err != nil {
		return nil, err
	}
	plain, err := moto.Config(b.ctx, b.moto.URL, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	seeded, err := attack.Seed(b.ctx, plain, attack.Plan{Regions: relaunchRegions, Instances: 20 * len(relaunchRegions), PerLaunch: 10})
	if err != nil {
		return nil, err
	}
	for _, region := range relaunchRegions {
		if _, err := attack.SeedRelaunchers(b.ctx, plain, attack.RelauncherPlan{Region: region,
			Groups: map[string]int32{"miner-" + region: 20}, PersistentSpot: 2, SpotFleetCapacity: 3, EC2FleetCapacity: 4}); err != nil {
			return nil, fmt.Errorf("seeding relaunchers in %s: %w", region, err)
		}
	}
	proxy, err := faultproxy.Start(faultproxy.Config{Target: b.moto.URL, Latency: latency,
		Services: []string{"ec2", "autoscaling"}, NoRateLimits: noLimits})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	cfg, err := moto.Config(b.ctx, proxy.URL, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	calls := apicount.New()
	calls.Attach(&cfg)
	s, err := b.settings(seeded)
	if err != nil {
		return nil, err
	}
	h := app.New(cfg, s, slog.New(slog.DiscardHandler)).Handler
	raw, err := os.ReadFile(budgetEvent)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := h.Handle(ctx, raw)
	wall := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("handler: %w", err)
	}
	groups := 0
	for _, region := range relaunchRegions {
		gs, err := attack.Groups(b.ctx, plain, region)
		if err != nil {
			return nil, err
		}
		for name, g := range gs {
			if g.Desired != 0 || g.Max != 0 {
				return nil, fmt.Errorf("group %s in %s left at desired %d, max %d", name, region, g.Desired, g.Max)
			}
			groups++
		}
	}
	if err := b.checkContained(seeded, attack.Plan{Regions: relaunchRegions}); err != nil {
		return nil, err
	}
	floor, how := relaunchFloor(res.Report)
	ec2Calls, asCalls := calls.Calls("EC2", "", ""), calls.Calls("Auto Scaling", "", "")
	line := fmt.Sprintf("relaunchers (%d groups of 20, %d Spot requests, %d Spot Fleets, %d EC2 Fleets, %d plain instances over %d regions, %v per EC2 and Auto Scaling call): "+
		"contained in %s, %d EC2 + %d Auto Scaling calls (%d calls in all, every service), floor %s = %s, wall/floor %.2fx; %s",
		groups, 2*len(relaunchRegions), len(relaunchRegions), len(relaunchRegions), len(seeded.Attackers()), len(relaunchRegions), relaunchLatency,
		secs(wall), ec2Calls, asCalls, calls.Calls("", "", ""), secs(floor), how, float64(wall)/float64(floor), labelCounts(res.Report))
	fmt.Fprintln(b.log, "  ", line)
	return &relaunchResult{wall: wall, floor: floor, line: line}, nil
}

// relaunchFloor is the round-trip floor of the relauncher sweep: the kinds
// of one region run one after another (what relaunches before what it
// launches), so a region's chain is, for each latency-bound kind with
// something found, one describe page and its action rounds: Auto Scaling
// groups two (suspend, then resize), every other kind one. The longest
// region's chain plus DescribeRegions, times the latency.
func relaunchFloor(rep *engine.Report) (time.Duration, string) {
	rounds := map[string]int{"Auto Scaling groups": 2, "Spot Fleet requests": 1, "EC2 Fleets": 1, "Spot Instance requests": 1, "EC2 instances": 1}
	longest, at := 0, ""
	for _, rr := range rep.Regions {
		chain := 0
		for _, kr := range rr.Kinds {
			r, bound := rounds[kr.Kind]
			if !bound {
				continue
			}
			chain += max(1, (kr.Found+999)/1000)
			if kr.Changed() > 0 {
				chain += r
			}
		}
		if chain > longest {
			longest, at = chain, rr.Region
		}
	}
	n := 1 + longest
	return time.Duration(n) * relaunchLatency, fmt.Sprintf("%v x (1 DescribeRegions + %d in %s) = %d round trips", relaunchLatency, longest, at, n)
}

// labelCounts says what the sweep did, per kind.
func labelCounts(rep *engine.Report) string {
	perKind := map[string]map[string]int{}
	var order []string
	for _, rr := range rep.Regions {
		for _, kr := range rr.Kinds {
			for label, n := range kr.Counts {
				if perKind[kr.Kind] == nil {
					perKind[kr.Kind] = map[string]int{}
					order = append(order, kr.Kind)
				}
				perKind[kr.Kind][label] += n
			}
		}
	}
	var parts []string
	for _, k := range order {
		var ls []string
		for l, n := range perKind[k] {
			ls = append(ls, fmt.Sprintf("%d %s", n, l))
		}
		parts = append(parts, k+": "+strings.Join(ls, ", "))
	}
	return strings.Join(parts, "; ")
}
