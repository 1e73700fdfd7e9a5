package engine

import "context"

// Journal records, outside the process, what a sweep is about to change
// and what it changed: the restore manifest. The engine calls Planned for
// a region and kind right before the kind's Contain, and Done right after.
//
// A Journal belongs to one run (it knows its trip), so it travels in the
// Policy, not in the Engine's Options: the engine is built once, a trip's
// identity is known only when the trip comes.
type Journal interface {
	// Location names where the journal writes, e.g. an S3 prefix; the
	// report repeats it so the owner knows where to restore from.
	Location() string
	// Planned records the decisions about to be carried out, each with its
	// prior state, and returns only once the record is durable and
	// verified. On error the engine contains anyway: safety wins over the
	// convenience of an automatic restore, and the report says so.
	Planned(ctx context.Context, region, kind string, todo []Decision) error
	// Done records what Contain did. It is called even when ctx has ended,
	// so an implementation should write under its own short deadline.
	Done(ctx context.Context, region, kind string, outs []Outcome) error
}

// RestoreItem is one recorded change read back from a journal, for a
// kind's Restore: the resource's facts as found, its prior state (still
// JSON: only the kind knows its type) and the last recorded outcome.
type RestoreItem struct {
	ID         string
	Attributes map[string]string
	// Prior is the state before the first change of the trip.
	Prior RawPrior
	// Verb and Status are the last recorded outcome's; Status is "" when
	// the plan was recorded but no outcome was (the sweep died halfway),
	// so the change may or may not have been made.
	Verb   Verb
	Status Status
	// Also are the secondary changes recorded for it (e.g. protection
	// turned off), each with its own prior state.
	Also []Change
}

// Restorer is implemented by kinds whose changes can be undone. Restore
// checks every item's current state first and leaves alone, item by item,
// what cannot come back (terminated, deleted) and what the owner has
// changed since. With dryRun it only says what it would do.
type Restorer interface {
	Restore(ctx context.Context, region string, items []RestoreItem, dryRun bool) []RestoreResult
}

// RestoreStatus is how the restore of one item ended.
type RestoreStatus string

const (
	RestoreDone    RestoreStatus = "restored"
	RestorePlanned RestoreStatus = "would restore"
	// RestoreAlready means the resource is already as it was before the
	// trip: nothing to do (a second restore says this of everything).
	RestoreAlready RestoreStatus = "already as before"
	// RestoreLeft means the item is left alone on purpose: it cannot come
	// back, or the owner changed it since. Detail says which.
	RestoreLeft   RestoreStatus = "left alone"
	RestoreFailed RestoreStatus = "failed"
)

// RestoreResult is what the restore did, or would do, to one item.
type RestoreResult struct {
	ID     string        `json:"id"`
	Status RestoreStatus `json:"status"`
	// Action is the change in the kind's words: "start", "set min 1, max
	// 4, desired 2; resume Launch".
	Action string `json:"action,omitempty"`
	// Detail says why an item is left alone or failed, naming the region
	// and the resource.
	Detail string `json:"detail,omitempty"`
}

// Restored is a result for an item changed back (or, in a dry run, that
// would be).
func Restored(id, action string, dryRun bool) RestoreResult {
	if dryRun {
		return RestoreResult{ID: id, Status: RestorePlanned, Action: action}
	}
	return RestoreResult{ID: id, Status: RestoreDone, Action: action}
}

// LeftAlone is a result for an item the restore does not touch, and why.
func LeftAlone(id, why string) RestoreResult {
	return RestoreResult{ID: id, Status: RestoreLeft, Detail: why}
}

// AlreadyRestored is a result for an item already as it was before.
func AlreadyRestored(id, detail string) RestoreResult {
	return RestoreResult{ID: id, Status: RestoreAlready, Detail: detail}
}

// RestoreFailure is a result for an item whose restore failed.
func RestoreFailure(id, action, detail string) RestoreResult {
	return RestoreResult{ID: id, Status: RestoreFailed, Action: action, Detail: detail}
}
