// Package engine sweeps every enabled region of one AWS account and contains
// what it finds there, kind by kind, and records what it did in a Report.
//
// It knows nothing of EC2 or any other service: each kind of resource sits
// behind the small Kind interface, and the regions come from a RegionLister.
// The engine holds no global state, so one process can run it once per
// account (for example per member of an AWS Organization).
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Action is what the kill switch does to one resource.
type Action string

const (
	ActionNone      Action = "none" // refused: left as it is, with a reason
	ActionStop      Action = "stop"
	ActionTerminate Action = "terminate"
)

// ParseAction accepts the two configurable actions.
func ParseAction(s string) (Action, error) {
	switch Action(s) {
	case ActionStop, ActionTerminate:
		return Action(s), nil
	}
	return "", fmt.Errorf("unknown action %q: want %q or %q", s, ActionStop, ActionTerminate)
}

// Policy is the owner's deploy-time choice of how hard to hit.
type Policy struct {
	Action Action
	// TerminateUnstoppable terminates, in stop mode, what cannot be stopped
	// (one-time Spot, instance-store root); otherwise it is left running.
	TerminateUnstoppable bool
	// OverrideProtection turns off stop and termination protection that
	// blocks the action, then retries it.
	OverrideProtection bool
	// Exempt holds resource IDs fixed at deploy time. Tags never exempt:
	// the attacker can tag too.
	Exempt map[string]bool
	// DryRun makes no mutating call; the report says what would be done.
	DryRun bool
}

// Resource is one thing a Kind found running in a region.
type Resource struct {
	ID    string
	State string
	// Attributes are the kind's own facts from its describe call, used by
	// its Decide (for EC2: lifecycle, root device type, instance type).
	Attributes map[string]string
}

// Decision is what the plan says to do with one resource, and why.
type Decision struct {
	Resource Resource
	Action   Action
	Reason   string
}

// Status is how an attempted action ended.
type Status string

const (
	StatusDone   Status = "done"
	StatusFailed Status = "failed"
	// StatusGone means the resource vanished or was already on its way
	// down before we acted: nothing left to do.
	StatusGone Status = "gone"
)

// Outcome is what happened to one resource that was acted on.
type Outcome struct {
	ID     string
	Action Action // the action finally taken or attempted
	Status Status
	// Code is the AWS error code of a failure, Message its text.
	Code    string
	Message string
	// ProtectionOverridden is set when stop or termination protection was
	// turned off to let the action through.
	ProtectionOverridden bool
	// Note explains a change of plan, e.g. a stop the API refused that was
	// turned into a terminate.
	Note string
}

// Kind is one kind of AWS resource the kill switch can contain. Each lives
// in its own file in package resources and is listed in its table.
type Kind interface {
	// Name is plural and human, e.g. "EC2 instances".
	Name() string
	// Find lists what the policy would act on in one region; what is
	// already contained is left out, so a second run finds nothing new.
	// On error it returns what it listed before the failure, which the
	// engine still contains.
	Find(ctx context.Context, region string, p Policy) ([]Resource, error)
	// Decide is pure: no AWS, no clock. It describes what Contain would do.
	Decide(r Resource, p Policy) Decision
	// Contain carries out the decisions of one region (never ActionNone).
	// It returns one Outcome per decision, failures included.
	Contain(ctx context.Context, region string, todo []Decision, p Policy) []Outcome
}

// RegionLister lists the account's enabled regions at trip time, never from
// a list frozen at deploy: an attacker can enable an opt-in region.
type RegionLister interface {
	EnabledRegions(ctx context.Context) ([]string, error)
}

// Options tune one Engine.
type Options struct {
	// Concurrency bounds how many regions are swept at once. Regions are
	// separate throttling buckets in EC2, so this can be high.
	Concurrency int
	// RegionTimeout bounds one region's sweep, so a hanging endpoint cannot
	// hold the others' report back.
	RegionTimeout time.Duration
	// FallbackRegions are swept when region discovery fails: failing closed
	// beats sweeping nothing.
	FallbackRegions []string
	Logger          *slog.Logger
}

