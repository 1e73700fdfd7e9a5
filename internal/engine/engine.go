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
	"strings"
	"sync"
	"time"

	"github.com/killswitch/killswitch/internal/settings"
)

// Policy is what applies to every kind in one run.
type Policy struct {
	// DryRun makes no mutating call; the report says what would be done.
	DryRun bool
	// Exempt maps resource IDs or names fixed at deploy time to the setting
	// that exempts them. Tags never exempt: the attacker can tag too.
	Exempt map[string]string
	// Journal, when set, records each region and kind's plan before its
	// first mutating call and its outcomes after (the restore manifest). A
	// dry run writes nothing.
	Journal Journal
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
	// SkipRegions are never swept: regions the owner says an SCP denies, so
	// an attacker cannot use them either. The report names them once.
	SkipRegions []string
	// RegionTimer, when set, replaces the wall-clock region timeout: it is
	// called once per region with the function that ends that region's
	// sweep, and returns a function that stops it. Tests end a region when
	// they choose instead of after a duration a loaded machine may miss.
	RegionTimer func(region string, d time.Duration, end func()) (stop func() bool)
	Logger      *slog.Logger
	// OnRegion, when set, is called as each region's sweep finishes (from
	// the sweeping goroutine): the CLI prints progress with it.
	OnRegion func(RegionReport)
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
		opts.Concurrency = settings.Default().RegionConcurrency
	}
	if opts.RegionTimeout <= 0 {
		opts.RegionTimeout = settings.Default().RegionTimeout
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
	rep := &Report{DryRun: p.DryRun, StartedAt: time.Now().UTC()}
	log := e.opts.Logger
	if p.DryRun {
		p.Journal = nil
	}
	if p.Journal != nil {
		rep.Manifest = p.Journal.Location()
	}

	regions, err := e.regions.EnabledRegions(ctx)
	if err != nil || len(regions) == 0 {
		if err == nil {
			err = errors.New("no enabled regions listed")
		}
		rep.RegionDiscoveryError = err.Error()
		rep.FallbackSweep = true
		regions = e.opts.FallbackRegions
		log.Error("region discovery failed; sweeping the built-in region list instead",
			"error", err, "fallback_regions", len(regions))
	}
	regions, rep.SkippedRegions = PlanRegions(regions, e.opts.SkipRegions)
	if len(rep.SkippedRegions) > 0 {
		log.Info("regions skipped on purpose (skipRegions)", "regions", rep.SkippedRegions)
	}

	global, regional := e.split()
	// Account-wide kinds (IAM: the quarantine, the trail) run once, in their
	// order, alongside the regions rather than before them: an account with
	// thousands of principals must not push the regional sweep into its last
	// seconds. IAM is one throttling bucket of its own, so the global sweep
	// takes no region slot. Its budget is RegionTimeout, as any region's:
	// it is one more sweep running beside the others inside the function's
	// timeout, which RegionTimeout is already validated to fit, so a
	// separate setting would only be a second number to keep below it.
	// Compute stopped in a region before the quarantine holds can be started
	// again by stolen credentials; the re-sweeps stop it again.
	var globalRR RegionReport
	globalDone := make(chan struct{})
	if len(global) > 0 {
		go func() {
			defer close(globalDone)
			globalRR = e.sweepRegion(ctx, GlobalRegion, global, p)
			e.regionDone(globalRR)
		}()
	} else {
		close(globalDone)
	}

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
			results[i] = e.sweepRegion(ctx, region, regional, p)
			e.regionDone(results[i])
		}()
	}
	wg.Wait()
	<-globalDone

	if len(global) > 0 {
		rep.Regions = append(rep.Regions, globalRR)
	}
	rep.Regions = append(rep.Regions, results...)
	rep.FinishedAt = time.Now().UTC()
	rep.tally()
	rep.ManifestError = manifestErrors(rep)
	return rep
}

func (e *Engine) regionDone(rr RegionReport) {
	if e.opts.OnRegion != nil {
		e.opts.OnRegion(rr)
	}
}

// GlobalRegion is the report's name for the account-wide kinds' sweep.
const GlobalRegion = "global"

