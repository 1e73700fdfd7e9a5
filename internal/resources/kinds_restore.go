package resources

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/killswitch/killswitch/internal/engine"
)

// Restore code lives in files ending in _restore.go. Their client
// interfaces declare calls the function never makes (StartInstances,
// ResumeProcesses...): the CLI runs the restore with the operator's
// credentials, and the function's role is not given those permissions.
// infra's permission test skips these files for that reason.

// decodePrior reads an item's prior state into the kind's own type.
func decodePrior[T any](it engine.RestoreItem) (T, error) {
	var p T
	if len(it.Prior) == 0 {
		return p, fmt.Errorf("the manifest records no prior state")
	}
	if err := json.Unmarshal(it.Prior, &p); err != nil {
		return p, fmt.Errorf("the manifest's prior state is not readable: %w", err)
	}
	return p, nil
}

// restoreEach runs fn once per item, a few at a time, in items' order.
func restoreEach(ctx context.Context, items []engine.RestoreItem, fn func(context.Context, engine.RestoreItem) engine.RestoreResult) []engine.RestoreResult {
	out := make([]engine.RestoreResult, len(items))
	sem := make(chan struct{}, perRegionCalls)
	var wg sync.WaitGroup
	for i, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i] = engine.RestoreFailure(it.ID, "", "not attempted: "+ctx.Err().Error())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = fn(ctx, it)
			out[i].ID = it.ID
		}()
	}
	wg.Wait()
	return out
}

// notRestorable answers every item with the same reason: for kinds whose
// change AWS cannot undo.
func notRestorable(items []engine.RestoreItem, why string) []engine.RestoreResult {
	out := make([]engine.RestoreResult, len(items))
	for i, it := range items {
		out[i] = engine.LeftAlone(it.ID, why)
	}
	return out
}

// Cancelled requests and deleted fleets cannot be reopened: AWS has no call
// for it. The restore says so item by item rather than staying silent.
var (
	_ engine.Restorer = (*SpotInstanceRequests)(nil)
	_ engine.Restorer = (*SpotFleetRequests)(nil)
	_ engine.Restorer = (*EC2Fleets)(nil)
)

func (*SpotInstanceRequests) Restore(_ context.Context, region string, items []engine.RestoreItem, _ bool) []engine.RestoreResult {
	return notRestorable(items, "not restorable: a cancelled Spot Instance request cannot be reopened in "+region+"; request a new one if it was yours")
}

func (*SpotFleetRequests) Restore(_ context.Context, region string, items []engine.RestoreItem, _ bool) []engine.RestoreResult {
	return notRestorable(items, "not restorable: a cancelled Spot Fleet request cannot be reopened in "+region+"; request a new fleet if it was yours")
}

func (*EC2Fleets) Restore(_ context.Context, region string, items []engine.RestoreItem, _ bool) []engine.RestoreResult {
	return notRestorable(items, "not restorable: a deleted EC2 Fleet cannot be brought back in "+region+"; create a new one if it was yours")
}