// Engine sweeps regions and contains resources.
type Engine struct {
	regions RegionLister
	kinds   []Kind
	opts    Options
}

// New builds an Engine. Kinds are contained in the order given: what
// relaunches instances must come before the instances.
func New(regions RegionLister, kinds []Kind, opts Options) *Engine {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.RegionTimeout <= 0 {
		opts.RegionTimeout = 4 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{regions: regions, kinds: kinds, opts: opts}
}

// Run sweeps every enabled region concurrently and contains what it finds.
// One region's failure never stops the others. When ctx ends first, the
// report names every region not finished. Run never returns without a
// report; Report.Err says whether anything went wrong.
func (e *Engine) Run(ctx context.Context, p Policy) *Report {
	rep := &Report{DryRun: p.DryRun, Action: p.Action, StartedAt: time.Now().UTC()}
	log := e.opts.Logger

	regions, err := e.regions.EnabledRegions(ctx)
	if err != nil || len(regions) == 0 {
		if err == nil {
			err = errors.New("no enabled regions listed")
		}
		rep.RegionDiscoveryError = err.Error()
		regions = e.opts.FallbackRegions
		log.Error("region discovery failed; sweeping the built-in region list instead",
			"error", err, "fallback_regions", len(regions))
	}
	regions = dedupeSorted(regions)

	results := make([]RegionReport, len(regions))
	sem := make(chan struct{}, e.opts.Concurrency)
	var wg sync.WaitGroup
	for i, region := range regions {
		results[i] = RegionReport{Region: region}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			results[i].Error = "not reached: " + ctx.Err().Error()
			results[i].NotReached = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = e.sweepRegion(ctx, region, p)
		}()
	}
	wg.Wait()

	rep.Regions = results
	rep.FinishedAt = time.Now().UTC()
	rep.tally()
	return rep
}

func (e *Engine) sweepRegion(ctx context.Context, region string, p Policy) (rr RegionReport) {
	rr.Region = region
	log := e.opts.Logger.With("region", region)
	ctx, cancel := context.WithTimeout(ctx, e.opts.RegionTimeout)
	defer cancel()
	defer func() {
		// A panicking kind must not take the other regions' report down.
		if r := recover(); r != nil {
			rr.Error = fmt.Sprintf("internal error: %v", r)
			log.Error("region sweep panicked", "panic", r)
		}
	}()

	for _, k := range e.kinds {
		kr := KindReport{Kind: k.Name()}
		if err := ctx.Err(); err != nil {
			kr.Error = "not reached: " + err.Error()
			rr.Kinds = append(rr.Kinds, kr)
			continue
		}
		found, err := k.Find(ctx, region, p)
		if err != nil {
			// Fail closed: what was listed before the failure (earlier
			// pages) is still contained; the region is reported as failed.
			kr.Error = fmt.Sprintf("listing %s in %s: %v", k.Name(), region, err)
			log.Error("find failed", "kind", k.Name(), "error", err, "listed_before_failure", len(found))
			if len(found) == 0 {
				rr.Kinds = append(rr.Kinds, kr)
				continue
			}
		}
		kr.Found = len(found)
		var todo []Decision
		for _, r := range found {
			d := k.Decide(r, p)
			if d.Action == ActionNone {
				kr.Refused = append(kr.Refused, Refusal{ID: r.ID, Reason: d.Reason})
				continue
			}
			todo = append(todo, d)
		}
		if p.DryRun {
			for _, d := range todo {
				kr.add(Outcome{ID: d.Resource.ID, Action: d.Action, Status: StatusDone, Note: d.Reason}, true)
			}
		} else if len(todo) > 0 {
			for _, o := range k.Contain(ctx, region, todo, p) {
				kr.add(o, false)
			}
		}
		log.Info("region swept", "kind", k.Name(), "found", kr.Found, "contained", kr.containedCount(),
			"failed", len(kr.Failed), "refused", len(kr.Refused), "dry_run", p.DryRun)
		rr.Kinds = append(rr.Kinds, kr)
	}
	return rr
}

func dedupeSorted(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, r := range in {
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}
