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

// maxInspect is the largest part of a batch that is inspected attribute by
// attribute (see inspect) once both halves of a split were refused for
// protection. Above it, halving is cheaper when protection is sparse: one
// protected instance in 1,000 costs about 20 halving calls, against 1,000
// describes for an inspection. Below it, two refused halves say the
// protection is dense, and halving further would cost about 4 mutating
// calls per protected instance.
const maxInspect = 64

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

// blockers are the protection attributes that make EC2 refuse the action,
// the one named for it first: stop protection also blocks termination.
func (a instanceAction) blockers() []string {
	if a == actionStop {
		return []string{attrDisableAPIStop, attrDisableAPITermination}
	}
	return []string{attrDisableAPITermination, attrDisableAPIStop}
}

// inspected are the attributes an inspection reads and turns off: for a
// stop only stop protection blocks it; for a terminate, both do.
func (a instanceAction) inspected() []string {
	if a == actionStop {
		return []string{attrDisableAPIStop}
	}
	return []string{attrDisableAPITermination, attrDisableAPIStop}
}

const (
	attrDisableAPIStop        = "disableApiStop"
	attrDisableAPITermination = "disableApiTermination"
)

// suspect is an instance EC2 called missing or in the wrong state. Its
// outcome waits for a fresh describe: EC2 is eventually consistent, and an
// instance launched seconds ago can answer InvalidInstanceID.NotFound.
type suspect struct {
	id     string
	action instanceAction
	err    error
	also   []engine.Change
}

// instanceContainer acts on one region's instances and collects outcomes.
type instanceContainer struct {
	api      EC2InstancesAPI
	opts     EC2InstanceOptions
	states   map[string]string            // state at describe time, by ID; read-only
	priors   map[string]engine.PriorState // prior state by ID; read-only
	inFlight chan struct{}
	// mutating, terminating and describing pace the calls to EC2's
	// buckets for the region; nil when the options set no pacing.
	mutating, terminating, describing *pacer

	mu       sync.Mutex
	outcomes []engine.Outcome
	suspects []suspect
	// off holds the protection attributes turned off, by instance, so that
	// a fallback after an inspection does not turn them off (and report
	// them) twice.
	off map[string]map[string]bool
}

func newInstanceContainer(api EC2InstancesAPI, o EC2InstanceOptions) *instanceContainer {
	return &instanceContainer{api: api, opts: o, states: map[string]string{}, priors: map[string]engine.PriorState{},
		inFlight:    make(chan struct{}, maxSplitCalls),
		off:         map[string]map[string]bool{},
		mutating:    newPacer(o.Pacing.Mutating, o.Pacing.Clock),
		terminating: newPacer(o.Pacing.Terminate, o.Pacing.Clock),
		describing:  newPacer(o.Pacing.Describe, o.Pacing.Clock),
	}
}

func (c *instanceContainer) record(o engine.Outcome) {
	if o.Prior == nil {
		o.Prior = c.priors[o.ID]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes = append(c.outcomes, o)
}

// annotate edits every outcome already recorded for one instance. Only the
// goroutine acting on that instance records for it, so the edit cannot
// race a later outcome of the same instance.
func (c *instanceContainer) annotate(id string, edit func(*engine.Outcome)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.outcomes {
		if c.outcomes[i].ID == id {
			edit(&c.outcomes[i])
		}
	}
}

// hasOutcome says whether the instance has an outcome (or awaits one).
func (c *instanceContainer) hasOutcome(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.outcomes {
		if o.ID == id {
			return true
		}
	}
	for _, s := range c.suspects {
		if s.id == id {
			return true
		}
	}
	return false
}

// guard runs fn and turns a panic in it into the failure of every instance
// of ids still without an outcome: one bad answer must not take down the
// process, nor make the report quieter than the truth. Every goroutine the
// container starts runs under it.
func (c *instanceContainer) guard(action instanceAction, ids []string, fn func()) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		err := fmt.Errorf("internal error while acting on this batch: %v", r)
		for _, id := range ids {
			if !c.hasOutcome(id) {
				c.record(engine.Outcome{ID: id, Verb: action.verb(), Status: engine.StatusFailed, Code: "InternalError",
					Message: err.Error() + "; it may still be running"})
			}
		}
	}()
	fn()
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
		if err = c.mutating.wait(ctx); err == nil {
			_, err = c.api.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
		}
	case actionTerminate:
		if err = c.terminating.wait(ctx); err == nil {
			_, err = c.api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
		}
	default:
		err = fmt.Errorf("no EC2 call for action %d", action)
	}
	return err
}

