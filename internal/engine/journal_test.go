package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/killswitch/killswitch/internal/engine"
)

// eventLog is one ordered record of what the journal and the kinds did.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// fakeJournal records its calls in the shared log; plannedErr makes
// Planned fail.
type fakeJournal struct {
	log        *eventLog
	plannedErr error
	doneErr    error
	doneCtxErr []error
}

func (j *fakeJournal) Location() string { return "s3://bucket/trips/trip-x/" }

func (j *fakeJournal) Planned(_ context.Context, region, kind string, todo []engine.Decision) error {
	var ids []string
	for _, d := range todo {
		ids = append(ids, d.Resource.ID)
	}
	j.log.add("planned " + region + " " + kind + " " + strings.Join(ids, ","))
	return j.plannedErr
}

func (j *fakeJournal) Done(ctx context.Context, region, kind string, outs []engine.Outcome) error {
	j.log.add("done " + region + " " + kind)
	j.doneCtxErr = append(j.doneCtxErr, ctx.Err())
	return j.doneErr
}

func journalKind(log *eventLog, ids ...string) *fakeKind {
	return &fakeKind{name: "things", found: map[string][]engine.Resource{"r1": res(ids...)},
		outcome: func(d engine.Decision) engine.Outcome {
			log.add("contain " + d.Resource.ID)
			return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone}
		}}
}

func TestJournalRecordsThePlanBeforeContainingAndTheOutcomesAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		plannedErr  error
		doneErr     error
		wantError   []string // substrings of Report.ManifestError; nil: none
		wantContain bool
	}{
		{name: "written", wantContain: true},
		{name: "plan fails: contained anyway", plannedErr: errors.New("AccessDenied"), wantContain: true,
			wantError: []string{"could not be written", "contained anyway", "AccessDenied", "things in r1"}},
		{name: "outcomes fail", doneErr: errors.New("SlowDown"), wantContain: true,
			wantError: []string{"outcomes of things in r1", "SlowDown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &eventLog{}
			j := &fakeJournal{log: log, plannedErr: tc.plannedErr, doneErr: tc.doneErr}
			k := journalKind(log, "a", "refuse-b", "c")
			rep := newEngine(fakeRegions{regions: []string{"r1"}}, engine.Options{}, k).Run(context.Background(), engine.Policy{Journal: j})

			want := []string{"planned r1 things a,c", "contain a", "contain c", "done r1 things"}
			if got := log.all(); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("order = %q, want %q", got, want)
			}
			if rep.Manifest != j.Location() {
				t.Errorf("report names manifest %q, want %q", rep.Manifest, j.Location())
			}
			if tc.wantError == nil && rep.ManifestError != "" {
				t.Errorf("ManifestError = %q, want none", rep.ManifestError)
			}
			for _, s := range tc.wantError {
				if !strings.Contains(rep.ManifestError, s) {
					t.Errorf("ManifestError = %q, want it to contain %q", rep.ManifestError, s)
				}
			}
			if got := rep.Totals.Changed; got != 2 {
				t.Errorf("changed %d, want 2: a manifest failure must not stop containment", got)
			}
			if err := rep.Err(); err != nil {
				t.Errorf("Err() = %v: a manifest failure is reported, not retried (the retry finds nothing left to record)", err)
			}
		})
	}
}

func TestJournalIsNotWrittenOnADryRunOrWithNothingToDo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		policy func(j engine.Journal) engine.Policy
		ids    []string
	}{
		{"dry run", func(j engine.Journal) engine.Policy { return engine.Policy{DryRun: true, Journal: j} }, []string{"a"}},
		{"nothing to do", func(j engine.Journal) engine.Policy { return engine.Policy{Journal: j} }, []string{"refuse-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &eventLog{}
			j := &fakeJournal{log: log}
			rep := newEngine(fakeRegions{regions: []string{"r1"}}, engine.Options{}, journalKind(log, tc.ids...)).Run(context.Background(), tc.policy(j))
			for _, e := range log.all() {
				if strings.HasPrefix(e, "planned") || strings.HasPrefix(e, "done") {
					t.Errorf("journal written: %q", e)
				}
			}
			if tc.name == "dry run" && rep.Manifest != "" {
				t.Errorf("a dry run names manifest %q", rep.Manifest)
			}
		})
	}
}

// The outcomes are recorded even when the sweep's context ended during
// Contain: the journal gets the ended context and must detach from it.
func TestJournalDoneIsCalledAfterTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &eventLog{}
	j := &fakeJournal{log: log}
	k := &fakeKind{name: "things", found: map[string][]engine.Resource{"r1": res("a")},
		outcome: func(d engine.Decision) engine.Outcome {
			cancel() // the deadline strikes while the change is being made
			return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone}
		}}
	newEngine(fakeRegions{regions: []string{"r1"}}, engine.Options{}, k).Run(ctx, engine.Policy{Journal: j})
	if len(j.doneCtxErr) != 1 {
		t.Fatalf("Done called %d times, want 1", len(j.doneCtxErr))
	}
	if j.doneCtxErr[0] == nil {
		t.Errorf("Done got a live context; this test is meant to cut it")
	}
}
