package resources

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// Error codes from StopInstances and TerminateInstances that one instance
// can cause for a whole batch. Real EC2 fails the whole call for one bad or
// protected ID, so such a batch is split until the culprit stands alone.
// Other errors (access denied, throttling past every retry, network) would
// fail every part the same way, so they are not split.
var perInstanceCodes = map[string]bool{
	"OperationNotPermitted":       true, // stop or termination protection
	"UnsupportedOperation":        true, // e.g. stopping a one-time Spot instance
	"IncorrectInstanceState":      true,
	"InvalidInstanceID.NotFound":  true,
	"InvalidInstanceID.Malformed": true,
}

// maxSplitCalls bounds the calls one region has in flight while it splits
// failed batches, well inside EC2's burst of 50 mutating calls.
const maxSplitCalls = 8

// instanceAction is one of the two EC2 calls that contain an instance.
type instanceAction int

const (
	actionStop instanceAction = iota
	actionTerminate
)

func (a instanceAction) verb() engine.Verb {
	if a == actionStop {
		return VerbStopInstance
	}
	return VerbTerminateInstance
}

// instanceContainer acts on one region's instances and collects outcomes.
type instanceContainer struct {
	api      EC2InstancesAPI
	opts     EC2InstanceOptions
	states   map[string]string            // state at describe time, by ID; read-only
	priors   map[string]engine.PriorState // prior state by ID; read-only
	inFlight chan struct{}

	mu       sync.Mutex
	outcomes []engine.Outcome
}

func newInstanceContainer(api EC2InstancesAPI, o EC2InstanceOptions) *instanceContainer {
	return &instanceContainer{api: api, opts: o, states: map[string]string{}, priors: map[string]engine.PriorState{},
		inFlight: make(chan struct{}, maxSplitCalls)}
}

func (c *instanceContainer) record(o engine.Outcome) {
	if o.Prior == nil {
		o.Prior = c.priors[o.ID]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes = append(c.outcomes, o)
}

// annotate edits the outcomes already recorded for one instance's action.
// Only the goroutine acting on that instance records for it, so the edit
// cannot race a later outcome of the same instance.
func (c *instanceContainer) annotate(id string, action instanceAction, edit func(*engine.Outcome)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.outcomes {
		if c.outcomes[i].ID == id && c.outcomes[i].Verb == action.verb() {
			edit(&c.outcomes[i])
		}
	}
}

func (c *instanceContainer) call(ctx context.Context, action instanceAction, ids []string) error {
	select {
	case c.inFlight <- struct{}{}:
		defer func() { <-c.inFlight }()
	case <-ctx.Done():
		return ctx.Err()
	}
	var err error
	switch action {
	case actionStop:
		_, err = c.api.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
	case actionTerminate:
		_, err = c.api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	default:
		err = fmt.Errorf("no EC2 call for action %d", action)
	}
	return err
}

// batch acts on up to 1,000 IDs, splitting the batch in halves when one
// instance fails it, so that the rest are still contained.
func (c *instanceContainer) batch(ctx context.Context, action instanceAction, ids []string) {
	err := c.call(ctx, action, ids)
	if err == nil {
		for _, id := range ids {
			c.record(engine.Outcome{ID: id, Verb: action.verb(), Status: engine.StatusDone})
		}
		return
	}
	code := errorCode(err)
	if len(ids) > 1 && perInstanceCodes[code] && ctx.Err() == nil {
		// The halves go concurrently: a split costs round trips in depth
		// (log2 of the batch), not in count.
		half := len(ids) / 2
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.batch(ctx, action, ids[:half])
		}()
		c.batch(ctx, action, ids[half:])
		wg.Wait()
		return
	}
	if len(ids) == 1 {
		c.single(ctx, action, ids[0], err)
		return
	}
	for _, id := range ids {
		c.fail(id, action, err, "")
	}
}