// batch acts on up to 1,000 IDs; when one instance fails the call, resolve
// finds it so that the rest are still contained.
func (c *instanceContainer) batch(ctx context.Context, action instanceAction, ids []string) {
	if err := c.call(ctx, action, ids); err != nil {
		c.resolve(ctx, action, ids, err)
		return
	}
	c.done(action, ids)
}

func (c *instanceContainer) done(action instanceAction, ids []string) {
	for _, id := range ids {
		c.record(engine.Outcome{ID: id, Verb: action.verb(), Status: engine.StatusDone})
	}
}

// resolve handles a batch whose call failed with err.
func (c *instanceContainer) resolve(ctx context.Context, action instanceAction, ids []string, err error) {
	switch {
	case len(ids) == 1:
		c.single(ctx, action, ids[0], err)
	case perInstanceCodes[errorCode(err)] && ctx.Err() == nil:
		c.split(ctx, action, ids)
	default:
		for _, id := range ids {
			c.fail(id, action, err, "")
		}
	}
}

// split acts on the two halves of a failed batch at once: a split costs
// round trips in depth (log2 of the batch), not in count. When both halves
// are refused for protection and are small, protection is dense there, and
// each half is inspected instead of halved again.
func (c *instanceContainer) split(ctx context.Context, action instanceAction, ids []string) {
	half := len(ids) / 2
	parts := [2][]string{ids[:half], ids[half:]}
	var errs [2]error
	var called [2]bool
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.guard(action, part, func() {
				errs[i] = c.call(ctx, action, part)
				called[i] = true
			})
		}()
	}
	wg.Wait()
	dense := c.opts.OverrideProtection && half <= maxInspect &&
		errorCode(errs[0]) == "OperationNotPermitted" && errorCode(errs[1]) == "OperationNotPermitted"
	for i, part := range parts {
		if !called[i] {
			continue // its call panicked; guard has failed it
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.guard(action, part, func() {
				switch {
				case errs[i] == nil:
					c.done(action, part)
				case dense:
					c.inspect(ctx, action, part, errs[i])
				default:
					c.resolve(ctx, action, part, errs[i])
				}
			})
		}()
	}
	wg.Wait()
}

// inspect contains a part of a batch where protection is dense: it reads
// each instance's protection attributes (DescribeInstanceAttribute: a
// non-mutating call, from the larger describe bucket), turns off only what
// is on, and acts on the part again in one call. That is one mutating call
// per attribute actually on, plus one for the part, instead of about four
// per protected instance by halving. The retry is the API's confirmation:
// if the part is still refused, it is resolved by halving, as any batch.
func (c *instanceContainer) inspect(ctx context.Context, action instanceAction, ids []string, err error) {
	also := make([][]engine.Change, len(ids))
	skip := make([]bool, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.guard(action, []string{id}, func() {
				select {
				case c.inFlight <- struct{}{}:
				case <-ctx.Done():
					skip[i] = true
					return
				}
				defer func() { <-c.inFlight }()
				for _, attr := range action.inspected() {
					on, dErr := c.protectionOn(ctx, id, attr)
					if dErr == nil && !on {
						continue
					}
					if dErr != nil {
						// Not confirmed either way: the instance goes its own
						// way, where the refusal itself decides.
						skip[i] = true
						return
					}
					if mErr := c.turnOff(ctx, id, attr); mErr != nil {
						c.failAlso(id, action, mErr, "could not turn off "+attr, also[i])
						skip[i] = true
						return
					}
					also[i] = append(also[i], protectionChange(attr))
				}
			})
		}()
	}
	wg.Wait()

	var ready []string
	changes := map[string][]engine.Change{}
	var alone []string
	for i, id := range ids {
		switch {
		case c.hasOutcome(id):
		case skip[i]:
			alone = append(alone, id)
		default:
			ready = append(ready, id)
			changes[id] = also[i]
		}
	}
	if len(ready) > 0 {
		if rErr := c.call(ctx, action, ready); rErr != nil {
			c.resolve(ctx, action, ready, rErr)
		} else {
			c.done(action, ready)
		}
		for _, id := range ready {
			if len(changes[id]) > 0 {
				c.annotate(id, func(o *engine.Outcome) { o.Also = append(append([]engine.Change(nil), changes[id]...), o.Also...) })
				c.annotateSuspect(id, changes[id])
			}
		}
	}
	for _, id := range alone {
		c.single(ctx, action, id, err)
	}
}

