package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/engine"
)

var scanCommand = command{
	name: "scan", summary: "read-only census of every enabled region (exit 3 when something is found)",
	usage: "scan [--org [--role NAME]] [--regions r1,r2] [--json]",
	flags: func(fs *flag.FlagSet, c *common) {
		orgFlags(fs, c)
		fs.StringVar(&c.regions, "regions", "", "comma-separated `regions` to scan instead of every enabled region")
	},
	run: runScan,
}

var tripCommand = command{
	name: "trip", summary: "show what the switch would contain (dry run); --apply contains for real",
	usage: "trip [--org [--role NAME]] [--apply] [--from-stack] [--reason TEXT] [--regions r1,r2] [--json]",
	flags: func(fs *flag.FlagSet, c *common) {
		orgFlags(fs, c)
		fs.BoolVar(&c.apply, "apply", false, "contain for real, as the function would (default: a dry run that changes nothing)")
		fs.BoolVar(&c.fromStack, "from-stack", false, "read the deployed function's own settings, so the plan is exactly the function's")
		fs.StringVar(&c.reason, "reason", "", "why you trip it, for the latch and the owner's notice")
		fs.StringVar(&c.regions, "regions", "", "dry run only: comma-separated `regions` instead of every enabled region")
	},
	run: runTrip,
}

// scanJSON is scan's --json document.
type scanJSON struct {
	Status statusReport   `json:"status"`
	Census *census.Census `json:"census,omitempty"`
	Report *engine.Report `json:"report"`
}

// outcome is what one account's scan, trip or status came to: in
// single-account mode the command's result, with --org one account's.
type outcome struct {
	code int
	// summary is the account's progress line with --org.
	summary string
	// rep is the engine's report, for the organization's totals; nil for
	// status.
	rep *engine.Report
	// doc is the --json document.
	doc any
	// err says why code is ExitFailed, for stderr.
	err error
}

func runScan(ctx context.Context, e Env, c *common, _ []string) int {
	if c.org {
		return runOrg(ctx, e, c, "scan", func(ctx context.Context, _ *orgRun, _ orgAccount, r *resolved, w io.Writer, opts ...app.Option) outcome {
			return scanAccount(ctx, r, c, w, opts...)
		})
	}
	r, err := resolve(ctx, e, c)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch scan: %v\n", err)
		return ExitFailed
	}
	return finish(e, "scan", c, scanAccount(ctx, r, c, e.Stdout, progress(e.Stderr, "")))
}

// finish writes a single-account outcome's --json document and its error,
// and returns its exit code.
func finish(e Env, cmd string, c *common, o outcome) int {
	if c.json {
		if err := writeJSON(e.Stdout, o.doc); err != nil {
			fmt.Fprintf(e.Stderr, "killswitch %s: %v\n", cmd, err)
			return ExitFailed
		}
	}
	if o.err != nil {
		fmt.Fprintf(e.Stderr, "killswitch %s: %v\n", cmd, o.err)
	}
	return o.code
}

// scanAccount scans the account r reaches, writing its tables to w
// unless --json.
func scanAccount(ctx context.Context, r *resolved, c *common, w io.Writer, opts ...app.Option) outcome {
	// The account-wide IAM kinds list every principal, which is not what a
	// census of running things is for; the quarantine's state is shown
	// from the status instead.
	a := r.build(append(opts, app.WithRegions(splitRegions(c.regions)), app.WithKinds(func(k engine.Kind) bool {
		g, ok := k.(engine.Global)
		return !ok || !g.Global()
	}))...)
	policy := a.Policy
	policy.DryRun = true
	st := readStatus(ctx, r, a)
	// The census the schedule takes: what runs now and what it burns, in
	// the figures the caps are set in.
	var cen *census.Census
	if a.Census != nil {
		cen = a.Census.Take(ctx)
	}
	rep := a.Engine.Run(ctx, policy)
	o := outcome{code: ExitOK, rep: rep, doc: scanJSON{Status: st, Census: cen, Report: rep},
		summary: fmt.Sprintf("%d found, %d left alone, in %d region(s)", rep.Totals.Changed, rep.Totals.Refused, regionsWithFinds(rep))}
	if !c.json {
		fmt.Fprintf(w, "killswitch scan: %d region(s), read-only\n", rep.Totals.Regions)
		writeStatusLines(w, st)
		fmt.Fprintln(w)
		if cen != nil {
			writeCensus(w, cen)
		}
		writeTables(w, rep)
		fmt.Fprintf(w, "Found %d resource(s) the switch would contain, %d left alone, in %d region(s).\n",
			rep.Totals.Changed, rep.Totals.Refused, regionsWithFinds(rep))
	}
	switch {
	case len(rep.FailedRegions()) > 0 || rep.RegionDiscoveryError != "":
		o.code, o.err = ExitFailed, fmt.Errorf("incomplete: %v", rep.Err())
	case rep.Totals.Changed > 0:
		o.code = ExitFound
	}
	return o
}

