package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/manifest"
	"github.com/killswitch/killswitch/internal/resources"
)

var statusCommand = command{
	name: "status", summary: "armed or tripped, the last trip and its manifest, the quarantine",
	usage: "status [--org [--role NAME]] [--json]",
	flags: orgFlags,
	run:   runStatus,
}

// statusReport is what status shows, and its --json document.
type statusReport struct {
	Region string `json:"region"`
	// Latch is nil when no latch is configured or it could not be read.
	Latch      *latch.State `json:"latch,omitempty"`
	LatchError string       `json:"latchError,omitempty"`
	// LastTrip is the newest trip in the manifest bucket.
	LastTrip      string `json:"lastTrip,omitempty"`
	Manifest      string `json:"manifest,omitempty"`
	ManifestItems int    `json:"manifestItems,omitempty"`
	Sweeps        int    `json:"sweeps,omitempty"`
	ManifestError string `json:"manifestError,omitempty"`
	// LastCensus is when the schedule's newest census ran, and
	// CensusSummary what it saw; both empty when none is recorded.
	LastCensus    time.Time `json:"lastCensus,omitzero"`
	CensusSummary string    `json:"censusSummary,omitempty"`
	CensusRecord  string    `json:"censusRecord,omitempty"`
	CensusError   string    `json:"censusError,omitempty"`
	// CensusEveryMinutes is the schedule's interval, and CensusOverdue
	// says the census missed manifest.OverdueAfter runs of it.
	CensusEveryMinutes int  `json:"censusEveryMinutes,omitempty"`
	CensusOverdue      bool `json:"censusOverdue,omitempty"`
	// Quarantined counts the principals the quarantine policy is attached
	// to; -1 when it could not be read or no policy is configured.
	QuarantinePolicy string   `json:"quarantinePolicy,omitempty"`
	Quarantined      int      `json:"quarantined"`
	QuarantineError  string   `json:"quarantineError,omitempty"`
	Notes            []string `json:"notes,omitempty"`
}

// failed says whether some part of the status could not be read.
func (s statusReport) failed() bool {
	return s.LatchError != "" || s.ManifestError != "" || s.CensusError != "" || s.QuarantineError != ""
}

func runStatus(ctx context.Context, e Env, c *common, _ []string) int {
	if c.org {
		return runOrg(ctx, e, c, "status", func(ctx context.Context, run *orgRun, acct orgAccount, r *resolved, w io.Writer, _ ...app.Option) outcome {
			return orgStatusAccount(ctx, run, acct, r, c, w)
		})
	}
	r, err := resolve(ctx, e, c)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch status: %v\n", err)
		return ExitFailed
	}
	st := readStatus(ctx, r, r.build())
	code := ExitOK
	if st.failed() {
		code = ExitFailed
	}
	if c.json {
		if err := writeJSON(e.Stdout, st); err != nil {
			return ExitFailed
		}
		return code
	}
	fmt.Fprintf(e.Stdout, "killswitch status (%s)\n", st.Region)
	writeStatusLines(e.Stdout, st)
	for _, n := range st.Notes {
		fmt.Fprintf(e.Stderr, "killswitch status: %s\n", n)
	}
	return code
}

// readStatus reads the latch, the newest trip and the quarantine. A part
// that cannot be read is reported, not fatal: the rest is still worth
// seeing.
func readStatus(ctx context.Context, r *resolved, a *app.App) statusReport {
	st := statusReport{Region: r.cfg.Region, Quarantined: -1, Notes: r.notes}
	if a.Latch == nil {
		st.LatchError = "no latch configured (--latch-parameter, the stack output LatchParameterName, or KILLSWITCH_LATCH_PARAMETER)"
	} else if l, err := a.Latch.Load(ctx); err != nil {
		st.LatchError = err.Error()
	} else {
		st.Latch = &l
	}

	readCensus(ctx, a, &st)
	if a.Manifests == nil {
		st.ManifestError = "no manifest bucket configured (--bucket, the stack output ManifestBucketName, or KILLSWITCH_MANIFEST_BUCKET)"
	} else if trip, err := a.Manifests.Latest(ctx); errors.Is(err, manifest.ErrNoTrips) {
		st.Manifest = "s3://" + a.Manifests.Bucket() + "/" + manifest.Prefix
	} else if err != nil {
		st.ManifestError = err.Error()
	} else if t, err := a.Manifests.Load(ctx, trip); err != nil {
		st.ManifestError = err.Error()
	} else {
		st.LastTrip, st.Manifest, st.ManifestItems, st.Sweeps = t.ID, t.Location, t.Count(), len(t.Sweeps)
	}

	st.QuarantinePolicy = r.settings.QuarantinePolicyARN
	if st.QuarantinePolicy != "" {
		n, err := resources.QuarantineHolders(ctx, iam.NewFromConfig(r.cfg), st.QuarantinePolicy)
		if err != nil {
			st.QuarantineError = err.Error()
		} else {
			st.Quarantined = n
		}
	}
	return st
}