// split separates account-wide kinds from regional ones, keeping order.
func (e *Engine) split() (global, regional []Kind) {
	for _, k := range e.kinds {
		if g, ok := k.(Global); ok && g.Global() {
			global = append(global, k)
		} else {
			regional = append(regional, k)
		}
	}
	return global, regional
}

func (e *Engine) sweepRegion(ctx context.Context, region string, kinds []Kind, p Policy) (rr RegionReport) {
	rr.Region = region
	log := e.opts.Logger.With("region", region)
	var cancel context.CancelFunc
	if e.opts.RegionTimer != nil {
		ctx, cancel = context.WithCancel(ctx)
		stop := e.opts.RegionTimer(region, e.opts.RegionTimeout, cancel)
		defer stop()
	} else {
		ctx, cancel = context.WithTimeout(ctx, e.opts.RegionTimeout)
	}
	defer cancel()
	defer func() {
		// A panicking kind must not take the other regions' report down.
		if r := recover(); r != nil {
			rr.Error = fmt.Sprintf("internal error: %v", r)
			log.Error("region sweep panicked", "panic", r)
		}
	}()

	for _, k := range kinds {
		rr.Kinds = append(rr.Kinds, e.sweepKind(ctx, log, k, region, p))
	}
	return rr
}

func (e *Engine) sweepKind(ctx context.Context, log *slog.Logger, k Kind, region string, p Policy) KindReport {
	kr := KindReport{Kind: k.Name(), Noun: k.Noun()}
	if err := ctx.Err(); err != nil {
		kr.Error = "not reached: " + err.Error()
		return kr
	}
	found, err := k.Find(ctx, region)
	if err != nil {
		// Fail closed: what was listed before the failure (earlier pages)
		// is still contained; the region is reported as failed.
		kr.Error = fmt.Sprintf("listing %s in %s: %v", k.Name(), region, err)
		var nr *NotReachedError
		if errors.As(err, &nr) {
			kr.NotReached += nr.Count
		}
		log.Error("find failed", "kind", k.Name(), "error", err, "listed_before_failure", len(found))
	}
	kr.Found = len(found)
	var todo []Decision
	for _, r := range found {
		if src, ok := p.Exempt[r.ID]; ok {
			kr.Refused = append(kr.Refused, Refusal{ID: r.ID, Reason: "exempt by ID at deploy time (" + src + ")"})
			continue
		}
		if src, ok := p.Exempt[r.Parent]; ok && r.Parent != "" {
			kr.Refused = append(kr.Refused, Refusal{ID: r.ID, Reason: "launched by " + r.Parent + ", exempt at deploy time (" + src + ")"})
			continue
		}
		d := k.Decide(r)
		if d.Leave {
			kr.Refused = append(kr.Refused, Refusal{ID: r.ID, Reason: d.Reason})
			continue
		}
		todo = append(todo, d)
	}
	switch {
	case p.DryRun:
		for _, d := range todo {
			kr.Outcomes = append(kr.Outcomes, Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: StatusPlanned,
				Prior: d.Resource.Prior, Note: d.Reason})
		}
	case len(todo) > 0:
		e.journal(ctx, log, k, region, p.Journal, &kr, func() []Outcome { return e.contain(ctx, log, k, region, todo) }, todo)
	}
	if n := notReached(ctx, kr.Outcomes); n > 0 {
		kr.NotReached += n
		msg := fmt.Sprintf("the time budget ended (%v) before %d of the %d %s(s) to contain were reached; a re-sweep tries them again",
			ctx.Err(), n, len(todo), k.Noun())
		if kr.Error != "" {
			msg = kr.Error + "; " + msg
		}
		kr.Error = msg
	}
	kr.tally()
	log.Info("kind swept", "kind", k.Name(), "found", kr.Found, "counts", kr.Counts,
		"refused", len(kr.Refused), "not_reached", kr.NotReached, "dry_run", p.DryRun)
	return kr
}

// NotReachedError is what a kind's Find returns (alone or joined to other
// errors) when its time budget ended before it examined all it listed: the
// engine adds Count to the kind's report, so the owner reads how many were
// left, not a wall of context errors. What names them in the kind's words.
type NotReachedError struct {
	Count, Of int
	What      string
	Err       error
}