// protectionOn reads one protection attribute of one instance.
func (c *instanceContainer) protectionOn(ctx context.Context, id, attr string) (bool, error) {
	if err := c.describing.wait(ctx); err != nil {
		return false, err
	}
	out, err := c.api.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(id), Attribute: types.InstanceAttributeName(attr)})
	if err != nil {
		return false, err
	}
	v := out.DisableApiStop
	if attr == attrDisableAPITermination {
		v = out.DisableApiTermination
	}
	if v == nil {
		return false, fmt.Errorf("DescribeInstanceAttribute gave no %s for %s", attr, id)
	}
	return aws.ToBool(v.Value), nil
}

// turnOff turns one protection attribute off.
func (c *instanceContainer) turnOff(ctx context.Context, id, attr string) error {
	if err := c.mutating.wait(ctx); err != nil {
		return err
	}
	in := &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id)}
	off := &types.AttributeBooleanValue{Value: aws.Bool(false)}
	if attr == attrDisableAPIStop {
		in.DisableApiStop = off
	} else {
		in.DisableApiTermination = off
	}
	if _, err := c.api.ModifyInstanceAttribute(ctx, in); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off[id] == nil {
		c.off[id] = map[string]bool{}
	}
	c.off[id][attr] = true
	return nil
}

func (c *instanceContainer) isOff(id, attr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off[id][attr]
}

// protectionChange records an attribute turned off. It was on before: the
// refusal or the describe said so, and the restore should know what the
// attacker (or owner) had set.
func protectionChange(attr string) engine.Change {
	verb := verbStopProtectionOff
	if attr == attrDisableAPITermination {
		verb = verbTermProtectionOff
	}
	return engine.Change{Verb: verb, Prior: ProtectionPrior{Attribute: attr, Enabled: true}}
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
			c.annotate(id, func(o *engine.Outcome) {
				note := "EC2 refused to stop it (UnsupportedOperation), so termination was attempted"
				if o.Status == engine.StatusDone {
					note = "EC2 refused to stop it (UnsupportedOperation), so it was terminated"
				}
				o.Note = joinNotes(note, o.Note)
			})
			c.annotateSuspectNote(id, "EC2 refused to stop it (UnsupportedOperation), so termination was attempted")
			return
		}
		c.fail(id, action, err, "it cannot be stopped; terminate it by hand or set KILLSWITCH_TERMINATE_UNSTOPPABLE=true")
	case "InvalidInstanceID.NotFound":
		c.suspectOf(id, action, err)
	case "IncorrectInstanceState":
		if c.states[id] == "pending" {
			c.fail(id, action, err, "it was still starting; the next run will catch it")
			return
		}
		c.suspectOf(id, action, err)
	default:
		c.fail(id, action, err, "")
	}
}

func (c *instanceContainer) suspectOf(id string, action instanceAction, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.suspects = append(c.suspects, suspect{id: id, action: action, err: err})
}

// annotateSuspect adds changes already made to a suspect's eventual outcome.
func (c *instanceContainer) annotateSuspect(id string, also []engine.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.suspects {
		if c.suspects[i].id == id {
			c.suspects[i].also = append(append([]engine.Change(nil), also...), c.suspects[i].also...)
		}
	}
}

func (c *instanceContainer) annotateSuspectNote(id, note string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.suspects {
		if c.suspects[i].id == id {
			c.suspects[i].err = fmt.Errorf("%s: %w", note, c.suspects[i].err)
		}
	}
}