// readCensus reads the newest census the schedule recorded in the
// manifest bucket.
func readCensus(ctx context.Context, a *app.App, st *statusReport) {
	if a.Manifests == nil {
		st.CensusError = "no manifest bucket configured, which is where the schedule records its census"
		return
	}
	st.CensusRecord = a.Manifests.CensusLocation()
	c, err := a.Manifests.LatestCensus(ctx)
	switch {
	case errors.Is(err, manifest.ErrNoCensus):
	case err != nil:
		st.CensusError = err.Error()
	default:
		st.LastCensus, st.CensusSummary, st.CensusEveryMinutes = c.At, c.Summary(), c.EveryMinutes
		st.CensusOverdue = c.Overdue(time.Now())
	}
}

func writeStatusLines(w io.Writer, st statusReport) {
	line := func(k, format string, args ...any) {
		fmt.Fprintf(w, "  %-12s %s\n", k+":", fmt.Sprintf(format, args...))
	}
	switch l := st.Latch; {
	case st.LatchError != "":
		line("Switch", "UNKNOWN: %s", st.LatchError)
	case l.Tripped:
		line("Switch", "TRIPPED since %s by: %s", stamp(l.Since), l.Reason)
		line("Re-sweeps", "%d, %d relaunch(es) caught; last sweep %s", l.Resweeps, l.Relaunches, stamp(l.LastSweep))
	default:
		line("Switch", "armed (not tripped)")
		if !l.DisarmedAt.IsZero() {
			line("Disarmed", "%s: %s", stamp(l.DisarmedAt), orNone(l.DisarmReason))
		}
	}
	switch {
	case st.CensusError != "":
		line("Census", "UNKNOWN: %s", st.CensusError)
	case st.LastCensus.IsZero():
		line("Census", "none recorded in %s (the schedule takes one on every run while armed)", st.CensusRecord)
	case st.Latch != nil && st.Latch.Tripped && st.LastCensus.Before(st.Latch.Since):
		line("Census", "%s, before the trip (while tripped the schedule re-sweeps instead): %s", stamp(st.LastCensus), st.CensusSummary)
	case st.CensusOverdue:
		line("Census", "OVERDUE: the last one ran %s, and the schedule takes one every %d min: check the function's errors and its schedule (%s). It counted: %s",
			stamp(st.LastCensus), st.CensusEveryMinutes, guard.ResweepScheduleName, st.CensusSummary)
	default:
		line("Census", "%s: %s", stamp(st.LastCensus), st.CensusSummary)
	}
	if st.Latch != nil {
		line("Self-test", "%s", stampOr(st.Latch.LastSelfTest, "not run yet"))
	}
	switch {
	case st.ManifestError != "":
		line("Last trip", "UNKNOWN: %s", st.ManifestError)
	case st.LastTrip == "":
		line("Last trip", "none recorded in %s", st.Manifest)
	default:
		line("Last trip", "%s: %d change(s) over %d sweep(s), manifest %s", st.LastTrip, st.ManifestItems, st.Sweeps, st.Manifest)
	}
	switch {
	case st.QuarantinePolicy == "":
		line("Quarantine", "off (no quarantine policy configured)")
	case st.QuarantineError != "":
		line("Quarantine", "UNKNOWN: %s", st.QuarantineError)
	case st.Quarantined == 0:
		line("Quarantine", "not attached to anyone")
	default:
		line("Quarantine", "ATTACHED to %d principal(s) (%s)", st.Quarantined, st.QuarantinePolicy)
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func stampOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return stamp(t)
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}