func runTrip(ctx context.Context, e Env, c *common, _ []string) int {
	if c.apply && c.regions != "" {
		fmt.Fprintln(e.Stderr, "killswitch trip: --regions is for a dry run only: a real trip sweeps every enabled region, as the function does")
		return ExitUsage
	}
	if c.org {
		return runOrg(ctx, e, c, "trip", func(ctx context.Context, _ *orgRun, _ orgAccount, r *resolved, w io.Writer, opts ...app.Option) outcome {
			return tripAccount(ctx, r, c, w, opts...)
		})
	}
	r, err := resolve(ctx, e, c)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch trip: %v\n", err)
		return ExitFailed
	}
	for _, n := range r.notes {
		fmt.Fprintf(e.Stderr, "killswitch trip: %s\n", n)
	}
	return finish(e, "trip", c, tripAccount(ctx, r, c, e.Stdout, progress(e.Stderr, "")))
}

// tripAccount plans (or with --apply, makes) the trip of the account r
// reaches, writing its tables to w unless --json.
func tripAccount(ctx context.Context, r *resolved, c *common, w io.Writer, opts ...app.Option) outcome {
	if !c.apply {
		a := r.build(append(opts, app.WithRegions(splitRegions(c.regions)))...)
		policy := a.Policy
		policy.DryRun = true
		rep := a.Engine.Run(ctx, policy)
		o := outcome{code: ExitOK, rep: rep, doc: rep, err: rep.Err(),
			summary: fmt.Sprintf("would contain %d, leave %d alone, in %d region(s)", rep.Totals.Changed, rep.Totals.Refused, regionsWithFinds(rep))}
		if o.err != nil {
			o.code = ExitFailed
		}
		if c.json {
			return o
		}
		fmt.Fprintf(w, "killswitch trip: DRY RUN - nothing was changed. The plan (%s):\n\n", app.PolicyLine(r.settings))
		writeTables(w, rep)
		fmt.Fprintf(w, "Would contain %d resource(s), leave %d alone, in %d region(s). Run with --apply to contain.\n",
			rep.Totals.Changed, rep.Totals.Refused, regionsWithFinds(rep))
		return o
	}

	a := r.build(opts...)
	reason := c.reason
	if reason == "" {
		reason = "killswitch trip --apply from the CLI"
	}
	event, _ := json.Marshal(map[string]string{"killswitch": "trip", "reason": reason})
	res, herr := a.Handler.Handle(ctx, event)
	o := outcome{code: ExitOK, doc: res, err: herr}
	if herr != nil {
		o.code = ExitFailed
	}
	if res != nil && res.Report != nil {
		rep := res.Report
		o.rep = rep
		o.summary = fmt.Sprintf("contained %d, left %d alone, %d failed, in %d region(s)", rep.Totals.Changed, rep.Totals.Refused, rep.Totals.Failed, regionsWithFinds(rep))
	}
	if c.json || res == nil || res.Report == nil {
		return o
	}
	rep := res.Report
	head := "CONTAINED"
	if rep.DryRun {
		head = "DRY RUN (the deployed settings say dryRun) - nothing was changed"
	}
	fmt.Fprintf(w, "killswitch trip: %s (%s)\n\n", head, app.PolicyLine(r.settings))
	writeTables(w, rep)
	fmt.Fprintf(w, "Contained %d resource(s), left %d alone, %d failed, in %d region(s).\n",
		rep.Totals.Changed, rep.Totals.Refused, rep.Totals.Failed, regionsWithFinds(rep))
	if rep.Manifest != "" {
		fmt.Fprintf(w, "Restore manifest: %s\n", rep.Manifest)
	}
	if rep.ManifestError != "" {
		fmt.Fprintf(w, "RESTORE WILL BE MANUAL: %s\n", rep.ManifestError)
	}
	if res.Latch != nil && res.Latch.Tripped {
		fmt.Fprintf(w, "The switch is TRIPPED: the schedule re-sweeps until `killswitch disarm`.\n")
	}
	return o
}

