package manifest_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/manifest"
)

// plainKind is a kind with no restore.
type plainKind struct{ name string }

func (k plainKind) Name() string { return k.name }
func (plainKind) Noun() string   { return "thing" }
func (plainKind) Find(context.Context, string) ([]engine.Resource, error) {
	return nil, nil
}
func (plainKind) Decide(r engine.Resource) engine.Decision { return engine.Leave(r, "") }
func (plainKind) Contain(context.Context, string, []engine.Decision) []engine.Outcome {
	return nil
}

// restoringKind records the order of its Restore calls in a shared log and
// forgets to answer for IDs starting with "forget".
type restoringKind struct {
	plainKind
	global bool
	log    *[]string
	mu     *sync.Mutex
}

func (k restoringKind) Global() bool { return k.global }

func (k restoringKind) Restore(_ context.Context, region string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	k.mu.Lock()
	*k.log = append(*k.log, region+" "+k.name)
	k.mu.Unlock()
	var out []engine.RestoreResult
	for _, it := range items {
		if !strings.HasPrefix(it.ID, "forget") {
			out = append(out, engine.Restored(it.ID, "undo", dryRun))
		}
	}
	return out
}

// Within a region the kinds are restored in the reverse of their
// containment order, and the account-wide kinds after every region, so a
// restore cut short leaves the quarantine holding.
func TestRestoreOrderAndGaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake()
	store := manifest.NewStore(f, "bkt")
	j := store.Journal("trip-1", "s1")
	plan := func(region, kind string, ids ...string) {
		var ds []engine.Decision
		for _, id := range ids {
			ds = append(ds, decision(id, sizes{}))
		}
		if err := j.Planned(ctx, region, kind, ds); err != nil {
			t.Fatal(err)
		}
	}
	plan("global", "quarantine", "u1")
	plan("r1", "groups", "g1")
	plan("r1", "instances", "i1", "forget-me")
	plan("r1", "notebooks", "n1")
	plan("r1", "retired kind", "x1")
	trip, err := store.Load(ctx, "trip-1")
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	var mu sync.Mutex
	kinds := []engine.Kind{
		restoringKind{plainKind: plainKind{"quarantine"}, global: true, log: &log, mu: &mu},
		restoringKind{plainKind: plainKind{"groups"}, log: &log, mu: &mu},
		plainKind{"notebooks"},
		restoringKind{plainKind: plainKind{"instances"}, log: &log, mu: &mu},
	}
	rep := manifest.Restore(ctx, trip, kinds, true)
	if got := strings.Join(log, ", "); got != "r1 instances, r1 groups, global quarantine" {
		t.Errorf("restore order %q, want instances, groups, then the quarantine", got)
	}
	byID := map[string]engine.RestoreResult{}
	for _, k := range rep.Kinds {
		for _, r := range k.Results {
			byID[r.ID] = r
		}
	}
	for id, want := range map[string]string{
		"forget-me": "returned no result",
		"n1":        "the restore does not undo notebooks",
		"x1":        `this build has no kind "retired kind"`,
	} {
		if !strings.Contains(byID[id].Detail, want) {
			t.Errorf("%s: %+v, want %q", id, byID[id], want)
		}
	}
	if byID["i1"].Status != engine.RestorePlanned || rep.Pending() != 3 || rep.Err() == nil {
		t.Errorf("totals %v, pending %d, err %v; want 3 planned and the forgotten item failed", rep.Totals, rep.Pending(), rep.Err())
	}
}