// downStates are the states that mean an action is no longer needed.
func downStates(action instanceAction) map[string]bool {
	if action == actionStop {
		return map[string]bool{"stopping": true, "stopped": true, "shutting-down": true, "terminated": true}
	}
	return map[string]bool{"shutting-down": true, "terminated": true}
}

// maxFilterValues keeps one describe's instance-id filter small.
const maxFilterValues = 200

// verify describes again every instance EC2 called missing or in the wrong
// state. It counts as gone only when the describe agrees that it is down;
// running, pending, or not listed at all (it was listed moments ago, so
// that is EC2's eventual consistency, not proof) it counts as failed, so
// that Lambda's retry and the scheduled re-sweep catch it. A filter, not
// InstanceIds, is used: one unknown ID fails an InstanceIds describe.
func (c *instanceContainer) verify(ctx context.Context) {
	c.mu.Lock()
	suspects := c.suspects
	c.suspects = nil
	c.mu.Unlock()
	for start := 0; start < len(suspects); start += maxFilterValues {
		part := suspects[start:min(start+maxFilterValues, len(suspects))]
		ids := make([]string, len(part))
		for i, s := range part {
			ids[i] = s.id
		}
		states, err := c.describeStates(ctx, ids)
		for _, s := range part {
			state, listed := states[s.id]
			switch {
			case err != nil:
				c.failAlso(s.id, s.action, s.err, fmt.Sprintf("EC2 said %s, and describing it again failed (%v); it may still be running", errorCode(s.err), err), s.also)
			case listed && downStates(s.action)[state]:
				c.record(engine.Outcome{ID: s.id, Verb: s.action.verb(), Status: engine.StatusGone, Also: s.also,
					Note: fmt.Sprintf("EC2 said %s; a fresh describe confirms it is %s", errorCode(s.err), state)})
			case listed:
				c.failAlso(s.id, s.action, s.err, fmt.Sprintf("EC2 said %s, but a fresh describe shows it %s; the next run will retry", errorCode(s.err), state), s.also)
			default:
				c.failAlso(s.id, s.action, s.err, fmt.Sprintf("EC2 said %s, and a fresh describe does not list it yet (EC2 is eventually consistent); the next run will retry", errorCode(s.err)), s.also)
			}
		}
	}
}

func (c *instanceContainer) describeStates(ctx context.Context, ids []string) (map[string]string, error) {
	states := map[string]string{}
	in := &ec2.DescribeInstancesInput{
		Filters:    []types.Filter{{Name: aws.String("instance-id"), Values: ids}},
		MaxResults: aws.Int32(1000),
	}
	pages := ec2.NewDescribeInstancesPaginator(c.api, in)
	for pages.HasMorePages() {
		if err := c.describing.wait(ctx); err != nil {
			return states, err
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return states, err
		}
		for _, res := range page.Reservations {
			for _, inst := range res.Instances {
				if inst.State != nil {
					states[aws.ToString(inst.InstanceId)] = string(inst.State.Name)
				}
			}
		}
	}
	return states, nil
}

// overrideProtection turns off the protection attributes that can block the
// action, the matching one first, and retries after each.
func (c *instanceContainer) overrideProtection(ctx context.Context, action instanceAction, id string, err error) {
	if !c.opts.OverrideProtection {
		c.fail(id, action, err, "protection is on and KILLSWITCH_OVERRIDE_PROTECTION=false")
		return
	}
	var also []engine.Change
	for _, attr := range action.blockers() {
		if c.isOff(id, attr) {
			continue
		}
		if mErr := c.turnOff(ctx, id, attr); mErr != nil {
			c.failAlso(id, action, mErr, "could not turn off "+attr, also)
			return
		}
		also = append(also, protectionChange(attr))
		err = c.call(ctx, action, []string{id})
		if err == nil {
			c.record(engine.Outcome{ID: id, Verb: action.verb(), Status: engine.StatusDone, Also: also})
			return
		}
		if errorCode(err) != "OperationNotPermitted" {
			c.single(ctx, action, id, err)
			c.annotate(id, func(o *engine.Outcome) { o.Also = append(append([]engine.Change(nil), also...), o.Also...) })
			c.annotateSuspect(id, also)
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
