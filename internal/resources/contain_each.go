package resources

import (
	"context"
	"fmt"
	"sync"

	"github.com/killswitch/killswitch/internal/engine"
)

// perRegionCalls bounds the mutating calls one kind has in flight in one
// region. Most services' mutating APIs have small per-account buckets, and
// the SDK's retryer absorbs the rest.
const perRegionCalls = 8

// containEach runs act once per decision, at most perRegionCalls at a time,
// for the kinds whose API acts on one resource a call. It returns one
// outcome per decision, in todo's order; a decision not started before ctx
// ends fails with the context's error.
func containEach(ctx context.Context, todo []engine.Decision, act func(context.Context, engine.Decision) engine.Outcome) []engine.Outcome {
	return containEachAtMost(ctx, perRegionCalls, todo, act)
}

// containEachAtMost is containEach with at most n calls in flight.
func containEachAtMost(ctx context.Context, n int, todo []engine.Decision, act func(context.Context, engine.Decision) engine.Outcome) []engine.Outcome {
	out := make([]engine.Outcome, len(todo))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, d := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i] = outcomeFailed(d, ctx.Err(), "not attempted")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// A panic is this resource's failure, not the process's end.
			defer func() {
				if r := recover(); r != nil {
					out[i] = outcomeFailed(d, fmt.Errorf("internal error: %v", r), "not contained")
					out[i].Code = "InternalError"
				}
			}()
			o := act(ctx, d)
			if o.ID == "" {
				o.ID = d.Resource.ID
			}
			if o.Verb == (engine.Verb{}) {
				o.Verb = d.Verb
			}
			if o.Prior == nil {
				o.Prior = d.Resource.Prior
			}
			out[i] = o
		}()
	}
	wg.Wait()
	return out
}

// outcomeDone is the outcome of a decision carried out.
func outcomeDone(d engine.Decision) engine.Outcome {
	return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone, Prior: d.Resource.Prior}
}

// outcomeGone is the outcome of a decision whose resource the API says no longer
// exists or is already on its way down.
func outcomeGone(d engine.Decision, note string) engine.Outcome {
	return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusGone, Prior: d.Resource.Prior, Note: note}
}

// outcomeFailed is the outcome of a decision whose call failed; what says which
// call, so the owner can tell it from the error text.
func outcomeFailed(d engine.Decision, err error, what string) engine.Outcome {
	return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusFailed, Prior: d.Resource.Prior,
		Code: errorCode(err), Message: fmt.Sprintf("%s: %v", what, err)}
}