// progress prints one line per region as its sweep finishes; with --org
// prefix names the account, whose regions finish among the others'.
func progress(w io.Writer, prefix string) app.Option {
	return app.WithProgress(func(rr engine.RegionReport) {
		found, errs := 0, []string{}
		for _, kr := range rr.Kinds {
			found += kr.Found
			if kr.Error != "" {
				errs = append(errs, kr.Error)
			}
		}
		if rr.Error != "" {
			errs = append(errs, rr.Error)
		}
		line := fmt.Sprintf("  %s%-15s %d found", prefix, rr.Region, found)
		if len(errs) > 0 {
			line += "; FAILED: " + strings.Join(errs, "; ")
		}
		fmt.Fprintln(w, line)
	})
}

// writeTables prints, per region and kind with something found, one row
// per resource: what it was and what the switch does (or would do) to it.
func writeTables(w io.Writer, rep *engine.Report) {
	for _, rr := range rep.Regions {
		var kinds []engine.KindReport
		for _, kr := range rr.Kinds {
			if kr.Found > 0 || kr.Error != "" || len(kr.Outcomes) > 0 {
				kinds = append(kinds, kr)
			}
		}
		if len(kinds) == 0 && rr.Error == "" {
			continue
		}
		fmt.Fprintln(w, rr.Region)
		if rr.Error != "" {
			fmt.Fprintf(w, "  FAILED: %s\n", rr.Error)
		}
		for _, kr := range kinds {
			fmt.Fprintf(w, "  %s: %d found\n", kr.Kind, kr.Found)
			if kr.Error != "" {
				fmt.Fprintf(w, "    FAILED: %s\n", kr.Error)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "    ID\tBEFORE\tACTION")
			for _, o := range kr.Outcomes {
				before := "-"
				if o.Prior != nil {
					before = o.Prior.Describe()
				}
				action := o.Label()
				if o.Message != "" {
					action += ": " + o.Message
				}
				fmt.Fprintf(tw, "    %s\t%s\t%s\n", o.ID, before, action)
			}
			for _, ref := range kr.Refused {
				fmt.Fprintf(tw, "    %s\t-\tleft alone: %s\n", ref.ID, ref.Reason)
			}
			tw.Flush()
		}
		fmt.Fprintln(w)
	}
}

func regionsWithFinds(rep *engine.Report) int {
	n := 0
	for _, rr := range rep.Regions {
		for _, kr := range rr.Kinds {
			if kr.Found > 0 {
				n++
				break
			}
		}
	}
	return n
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonExit writes v as JSON and turns err into the exit code.
func jsonExit(e Env, cmd string, v any, err error) int {
	if werr := writeJSON(e.Stdout, v); werr != nil {
		fmt.Fprintf(e.Stderr, "killswitch %s: %v\n", cmd, werr)
		return ExitFailed
	}
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch %s: %v\n", cmd, err)
		return ExitFailed
	}
	return ExitOK
}

// writeCensus prints the census: the totals the caps compare, then a row
// per region in use.
func writeCensus(w io.Writer, c *census.Census) {
	fmt.Fprintf(w, "Running now: %d instance(s), %d vCPU(s), %d GPU(s), %d Spot, about $%.2f an hour, in %d region(s)\n",
		c.Instances, c.VCPUs, c.GPUs, c.Spot, c.HourlyBurnUSD, c.RegionsInUse)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  REGION\tINSTANCES\tVCPUS\tGPUS\tSPOT\tUSD/H\tASG DESIRED\tECS TASKS\tSAGEMAKER")
	for _, r := range c.Regions {
		if !r.InUse() && r.Error == "" {
			continue
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "  %s\tNOT READ: %s\n", r.Region, r.Error)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%.2f\t%d\t%d\t%d\n", r.Region, r.Instances, r.VCPUs, r.GPUs, r.Spot,
			r.HourlyBurnUSD, r.ASGDesired, r.ECSTasks, r.SageMakerRunning)
	}
	tw.Flush()
	for _, g := range c.Gaps {
		fmt.Fprintf(w, "  gap: %s\n", g)
	}
	fmt.Fprintln(w)
}