func (e *NotReachedError) Error() string {
	return fmt.Sprintf("%d of %d %s not reached before the time budget ended: %v", e.Count, e.Of, e.What, e.Err)
}

func (e *NotReachedError) Unwrap() error { return e.Err }

// CodeNotReached is the code of an outcome that failed only because the
// time budget ended before (or while) its call was made.
const CodeNotReached = "NotReached"

// notReached marks, once ctx has ended, the failed outcomes whose failure
// is that end (the kinds' error codes for a context error, or its text),
// and counts them. They stay failed: nothing was contained.
func notReached(ctx context.Context, outs []Outcome) int {
	if ctx.Err() == nil {
		return 0
	}
	n := 0
	for i := range outs {
		o := &outs[i]
		if o.Status != StatusFailed {
			continue
		}
		switch {
		case o.Code == CodeNotReached, o.Code == "Canceled", o.Code == "DeadlineExceeded",
			strings.Contains(o.Message, context.Canceled.Error()), strings.Contains(o.Message, context.DeadlineExceeded.Error()):
			o.Code = CodeNotReached
			n++
		}
	}
	return n
}

// journal records the plan, contains, and records the outcomes. A plan
// that cannot be recorded does not stop the containment: the report says
// the restore of this region and kind will be manual, and why.
func (e *Engine) journal(ctx context.Context, log *slog.Logger, k Kind, region string, j Journal, kr *KindReport, contain func() []Outcome, todo []Decision) {
	if j == nil {
		kr.Outcomes = contain()
		return
	}
	if err := j.Planned(ctx, region, k.Name(), todo); err != nil {
		kr.ManifestError = fmt.Sprintf("the restore manifest for %s in %s could not be written, contained anyway: %v", k.Name(), region, err)
		log.Error("restore manifest not written; containing anyway", "kind", k.Name(), "error", err)
	}
	kr.Outcomes = contain()
	if err := j.Done(ctx, region, k.Name(), kr.Outcomes); err != nil {
		msg := fmt.Sprintf("the outcomes of %s in %s could not be added to the restore manifest (its plan lists them): %v", k.Name(), region, err)
		if kr.ManifestError != "" {
			msg = kr.ManifestError + "; " + msg
		}
		kr.ManifestError = msg
		log.Error("restore manifest outcomes not written", "kind", k.Name(), "error", err)
	}
}

// contain runs the kind's Contain and makes sure every decision comes back
// with an outcome: a kind that panics or forgets one must not make the
// report quieter than the truth.
func (e *Engine) contain(ctx context.Context, log *slog.Logger, k Kind, region string, todo []Decision) (out []Outcome) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("contain panicked", "kind", k.Name(), "panic", r)
			out = nil
			for _, d := range todo {
				out = append(out, Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: StatusFailed,
					Code: "InternalError", Message: fmt.Sprintf("internal error while containing %s: %v", k.Name(), r)})
			}
		}
	}()
	out = k.Contain(ctx, region, todo)
	seen := make(map[string]bool, len(out))
	for _, o := range out {
		seen[o.ID] = true
	}
	for _, d := range todo {
		if !seen[d.Resource.ID] {
			out = append(out, Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: StatusFailed, Code: "NoOutcome",
				Message: k.Name() + " returned no outcome for it; it may still be running"})
		}
	}
	return out
}

// PlanRegions turns a region listing into the regions to visit: sorted,
// without blanks or repeats, and without the owner's skipRegions; it also
// says which skipped regions were listed. The sweep, the census and the
// self-test all visit regions planned by it.
func PlanRegions(listed, skip []string) (kept, skipped []string) {
	drop := make(map[string]bool, len(skip))
	for _, r := range skip {
		drop[r] = true
	}
	seen := make(map[string]bool, len(listed))
	for _, r := range listed {
		if r == "" || seen[r] {
			continue
		}
		seen[r] = true
		if drop[r] {
			skipped = append(skipped, r)
		} else {
			kept = append(kept, r)
		}
	}
	sort.Strings(kept)
	sort.Strings(skipped)
	return kept, skipped
}
