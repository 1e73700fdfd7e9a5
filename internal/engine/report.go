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
	Action     Action    `json:"action"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// RegionDiscoveryError is set when DescribeRegions failed and the
	// built-in region list was swept instead.
	RegionDiscoveryError string         `json:"regionDiscoveryError,omitempty"`
	Regions              []RegionReport `json:"regions"`
	Totals               Totals         `json:"totals"`
}

// Totals sum the report over every region and kind.
type Totals struct {
	Regions          int `json:"regions"`
	RegionsFailed    int `json:"regionsFailed"`
	Found            int `json:"found"`
	Stopped          int `json:"stopped"`
	Terminated       int `json:"terminated"`
	WouldStop        int `json:"wouldStop,omitempty"`
	WouldTerminate   int `json:"wouldTerminate,omitempty"`
	Gone             int `json:"gone,omitempty"`
	Refused          int `json:"refused"`
	Failed           int `json:"failed"`
	ProtectionForced int `json:"protectionOverridden"`
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
	Found int    `json:"found"`
	// Error is set when the kind could not list the region at all.
	Error      string   `json:"error,omitempty"`
	Stopped    []string `json:"stopped,omitempty"`
	Terminated []string `json:"terminated,omitempty"`
	// WouldStop and WouldTerminate are a dry run's plan.
	WouldStop      []string `json:"wouldStop,omitempty"`
	WouldTerminate []string `json:"wouldTerminate,omitempty"`
	// Gone were already gone or going down when acted on.
	Gone                 []string  `json:"gone,omitempty"`
	ProtectionOverridden []string  `json:"protectionOverridden,omitempty"`
	Refused              []Refusal `json:"refused,omitempty"`
	Failed               []Failure `json:"failed,omitempty"`
	// Notes explain changes of plan, keyed by resource ID.
	Notes map[string]string `json:"notes,omitempty"`
}

// Refusal is a resource deliberately left alone.
type Refusal struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Failure is a resource the kill switch tried and failed to contain.
type Failure struct {
	ID      string `json:"id"`
	Action  Action `json:"action"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

func (kr *KindReport) add(o Outcome, dryRun bool) {
	switch {
	case o.Status == StatusFailed:
		kr.Failed = append(kr.Failed, Failure{ID: o.ID, Action: o.Action, Code: o.Code, Message: o.Message})
	case o.Status == StatusGone:
		kr.Gone = append(kr.Gone, o.ID)
	case dryRun && o.Action == ActionStop:
		kr.WouldStop = append(kr.WouldStop, o.ID)
	case dryRun && o.Action == ActionTerminate:
		kr.WouldTerminate = append(kr.WouldTerminate, o.ID)
	case o.Action == ActionStop:
		kr.Stopped = append(kr.Stopped, o.ID)
	case o.Action == ActionTerminate:
		kr.Terminated = append(kr.Terminated, o.ID)
	}
	if o.ProtectionOverridden {
		kr.ProtectionOverridden = append(kr.ProtectionOverridden, o.ID)
	}
	if o.Note != "" && !dryRun {
		if kr.Notes == nil {
			kr.Notes = map[string]string{}
		}
		kr.Notes[o.ID] = o.Note
	}
}

func (kr *KindReport) containedCount() int {
	return len(kr.Stopped) + len(kr.Terminated) + len(kr.WouldStop) + len(kr.WouldTerminate)
}

func (r *Report) tally() {
	t := Totals{Regions: len(r.Regions)}
	for i := range r.Regions {
		rr := &r.Regions[i]
		for j := range rr.Kinds {
			kr := &rr.Kinds[j]
			for _, ids := range [][]string{kr.Stopped, kr.Terminated, kr.WouldStop, kr.WouldTerminate, kr.Gone, kr.ProtectionOverridden} {
				sort.Strings(ids)
			}
			t.Found += kr.Found
			t.Stopped += len(kr.Stopped)
			t.Terminated += len(kr.Terminated)
			t.WouldStop += len(kr.WouldStop)
			t.WouldTerminate += len(kr.WouldTerminate)
			t.Gone += len(kr.Gone)
			t.Refused += len(kr.Refused)
			t.Failed += len(kr.Failed)
			t.ProtectionForced += len(kr.ProtectionOverridden)
		}
		if rr.Failed() {
			t.RegionsFailed++
		}
	}
	r.Totals = t
}

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
// do: a region not reached or not listed, or a resource not contained.
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
	if r.Totals.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d resource(s) could not be contained", r.Totals.Failed))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("containment incomplete: " + strings.Join(problems, "; "))
}