// single resolves the failure of one instance's action.
func (c *instanceContainer) single(ctx context.Context, action instanceAction, id string, err error) {
	switch errorCode(err) {
	case "OperationNotPermitted":
		c.overrideProtection(ctx, action, id, err)
	case "UnsupportedOperation":
		// EC2 knows better than the describe data: the instance cannot be
		// stopped after all.
		if action == actionStop && c.opts.TerminateUnstoppable {
			c.batch(ctx, actionTerminate, []string{id})
			c.annotate(id, actionTerminate, func(o *engine.Outcome) {
				note := "EC2 refused to stop it (UnsupportedOperation), so termination was attempted"
				if o.Status == engine.StatusDone {
					note = "EC2 refused to stop it (UnsupportedOperation), so it was terminated"
				}
				o.Note = joinNotes(note, o.Note)
			})
			return
		}
		c.fail(id, action, err, "it cannot be stopped; terminate it by hand or set KILLSWITCH_TERMINATE_UNSTOPPABLE=true")
	case "InvalidInstanceID.NotFound":
		c.record(engine.Outcome{ID: id, Verb: action.verb(), Status: engine.StatusGone, Note: "no longer exists"})
	case "IncorrectInstanceState":
		if c.states[id] == "pending" {
			c.fail(id, action, err, "it was still starting; the next run will catch it")
			return
		}
		// It changed state since it was described: someone or something is
		// already stopping or terminating it.
		c.record(engine.Outcome{ID: id, Verb: action.verb(), Status: engine.StatusGone, Note: "already stopping or terminating"})
	default:
		c.fail(id, action, err, "")
	}
}

// overrideProtection turns off the protection attributes that can block the
// action, the matching one first, and retries after each.
func (c *instanceContainer) overrideProtection(ctx context.Context, action instanceAction, id string, err error) {
	if !c.opts.OverrideProtection {
		c.fail(id, action, err, "protection is on and KILLSWITCH_OVERRIDE_PROTECTION=false")
		return
	}
	attrs := []string{"disableApiStop", "disableApiTermination"}
	if action == actionTerminate {
		attrs = []string{"disableApiTermination", "disableApiStop"}
	}
	var also []engine.Change
	for _, attr := range attrs {
		in := &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id)}
		off := &types.AttributeBooleanValue{Value: aws.Bool(false)}
		if attr == "disableApiStop" {
			in.DisableApiStop = off
		} else {
			in.DisableApiTermination = off
		}
		if _, mErr := c.api.ModifyInstanceAttribute(ctx, in); mErr != nil {
			c.failAlso(id, action, mErr, "could not turn off "+attr, also)
			return
		}
		verb := verbStopProtectionOff
		if attr == "disableApiTermination" {
			verb = verbTermProtectionOff
		}
		// Recorded as on before: the call that failed said so, and the
		// restore should know what the attacker (or owner) had set.
		also = append(also, engine.Change{Verb: verb, Prior: ProtectionPrior{Attribute: attr, Enabled: true}})
		err = c.call(ctx, action, []string{id})
		if err == nil {
			c.record(engine.Outcome{ID: id, Verb: action.verb(), Status: engine.StatusDone, Also: also})
			return
		}
		if errorCode(err) != "OperationNotPermitted" {
			c.single(ctx, action, id, err)
			c.annotate(id, action, func(o *engine.Outcome) { o.Also = append(also, o.Also...) })
			return
		}
	}
	c.failAlso(id, action, err, "still not permitted after turning protection off", also)
}

func joinNotes(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

func (c *instanceContainer) fail(id string, action instanceAction, err error, hint string) {
	c.failAlso(id, action, err, hint, nil)
}

// failAlso records a failure together with the changes already made on the
// way, so that the report and the restore still see them.
func (c *instanceContainer) failAlso(id string, action instanceAction, err error, hint string, also []engine.Change) {
	msg := err.Error()
	if hint != "" {
		msg = hint + ": " + msg
	}
	c.record(engine.Outcome{ID: id, Verb: action.verb(), Status: engine.StatusFailed,
		Code: errorCode(err), Message: msg, Also: also})
}
