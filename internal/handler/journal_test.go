package handler_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
)

// nopJournal records nothing; the test only reads which trip and sweep
// the handler opened it for.
type nopJournal struct{}

func (nopJournal) Location() string { return "s3://b/trips/x/" }
func (nopJournal) Planned(context.Context, string, string, []engine.Decision) error {
	return nil
}
func (nopJournal) Done(context.Context, string, string, []engine.Outcome) error { return nil }

// The manifest is filed under the trip's time, which the latch then
// records as Since; a second alert and the scheduled re-sweeps of the same
// trip file under that same time. A dry run opens no journal.
func TestJournalIsOpenedForTheLatchsTrip(t *testing.T) {
	t.Parallel()
	tripAt := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	c := &clock{t: tripAt}
	store := &memLatch{}
	type opened struct{ trip, sweep time.Time }
	var got []opened
	cfg := latchConfig(t, store, c)
	cfg.Journal = func(trip, sweep time.Time) engine.Journal {
		got = append(got, opened{trip, sweep})
		return nopJournal{}
	}
	sw := &fakeSweeper{}
	h := handler.New(sw, &fakePublisher{}, cfg, slog.New(slog.DiscardHandler))

	if _, err := h.Handle(context.Background(), budgetActual(t)); err != nil {
		t.Fatal(err)
	}
	if !store.st.Since.Equal(tripAt) {
		t.Fatalf("latch Since %v, want the trip time %v the manifest is filed under", store.st.Since, tripAt)
	}
	c.t = tripAt.Add(10 * time.Minute)
	if _, err := h.Handle(context.Background(), []byte(scheduledEvent)); err != nil {
		t.Fatal(err)
	}
	c.t = tripAt.Add(20 * time.Minute)
	if _, err := h.Handle(context.Background(), budgetActual(t)); err != nil {
		t.Fatal(err)
	}
	want := []opened{{tripAt, tripAt}, {tripAt, tripAt.Add(10 * time.Minute)}, {tripAt, tripAt.Add(20 * time.Minute)}}
	if len(got) != len(want) {
		t.Fatalf("journals opened %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].trip.Equal(want[i].trip) || !got[i].sweep.Equal(want[i].sweep) {
			t.Errorf("journal %d opened for trip %v sweep %v, want %v %v", i, got[i].trip, got[i].sweep, want[i].trip, want[i].sweep)
		}
	}
	for i, p := range sw.policies {
		if p.Journal == nil {
			t.Errorf("sweep %d ran without the journal", i)
		}
	}

	// After a disarm, a dry run opens none.
	store.st = latch.State{}
	n := len(got)
	if _, err := h.Handle(context.Background(), []byte(`{"killswitch":"trip","dryRun":true}`)); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("a dry run opened a journal")
	}
}

// Without a manifest bucket, a trip that changed something says the
// restore will be manual.
func TestNoJournalSaysRestoreIsManual(t *testing.T) {
	t.Parallel()
	h := handler.New(&fakeSweeper{}, &fakePublisher{}, defaults(t), slog.New(slog.DiscardHandler))
	res, err := h.Handle(context.Background(), budgetActual(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Report.ManifestError, "restore will be manual") {
		t.Errorf("ManifestError = %q", res.Report.ManifestError)
	}
}
