package handler

// The armed side of the schedule: the census, the caps that trip, and the
// daily self-test.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/notify"
	"github.com/killswitch/killswitch/internal/trigger"
)

// armed is a scheduled run while the latch is not tripped: the census, and
// once a day the self-test. A cap crossed trips exactly as a budget alert
// does: the same sweep, latch and report, naming the cap.
func (h *Handler) armed(ctx context.Context, res *Result, nc notify.Context, st latch.State) error {
	if h.cfg.Census == nil {
		h.log.Info("scheduled run: armed, not tripped, no census configured; nothing to do")
		return nil
	}
	c := h.cfg.Census.Take(ctx)
	res.Census = c
	// The census line is logged on every run: the owner picks the caps
	// from it.
	h.log.Info("census", "summary", c.Summary(), "instances", c.Instances, "vcpus", c.VCPUs, "gpus", c.GPUs,
		"spot", c.Spot, "hourly_burn_usd", c.HourlyBurnUSD, "regions_in_use", c.RegionsInUse,
		"regions_read", c.RegionsRead, "regions_failed", c.RegionsFailed, "calls", c.Calls,
		"duration_ms", c.Duration.Milliseconds(), "type_source", c.TypeSource)
	for _, g := range c.Gaps {
		h.log.Warn("census gap", "gap", g)
	}
	if h.cfg.CensusLog != nil {
		// Only `killswitch status` reads it: a failed write is logged and
		// fails nothing, since the census itself and its caps still worked.
		if err := h.cfg.CensusLog.SaveCensus(ctx, c, h.cfg.ResweepMinutes); err != nil {
			h.log.Error("could not record the census for `killswitch status`", "error", err)
		}
	}

	now := h.cfg.Now().UTC()
	if breaches := h.cfg.Caps.Evaluate(c); len(breaches) > 0 {
		if h.cfg.Policy.DryRun {
			return h.dryRunCensusTrip(ctx, res, nc, st, breaches, now)
		}
		return h.censusTrip(ctx, res, nc, breaches)
	}

	var errs []error
	if c.Blind() {
		// Seeing nothing is not "nothing running": fail loudly, so the
		// function's errors and its on-failure destination show it.
		errs = append(errs, fmt.Errorf("census: not one of %d region(s) could be read: %s", c.RegionsRead, strings.Join(c.Gaps, "; ")))
	}
	if h.cfg.SelfTest != nil && st.SelfTestDue(now) {
		errs = append(errs, h.selfTest(ctx, res, nc, st, now))
	}
	return errors.Join(errs...)
}

// censusTrip contains the account because the census crossed a cap.
func (h *Handler) censusTrip(ctx context.Context, res *Result, nc notify.Context, breaches []census.Breach) error {
	res.Tripped = true
	res.Breaches = breaches
	nc.Triggers = nil
	// The latch's reason is short; the report carries the full lines.
	var signals []trigger.Signal
	for _, b := range breaches {
		line := b.Line()
		signals = append(signals, trigger.Signal{Source: SourceCensus, Trips: true,
			Summary: fmt.Sprintf("census cap %s exceeded (%s, limit %d)", b.Cap, strconvFloat(b.Observed), b.Limit)})
		nc.Triggers = append(nc.Triggers, line)
		res.Triggers = append(res.Triggers, TriggerLine{Source: SourceCensus, Trips: true, Summary: line})
		h.log.Warn("census cap exceeded: tripping", "cap", b.Cap, "observed", b.Observed, "limit", b.Limit,
			"regions", b.Regions, "types", b.Types)
	}
	now := h.cfg.Now().UTC()
	policy := h.withJournal(h.cfg.Policy, h.tripSince(ctx, now), now)
	rep := h.sweep(ctx, res, policy)
	sweepErr := rep.Err()
	latchErr := h.setLatch(ctx, res, signals, policy.DryRun, now)
	if res.Latch != nil && res.Latch.Tripped {
		nc.Latch = h.latchLines(*res.Latch)
	} else if latchErr != nil {
		nc.Latch = []string{"The latch could NOT be set, so the switch will not re-sweep on its schedule: " + latchErr.Error()}
	}
	pubErr := h.publish(ctx, res, notify.ForReport(nc, rep))
	return errors.Join(sweepErr, latchErr, pubErr)
}

// dryRunCensusTrip is a cap crossed under a deploy-time dry run: the latch
// is never set, so every run would cross it again; the dry-run report goes
// out once a day, and the other runs only log the breach.
func (h *Handler) dryRunCensusTrip(ctx context.Context, res *Result, nc notify.Context, st latch.State, breaches []census.Breach, now time.Time) error {
	if !st.LastDryRunCensus.IsZero() && now.Sub(st.LastDryRunCensus) < 24*time.Hour {
		res.Breaches = breaches
		for _, b := range breaches {
			h.log.Warn("census cap exceeded (dry run, reported today already)", "cap", b.Cap, "observed", b.Observed, "limit", b.Limit)
		}
		return nil
	}
	err := h.censusTrip(ctx, res, nc, breaches)
	st.LastDryRunCensus = now
	if saveErr := h.cfg.Latch.Save(ctx, st); saveErr != nil {
		h.log.Error("could not record the dry-run census report in the latch", "error", saveErr)
		err = errors.Join(err, saveErr)
	}
	return err
}

// selfTest runs the daily self-test, warns the owner of what broke, and
// records the day in the latch (written only here, once a day, so the
// census itself writes nothing).
func (h *Handler) selfTest(ctx context.Context, res *Result, nc notify.Context, st latch.State, now time.Time) error {
	r := h.cfg.SelfTest.Run(ctx)
	res.SelfTest = &r
	failed := r.Failed()
	var pubErr error
	if len(failed) > 0 {
		for _, c := range failed {
			h.log.Error("self-test failed", "check", c.Name, "code", c.Code, "problem", c.Problem)
		}
		pubErr = h.publish(ctx, res, r.Message(nc.Account))
	} else {
		h.log.Info("self-test passed", "checks", len(r.Checks))
	}
	st.LastSelfTest = now
	saveErr := h.cfg.Latch.Save(ctx, st)
	if saveErr != nil {
		h.log.Error("could not record the self-test in the latch", "error", saveErr)
	}
	res.Latch = &st
	// A warning that could not be sent must fail the run, so the
	// on-failure destination and the function's errors show it.
	return errors.Join(pubErr, saveErr)
}

func strconvFloat(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.2f", f)
}
