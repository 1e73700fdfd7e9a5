package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Report is what one sweep did, per region and per kind. It is the
// handler's JSON result and the source of the owner's notification.
type Report struct {
	DryRun     bool      `json:"dryRun"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// RegionDiscoveryError is set when DescribeRegions failed and the
	// built-in region list was swept instead.
	RegionDiscoveryError string `json:"regionDiscoveryError,omitempty"`
	// FallbackSweep says the regions swept are the built-in list, not the
	// account's enabled regions (which could not be listed).
	FallbackSweep bool `json:"fallbackSweep,omitempty"`
	// SkippedRegions were listed but not swept, on the owner's word that an
	// SCP denies them (skipRegions).
	SkippedRegions []string       `json:"skippedRegions,omitempty"`
	Regions        []RegionReport `json:"regions"`
	Totals         Totals         `json:"totals"`
	// Manifest is where the restore manifest of this run was written (an
	// S3 prefix); empty when none was (a dry run, or no bucket).
	Manifest string `json:"manifest,omitempty"`
	// ManifestError says why part or all of the restore manifest could not
	// be written: the restore of what it misses will be manual. Containment
	// went ahead regardless.
	ManifestError string `json:"manifestError,omitempty"`
}

// Totals sum the report over every region and kind.
type Totals struct {
	Regions       int `json:"regions"`
	RegionsFailed int `json:"regionsFailed"`
	Found         int `json:"found"`
	// Changed counts resources contained (or, in a dry run, that would be).
	Changed int `json:"changed"`
	Gone    int `json:"gone,omitempty"`
	Refused int `json:"refused"`
	Failed  int `json:"failed"`
	// NotReached counts what kinds found but did not reach before their
	// time budget ended (see KindReport.NotReached).
	NotReached int `json:"notReached,omitempty"`
	// Unplaced counts outcomes with an unknown verb or status: a bug in a
	// kind, reported rather than dropped.
	Unplaced int `json:"unplaced,omitempty"`
	// Also counts secondary changes, such as protection turned off.
	Also int `json:"also,omitempty"`
	// ByLabel counts outcomes by where they were placed ("stopped",
	// "scaled to 0", "would stop", "failed"...), over every kind.
	ByLabel map[string]int `json:"byLabel,omitempty"`
}

// RegionReport is one region's sweep.
type RegionReport struct {
	Region string `json:"region"`
	// Error is a region-wide failure: not reached before the deadline, or
	// an internal error. Per-kind listing failures sit in KindReport.Error.
	Error      string       `json:"error,omitempty"`
	NotReached bool         `json:"notReached,omitempty"`
	Kinds      []KindReport `json:"kinds,omitempty"`
}

// KindReport is one kind's sweep of one region.
type KindReport struct {
	Kind  string `json:"kind"`
	Noun  string `json:"noun"`
	Found int    `json:"found"`
	// Error is set when the kind could not list the region (or not all of it).
	Error string `json:"error,omitempty"`
	// NotReached counts what the kind found (or was listing) but did not
	// examine or contain before its time budget ended; Error says so too.
	NotReached int `json:"notReached,omitempty"`
	// ManifestError is set when the restore manifest could not record this
	// kind's plan or outcomes here.
	ManifestError string `json:"manifestError,omitempty"`
	// Counts holds the outcomes by label (see Outcome.Label).
	Counts map[string]int `json:"counts,omitempty"`
	// Outcomes is every outcome in full: verbs, prior states, failures.
	Outcomes []Outcome `json:"outcomes,omitempty"`
	Refused  []Refusal `json:"refused,omitempty"`
}

// Refusal is a resource deliberately left alone.
type Refusal struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// tally sorts the outcomes by ID and counts them by label.
func (kr *KindReport) tally() {
	sort.SliceStable(kr.Outcomes, func(i, j int) bool { return kr.Outcomes[i].ID < kr.Outcomes[j].ID })
	kr.Counts = nil
	for _, o := range kr.Outcomes {
		if kr.Counts == nil {
			kr.Counts = map[string]int{}
		}
		kr.Counts[o.Label()]++
	}
}

// IDs lists, in order, the IDs of the outcomes placed under label.
func (kr *KindReport) IDs(label string) []string {
	var ids []string
	for _, o := range kr.Outcomes {
		if o.Label() == label {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// Failed lists the outcomes that failed or could not be placed.
func (kr *KindReport) Failed() []Outcome {
	var out []Outcome
	for _, o := range kr.Outcomes {
		if o.Status == StatusFailed || !o.Placed() {
			out = append(out, o)
		}
	}
	return out
}

// Changed counts the resources contained (or planned, in a dry run).
func (kr *KindReport) Changed() int {
	n := 0
	for _, o := range kr.Outcomes {
		if o.Changed() {
			n++
		}
	}
	return n
}

func (r *Report) tally() {
	var t Totals
	for i := range r.Regions {
		rr := &r.Regions[i]
		if rr.Region != GlobalRegion {
			t.Regions++
		}
		for j := range rr.Kinds {
			kr := &rr.Kinds[j]
			kr.tally()
			t.Found += kr.Found
			t.Refused += len(kr.Refused)
			t.NotReached += kr.NotReached
			for _, o := range kr.Outcomes {
				if t.ByLabel == nil {
					t.ByLabel = map[string]int{}
				}
				t.ByLabel[o.Label()]++
				t.Also += len(o.Also)
				switch {
				case !o.Placed():
					t.Unplaced++
				case o.Changed():
					t.Changed++
				case o.Status == StatusFailed:
					t.Failed++
				case o.Status == StatusGone:
					t.Gone++
				}
			}
		}
		if rr.Failed() {
			t.RegionsFailed++
		}
	}
	r.Totals = t
}

// manifestErrors sums up the kinds' manifest failures in one line, for the
// report's headline: the first one in full, and how many more.
func manifestErrors(r *Report) string {
	var errs []string
	for _, rr := range r.Regions {
		for _, kr := range rr.Kinds {
			if kr.ManifestError != "" {
				errs = append(errs, kr.ManifestError)
			}
		}
	}
	switch len(errs) {
	case 0:
		return ""
	case 1:
		return errs[0]
	}
	return fmt.Sprintf("%s (and %d more region(s) or kind(s) like it)", errs[0], len(errs)-1)
}

// Retally recounts a report assembled or edited by hand (tests, merges).
func (r *Report) Retally() { r.tally() }

// FailedRegions lists the regions with a region-wide or listing failure.
func (r *Report) FailedRegions() []string {
	var out []string
	for _, rr := range r.Regions {
		if rr.Failed() {
			out = append(out, rr.Region)
		}
	}
	return out
}

// Failed says whether the region was not fully swept: a region-wide
// failure, or a kind that could not list it.
func (rr *RegionReport) Failed() bool {
	if rr.Error != "" {
		return true
	}
	for _, kr := range rr.Kinds {
		if kr.Error != "" {
			return true
		}
	}
	return false
}

// Err is non-nil when the sweep left anything undone that a retry might
// do: a region not reached or not listed, a resource not contained, or an
// outcome the report could not place.
// The handler returns it so that Lambda's async retry runs the sweep again.
func (r *Report) Err() error {
	var problems []string
	if r.RegionDiscoveryError != "" {
		// The built-in list may lack a region the attacker enabled.
		problems = append(problems, "enabled regions could not be listed, so a built-in list was swept")
	}
	if failed := r.FailedRegions(); len(failed) > 0 {
		problems = append(problems, fmt.Sprintf("%d region(s) not fully swept: %s", len(failed), strings.Join(failed, ", ")))
	}
	if r.Totals.NotReached > 0 {
		problems = append(problems, fmt.Sprintf("%d resource(s) found but not reached before the time budget ended", r.Totals.NotReached))
	}
	if r.Totals.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d resource(s) could not be contained", r.Totals.Failed))
	}
	if r.Totals.Unplaced > 0 {
		problems = append(problems, fmt.Sprintf("%d outcome(s) with an unknown verb or status", r.Totals.Unplaced))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("containment incomplete: " + strings.Join(problems, "; "))
}
