package resources_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

func running(id string) types.Instance {
	return types.Instance{
		InstanceId:     aws.String(id),
		State:          &types.InstanceState{Name: types.InstanceStateNameRunning},
		RootDeviceType: types.DeviceTypeEbs,
		InstanceType:   types.InstanceTypeP548xlarge,
	}
}

// attackPages spreads ids over pages of pageSize, each page holding many
// reservations of 1 to 7 instances, as many RunInstances calls would.
func attackPages(ids []string, pageSize int) [][]types.Reservation {
	var pages [][]types.Reservation
	for start := 0; start < len(ids); start += pageSize {
		chunk := ids[start:min(start+pageSize, len(ids))]
		var page []types.Reservation
		for i, n := 0, 0; i < len(chunk); i += n {
			n = min(len(page)%7+1, len(chunk)-i)
			var res types.Reservation
			for _, id := range chunk[i : i+n] {
				res.Instances = append(res.Instances, running(id))
			}
			page = append(page, res)
		}
		pages = append(pages, page)
	}
	return pages
}

func stateFilter(t *testing.T, f *fakeEC2) []string {
	t.Helper()
	var values []string
	for _, in := range f.describeInputs {
		if len(in.Filters) != 1 || aws.ToString(in.Filters[0].Name) != "instance-state-name" {
			t.Fatalf("filters = %+v, want one instance-state-name filter", in.Filters)
		}
		values = slices.Sorted(slices.Values(in.Filters[0].Values))
	}
	return values
}

func TestFindReadsEveryPageAndReservation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		action     engine.Verb
		wantStates []string
	}{
		{"stop mode asks for pending and running only", resources.VerbStopInstance, []string{"pending", "running"}},
		{"terminate mode adds stopping and stopped", resources.VerbTerminateInstance, []string{"pending", "running", "stopped", "stopping"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids := instanceIDs(1, 2500)
			f := newFakeEC2()
			f.pages = attackPages(ids, 1000)
			reservations := 0
			for _, p := range f.pages {
				reservations += len(p)
			}
			if len(f.pages) != 3 || reservations < 500 {
				t.Fatalf("fixture: %d pages, %d reservations", len(f.pages), reservations)
			}

			found, err := kindWith(f, pol{Action: tc.action}).Find(context.Background(), "us-east-1")
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			var got []string
			for _, r := range found {
				got = append(got, r.ID)
				if r.State != "running" {
					t.Fatalf("%s: state %q, want running", r.ID, r.State)
				}
			}
			if !slices.Equal(got, ids) {
				t.Fatalf("found %d instances, want all %d in order", len(got), len(ids))
			}
			if len(f.describeInputs) != 3 {
				t.Fatalf("DescribeInstances called %d times, want 3", len(f.describeInputs))
			}
			for i, in := range f.describeInputs {
				if aws.ToInt32(in.MaxResults) != 1000 {
					t.Errorf("call %d: MaxResults = %v, want 1000", i, in.MaxResults)
				}
				if len(in.InstanceIds) != 0 {
					t.Errorf("call %d: InstanceIds set with MaxResults", i)
				}
			}
			if got := stateFilter(t, f); !slices.Equal(got, tc.wantStates) {
				t.Errorf("state filter = %v, want %v", got, tc.wantStates)
			}
		})
	}
}

func TestFindWrapsDescribeError(t *testing.T) {
	t.Parallel()
	f := newFakeEC2()
	f.pages = attackPages(instanceIDs(2, 30), 10)
	f.describeErrAt, f.describeErr = 1, apiErr("UnauthorizedOperation")

	found, err := kindWith(f, pol{Action: resources.VerbStopInstance}).Find(context.Background(), "eu-west-3")
	if err == nil {
		t.Fatal("Find: no error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnauthorizedOperation" {
		t.Errorf("error %v does not wrap the API error", err)
	}
	if !strings.Contains(err.Error(), "eu-west-3") {
		t.Errorf("error %q does not name the region", err)
	}
	if len(found) != 10 {
		t.Errorf("found %d before the failing page, want 10", len(found))
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	const id = "i-0123456789abcdef0"
	spot := running(id)
	spot.InstanceLifecycle = types.InstanceLifecycleTypeSpot
	store := running(id)
	store.RootDeviceType = types.DeviceTypeInstanceStore
	tagged := running(id)
	tagged.Tags = []types.Tag{{Key: aws.String("killswitch:exempt"), Value: aws.String("true")}}
	stopped := running(id)
	stopped.State = &types.InstanceState{Name: types.InstanceStateNameStopped}
	pending := running(id)
	pending.State = &types.InstanceState{Name: types.InstanceStateNamePending}

	stop := pol{Action: resources.VerbStopInstance, TerminateUnstoppable: true}
	stopKeep := pol{Action: resources.VerbStopInstance, TerminateUnstoppable: false}
	term := pol{Action: resources.VerbTerminateInstance}

	tests := []struct {
		name       string
		inst       types.Instance
		policy     pol
		want       engine.Verb
		wantReason string // substring
	}{
		{"exempt tag does not exempt", tagged, stop, resources.VerbStopInstance, ""},
		{"exempt tag does not exempt in terminate mode", tagged, term, resources.VerbTerminateInstance, ""},
		{"stop mode stops", running(id), stop, resources.VerbStopInstance, ""},
		{"stop mode stops pending", pending, stop, resources.VerbStopInstance, ""},
		{"terminate mode terminates", running(id), term, resources.VerbTerminateInstance, ""},
		{"terminate mode terminates stopped", stopped, term, resources.VerbTerminateInstance, ""},
		{"spot stopped first", spot, stop, resources.VerbStopInstance, "Spot instance is stopped first"},
		{"spot stopped first when unstoppable are kept", spot, stopKeep, resources.VerbStopInstance, "Spot instance is stopped first"},
		{"instance-store root terminated when unstoppable may be terminated", store, stop, resources.VerbTerminateInstance, "instance-store"},
		{"instance-store root left running otherwise", store, stopKeep, engine.Verb{}, "left RUNNING"},
		{"spot in terminate mode terminated", spot, term, resources.VerbTerminateInstance, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeEC2()
			f.pages = [][]types.Reservation{{{Instances: []types.Instance{tc.inst}}}}
			k := kindWith(f, tc.policy)
			found, err := k.Find(context.Background(), "us-east-1")
			if err != nil || len(found) != 1 {
				t.Fatalf("Find = %v, %v", found, err)
			}
			d := k.Decide(found[0])
			if decisionVerb(d) != tc.want {
				t.Errorf("verb = %+v (%s), want %+v", decisionVerb(d), d.Reason, tc.want)
			}
			if d.Resource.ID != id {
				t.Errorf("decision resource = %q", d.Resource.ID)
			}
			if d.Reason == "" || !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("reason %q, want it to mention %q", d.Reason, tc.wantReason)
			}
		})
	}
}

func decisions(action engine.Verb, state string, ids []string) []engine.Decision {
	out := make([]engine.Decision, len(ids))
	for i, id := range ids {
		out[i] = engine.Decision{Resource: engine.Resource{ID: id, State: state}, Verb: action}
	}
	return out
}

func callSizes(calls [][]string) []int {
	var n []int
	for _, c := range calls {
		n = append(n, len(c))
	}
	return n
}

func byID(t *testing.T, outs []engine.Outcome) map[string]engine.Outcome {
	t.Helper()
	m := map[string]engine.Outcome{}
	for _, o := range outs {
		if _, dup := m[o.ID]; dup {
			t.Fatalf("two outcomes for %s", o.ID)
		}
		m[o.ID] = o
	}
	return m
}

func TestContainBatchesOf1000(t *testing.T) {
	t.Parallel()
	stops := instanceIDs(3, 2345)
	terms := instanceIDs(4, 1001)
	f := newFakeEC2()
	todo := append(decisions(resources.VerbStopInstance, "running", stops), decisions(resources.VerbTerminateInstance, "running", terms)...)

	outs := kindWith(f, pol{Action: resources.VerbStopInstance}).Contain(context.Background(), "us-east-1", todo)

	if got := callSizes(f.stopCalls); !slices.Equal(got, []int{1000, 1000, 345}) {
		t.Errorf("stop call sizes = %v, want [1000 1000 345]", got)
	}
	if got := callSizes(f.termCalls); !slices.Equal(got, []int{1000, 1}) {
		t.Errorf("terminate call sizes = %v, want [1000 1]", got)
	}
	m := byID(t, outs)
	if len(m) != len(stops)+len(terms) {
		t.Fatalf("%d outcomes, want %d", len(m), len(stops)+len(terms))
	}
	for _, id := range stops {
		if o := m[id]; o.Status != engine.StatusDone || o.Verb != resources.VerbStopInstance || f.stopped[id] != 1 {
			t.Fatalf("%s: %+v, stopped %d times", id, o, f.stopped[id])
		}
	}
	for _, id := range terms {
		if o := m[id]; o.Status != engine.StatusDone || o.Verb != resources.VerbTerminateInstance || f.terminated[id] != 1 {
			t.Fatalf("%s: %+v, terminated %d times", id, o, f.terminated[id])
		}
	}
}

func TestContainSplitsAroundBadInstances(t *testing.T) {
	t.Parallel()
	ids := instanceIDs(5, 16)
	tests := []struct {
		name     string
		bad      []int // indexes of protected instances
		override bool
		// maxStopCalls bounds StopInstances calls: about 2·log2(16) for the
		// split, plus one retry per overridden instance.
		maxStopCalls int
	}{
		{"first protected", []int{0}, false, 2*4 + 1},
		{"middle protected", []int{9}, false, 2*4 + 1},
		{"last protected", []int{15}, false, 2*4 + 1},
		{"one protected, overridden", []int{6}, true, 2*4 + 1 + 1},
		{"two protected", []int{2, 13}, false, 2 * (2*4 + 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeEC2()
			bad := map[string]bool{}
			for _, i := range tc.bad {
				bad[ids[i]] = true
				f.disableAPIStop[ids[i]] = true
			}
			p := pol{Action: resources.VerbStopInstance, OverrideProtection: tc.override}

			m := byID(t, kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids)))

			if len(m) != len(ids) {
				t.Fatalf("%d outcomes, want %d", len(m), len(ids))
			}
			for _, id := range ids {
				o := m[id]
				switch {
				case bad[id] && !tc.override:
					if o.Status != engine.StatusFailed || o.Code != "OperationNotPermitted" || f.stopped[id] != 0 {
						t.Errorf("protected %s: %+v", id, o)
					}
				case bad[id]:
					if o.Status != engine.StatusDone || len(o.Also) == 0 || f.stopped[id] != 1 {
						t.Errorf("overridden %s: %+v", id, o)
					}
				default:
					if o.Status != engine.StatusDone || f.stopped[id] != 1 {
						t.Errorf("%s: %+v, stopped %d times", id, o, f.stopped[id])
					}
				}
			}
			if n := len(f.stopCalls); n > tc.maxStopCalls {
				t.Errorf("%d StopInstances calls, want at most %d: %v", n, tc.maxStopCalls, callSizes(f.stopCalls))
			}
			if n := float64(len(f.stopCalls)); n < 2*math.Log2(16) {
				t.Errorf("only %v StopInstances calls; the batch was not split", n)
			}
		})
	}
}

func TestContainOverridesProtection(t *testing.T) {
	t.Parallel()
	const id = "i-0aaaaaaaaaaaaaaa1"
	type attrCall struct{ stop, term bool } // which attribute a ModifyInstanceAttribute call turned off
	tests := []struct {
		name       string
		action     engine.Verb
		stopProt   bool
		termProt   bool
		bothNeeded bool
		override   bool
		modifyErr  error

		wantStatus     engine.Status
		wantCode       string
		wantOverridden bool
		wantModify     []attrCall
		wantCalls      int // stop or terminate calls
	}{
		{
			name: "stop protection turned off, then stopped", action: resources.VerbStopInstance, stopProt: true, override: true,
			wantStatus: engine.StatusDone, wantOverridden: true, wantModify: []attrCall{{stop: true}}, wantCalls: 2,
		},
		{
			name: "termination protection turned off first in terminate mode", action: resources.VerbTerminateInstance, termProt: true, override: true,
			wantStatus: engine.StatusDone, wantOverridden: true, wantModify: []attrCall{{term: true}}, wantCalls: 2,
		},
		{
			name: "both attributes on: the second is turned off too", action: resources.VerbStopInstance, stopProt: true, termProt: true, bothNeeded: true, override: true,
			wantStatus: engine.StatusDone, wantOverridden: true, wantModify: []attrCall{{stop: true}, {term: true}}, wantCalls: 3,
		},
		{
			name: "override off: failed, attributes untouched", action: resources.VerbStopInstance, stopProt: true, override: false,
			wantStatus: engine.StatusFailed, wantCode: "OperationNotPermitted", wantCalls: 1,
		},
		{
			name: "override off in terminate mode", action: resources.VerbTerminateInstance, termProt: true, override: false,
			wantStatus: engine.StatusFailed, wantCode: "OperationNotPermitted", wantCalls: 1,
		},
		{
			name: "ModifyInstanceAttribute denied", action: resources.VerbStopInstance, stopProt: true, override: true, modifyErr: apiErr("UnauthorizedOperation"),
			wantStatus: engine.StatusFailed, wantCode: "UnauthorizedOperation", wantModify: []attrCall{{stop: true}}, wantCalls: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeEC2()
			f.disableAPIStop[id] = tc.stopProt
			f.disableAPITermination[id] = tc.termProt
			f.stopNeedsBothOff = tc.bothNeeded
			f.modifyErr = tc.modifyErr
			p := pol{Action: tc.action, OverrideProtection: tc.override}

			outs := kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(tc.action, "running", []string{id}))

			if len(outs) != 1 {
				t.Fatalf("outcomes = %+v, want one", outs)
			}
			o := outs[0]
			if o.Status != tc.wantStatus || o.Code != tc.wantCode || (len(o.Also) > 0) != tc.wantOverridden || o.Verb != tc.action {
				t.Errorf("outcome = %+v, want status %q code %q overridden %v", o, tc.wantStatus, tc.wantCode, tc.wantOverridden)
			}
			if tc.wantStatus == engine.StatusFailed && o.Message == "" {
				t.Error("failure without a message")
			}
			var gotModify []attrCall
			for _, in := range f.modifyCalls {
				if aws.ToString(in.InstanceId) != id {
					t.Errorf("ModifyInstanceAttribute on %q", aws.ToString(in.InstanceId))
				}
				c := attrCall{}
				if in.DisableApiStop != nil {
					if aws.ToBool(in.DisableApiStop.Value) {
						t.Error("DisableApiStop set to true")
					}
					c.stop = true
				}
				if in.DisableApiTermination != nil {
					if aws.ToBool(in.DisableApiTermination.Value) {
						t.Error("DisableApiTermination set to true")
					}
					c.term = true
				}
				gotModify = append(gotModify, c)
			}
			if !slices.Equal(gotModify, tc.wantModify) {
				t.Errorf("ModifyInstanceAttribute calls = %+v, want %+v", gotModify, tc.wantModify)
			}
			if n := len(f.stopCalls) + len(f.termCalls); n != tc.wantCalls {
				t.Errorf("%d stop/terminate calls, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestContainSingleInstanceErrors(t *testing.T) {
	t.Parallel()
	const id = "i-0bbbbbbbbbbbbbbb1"
	tests := []struct {
		name          string
		state         string // at describe time
		stopCode      string
		termCode      string
		unstoppable   bool   // TerminateUnstoppable
		current       string // what a fresh describe shows; "" not listed
		wantAction    engine.Verb
		wantStatus    engine.Status
		wantCode      string
		wantNote      string // substring
		wantTerminate bool
	}{
		{
			name: "UnsupportedOperation on stop: terminated", state: "running", stopCode: "UnsupportedOperation", unstoppable: true,
			wantAction: resources.VerbTerminateInstance, wantStatus: engine.StatusDone, wantNote: "UnsupportedOperation", wantTerminate: true,
		},
		{
			name: "UnsupportedOperation on stop, TerminateUnstoppable off: failed", state: "running", stopCode: "UnsupportedOperation",
			wantAction: resources.VerbStopInstance, wantStatus: engine.StatusFailed, wantCode: "UnsupportedOperation",
		},
		{
			name: "UnsupportedOperation then terminate fails too", state: "running", stopCode: "UnsupportedOperation", termCode: "UnauthorizedOperation", unstoppable: true,
			wantAction: resources.VerbTerminateInstance, wantStatus: engine.StatusFailed, wantCode: "UnauthorizedOperation", wantNote: "UnsupportedOperation",
		},
		{
			name: "IncorrectInstanceState while pending: failed, retry later", state: "pending", stopCode: "IncorrectInstanceState",
			wantAction: resources.VerbStopInstance, wantStatus: engine.StatusFailed, wantCode: "IncorrectInstanceState",
		},
		{
			name: "IncorrectInstanceState after running, describe says stopping: gone", state: "running", stopCode: "IncorrectInstanceState", current: "stopping",
			wantAction: resources.VerbStopInstance, wantStatus: engine.StatusGone, wantNote: "confirms it is stopping",
		},
		{
			name: "IncorrectInstanceState but describe says running: failed", state: "running", stopCode: "IncorrectInstanceState", current: "running",
			wantAction: resources.VerbStopInstance, wantStatus: engine.StatusFailed, wantCode: "IncorrectInstanceState",
		},
		{
			name: "InvalidInstanceID.NotFound, describe says terminated: gone", state: "running", stopCode: "InvalidInstanceID.NotFound", current: "terminated",
			wantAction: resources.VerbStopInstance, wantStatus: engine.StatusGone, wantNote: "confirms it is terminated",
		},
		{
			// EC2 is eventually consistent: an instance launched seconds ago
			// can be unknown to the stop call yet running.
			name: "InvalidInstanceID.NotFound but describe says running: failed, not gone", state: "running", stopCode: "InvalidInstanceID.NotFound", current: "running",
			wantAction: resources.VerbStopInstance, wantStatus: engine.StatusFailed, wantCode: "InvalidInstanceID.NotFound",
		},
		{
			name: "InvalidInstanceID.NotFound and describe does not list it: failed", state: "running", stopCode: "InvalidInstanceID.NotFound",
			wantAction: resources.VerbStopInstance, wantStatus: engine.StatusFailed, wantCode: "InvalidInstanceID.NotFound",
		},
		{
			name: "InvalidInstanceID.Malformed: failed", state: "running", stopCode: "InvalidInstanceID.Malformed",
			wantAction: resources.VerbStopInstance, wantStatus: engine.StatusFailed, wantCode: "InvalidInstanceID.Malformed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeEC2()
			f.stopCode[id] = tc.stopCode
			f.termCode[id] = tc.termCode
			if tc.current != "" {
				f.current[id] = tc.current
			}
			p := pol{Action: resources.VerbStopInstance, TerminateUnstoppable: tc.unstoppable, OverrideProtection: true}

			outs := kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, tc.state, []string{id}))

			if len(outs) != 1 {
				t.Fatalf("outcomes = %+v, want one", outs)
			}
			o := outs[0]
			if o.ID != id || o.Verb != tc.wantAction || o.Status != tc.wantStatus || o.Code != tc.wantCode {
				t.Errorf("outcome = %+v, want action %q status %q code %q", o, tc.wantAction, tc.wantStatus, tc.wantCode)
			}
			if !strings.Contains(o.Note, tc.wantNote) {
				t.Errorf("note %q, want it to mention %q", o.Note, tc.wantNote)
			}
			if got := f.terminated[id] == 1; got != tc.wantTerminate {
				t.Errorf("terminated = %v, want %v", got, tc.wantTerminate)
			}
			if len(f.modifyCalls) != 0 {
				t.Errorf("unexpected ModifyInstanceAttribute calls: %d", len(f.modifyCalls))
			}
		})
	}
}

// A per-instance error in a batch is resolved per instance after the split.
func TestContainBatchWithMixedPerInstanceErrors(t *testing.T) {
	t.Parallel()
	ids := instanceIDs(6, 40)
	f := newFakeEC2()
	f.stopCode[ids[3]] = "InvalidInstanceID.NotFound"
	f.stopCode[ids[17]] = "UnsupportedOperation"
	f.stopCode[ids[30]] = "IncorrectInstanceState"
	f.current[ids[3]] = "terminated"
	f.current[ids[30]] = "stopped"
	p := pol{Action: resources.VerbStopInstance, TerminateUnstoppable: true, OverrideProtection: true}

	m := byID(t, kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids)))

	if len(m) != len(ids) {
		t.Fatalf("%d outcomes, want %d", len(m), len(ids))
	}
	if o := m[ids[3]]; o.Status != engine.StatusGone {
		t.Errorf("not found: %+v", o)
	}
	if o := m[ids[17]]; o.Status != engine.StatusDone || o.Verb != resources.VerbTerminateInstance || f.terminated[ids[17]] != 1 {
		t.Errorf("unstoppable: %+v", o)
	}
	if o := m[ids[30]]; o.Status != engine.StatusGone {
		t.Errorf("incorrect state: %+v", o)
	}
	stopped := 0
	for _, id := range ids {
		stopped += f.stopped[id]
	}
	if stopped != len(ids)-3 {
		t.Errorf("%d stopped, want %d", stopped, len(ids)-3)
	}
}

func TestContainDoesNotSplitAccountWideErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		wantCode string
	}{
		{"throttled past every retry", apiErr("RequestLimitExceeded"), "RequestLimitExceeded"},
		{"access denied", apiErr("UnauthorizedOperation"), "UnauthorizedOperation"},
		{"network error", errors.New("dial tcp: connection refused"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids := instanceIDs(7, 64)
			f := newFakeEC2()
			f.callErr = tc.err

			outs := kindWith(f, pol{Action: resources.VerbStopInstance, OverrideProtection: true}).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids))

			if len(f.stopCalls) != 1 {
				t.Errorf("%d StopInstances calls, want 1 (no split): %v", len(f.stopCalls), callSizes(f.stopCalls))
			}
			m := byID(t, outs)
			if len(m) != len(ids) {
				t.Fatalf("%d outcomes, want %d", len(m), len(ids))
			}
			for _, id := range ids {
				if o := m[id]; o.Status != engine.StatusFailed || o.Code != tc.wantCode || !strings.Contains(o.Message, tc.err.Error()) {
					t.Fatalf("%s: %+v", id, o)
				}
			}
			if len(f.modifyCalls) != 0 {
				t.Errorf("ModifyInstanceAttribute called %d times", len(f.modifyCalls))
			}
		})
	}
}

// Once the context has ended, a per-instance error is not split further:
// every part would only fail on the deadline.
func TestContainStopsSplittingWhenContextEnds(t *testing.T) {
	t.Parallel()
	ids := instanceIDs(8, 32)
	f := newFakeEC2()
	f.disableAPIStop[ids[0]] = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onStop = func([]string) { cancel() } // the deadline passes during the first call

	outs := kindWith(f, pol{Action: resources.VerbStopInstance, OverrideProtection: true}).Contain(ctx, "us-east-1", decisions(resources.VerbStopInstance, "running", ids))

	if len(f.stopCalls) != 1 {
		t.Errorf("%d StopInstances calls after the context ended, want 1", len(f.stopCalls))
	}
	if len(outs) != len(ids) {
		t.Errorf("%d outcomes, want %d", len(outs), len(ids))
	}
	for _, o := range outs {
		if o.Status != engine.StatusFailed {
			t.Errorf("%s: %+v", o.ID, o)
		}
	}
}

// Splitting a big batch sends the halves concurrently, but never more than
// a few calls at once per region: EC2's burst for mutating calls is 50.
func TestContainSplitsConcurrentlyWithinBound(t *testing.T) {
	t.Parallel()
	const maxInFlight = 8 // ec2_instances_contain.go: maxSplitCalls
	ids := instanceIDs(10, 1000)
	f := newFakeEC2()
	bad := map[string]bool{}
	for i := 7; i < len(ids); i += 61 {
		bad[ids[i]] = true
		f.stopCode[ids[i]] = "InvalidInstanceID.Malformed"
	}
	var inFlight, peak atomic.Int32
	f.onStop = func([]string) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
	}

	m := byID(t, kindWith(f, pol{Action: resources.VerbStopInstance}).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids)))

	if got := peak.Load(); got > maxInFlight || got < 2 {
		t.Errorf("peak StopInstances calls in flight = %d, want 2..%d", got, maxInFlight)
	}
	if len(m) != len(ids) {
		t.Fatalf("%d outcomes, want %d", len(m), len(ids))
	}
	for _, id := range ids {
		want := engine.StatusDone
		if bad[id] {
			want = engine.StatusFailed
		}
		if m[id].Status != want {
			t.Errorf("%s: %+v, want %s", id, m[id], want)
		}
		if !bad[id] && f.stopped[id] != 1 {
			t.Errorf("%s stopped %d times", id, f.stopped[id])
		}
	}
}

// A stop refused as unsupported becomes a terminate; if that terminate then
// meets IncorrectInstanceState, the describe-time state still decides: an
// instance that was pending is still starting and must be retried, not
// reported gone.
func TestContainUnsupportedThenIncorrectStateKeepsDescribeState(t *testing.T) {
	t.Parallel()
	const id = "i-0ccccccccccccccc1"
	f := newFakeEC2()
	f.stopCode[id] = "UnsupportedOperation"
	f.termCode[id] = "IncorrectInstanceState"
	p := pol{Action: resources.VerbStopInstance, TerminateUnstoppable: true}

	outs := kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "pending", []string{id}))

	if len(outs) != 1 {
		t.Fatalf("outcomes = %+v", outs)
	}
	if o := outs[0]; o.Status != engine.StatusFailed || o.Code != "IncorrectInstanceState" || o.Verb != resources.VerbTerminateInstance {
		t.Errorf("outcome = %+v, want the terminate failed with IncorrectInstanceState (retry later)", o)
	}
}

// Spot instances are stopped like any other, in batches of their own: a
// persistent request's instance stops (its request is disabled, nothing is
// relaunched), a one-time one is refused and only then terminated, and
// finding those refusals never splits the on-demand batch.
func TestContainStopsSpotFirstInItsOwnBatches(t *testing.T) {
	t.Parallel()
	onDemand := instanceIDs(7, 500)
	persistent := instanceIDs(8, 3)
	oneTime := instanceIDs(9, 4)
	var res []types.Instance
	for _, id := range onDemand {
		res = append(res, running(id))
	}
	for _, id := range append(append([]string(nil), persistent...), oneTime...) {
		inst := running(id)
		inst.InstanceLifecycle = types.InstanceLifecycleTypeSpot
		res = append(res, inst)
	}
	f := newFakeEC2()
	f.pages = [][]types.Reservation{{{Instances: res}}}
	for _, id := range oneTime {
		f.stopCode[id] = "UnsupportedOperation"
	}
	k := kindWith(f, pol{Action: resources.VerbStopInstance, TerminateUnstoppable: true})

	found, err := k.Find(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var todo []engine.Decision
	for _, r := range found {
		todo = append(todo, k.Decide(r))
	}
	m := byID(t, k.Contain(context.Background(), "us-east-1", todo))

	for _, call := range f.stopCalls {
		if slices.Contains(call, onDemand[0]) && len(call) != len(onDemand) {
			t.Fatalf("on-demand instances stopped in a call of %d, want one call of all %d", len(call), len(onDemand))
		}
		if len(call) > 0 && slices.Contains(onDemand, call[0]) != slices.Contains(onDemand, call[len(call)-1]) {
			t.Fatalf("a stop call mixes Spot and on-demand instances: %v", call)
		}
	}
	for _, id := range append(append([]string(nil), onDemand...), persistent...) {
		if o := m[id]; o.Status != engine.StatusDone || o.Verb != resources.VerbStopInstance || f.stopped[id] != 1 || f.terminated[id] != 0 {
			t.Fatalf("%s: %+v, stopped %d, terminated %d; want stopped once", id, o, f.stopped[id], f.terminated[id])
		}
	}
	for _, id := range oneTime {
		if o := m[id]; o.Status != engine.StatusDone || o.Verb != resources.VerbTerminateInstance || f.terminated[id] != 1 || !strings.Contains(o.Note, "UnsupportedOperation") {
			t.Errorf("one-time Spot %s: %+v, terminated %d; want terminated after the refused stop", id, o, f.terminated[id])
		}
	}
}

// What launched an instance is read from the tags only AWS can write; a
// tag anyone can write names no parent.
func TestFindNamesTheLauncherFromAWSTags(t *testing.T) {
	t.Parallel()
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	tests := []struct {
		name string
		tags []types.Tag
		want string
	}{
		{"Auto Scaling group", []types.Tag{tag("Name", "web"), tag("aws:autoscaling:groupName", "owner-asg")}, "owner-asg"},
		{"Spot Fleet", []types.Tag{tag("aws:ec2spot:fleet-request-id", "sfr-123")}, "sfr-123"},
		{"EC2 Fleet", []types.Tag{tag("aws:ec2:fleet-id", "fleet-123")}, "fleet-123"},
		{"a user tag names nothing", []types.Tag{tag("autoscaling:groupName", "owner-asg"), tag("killswitch:exempt", "true")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inst := running("i-0123456789abcdef0")
			inst.Tags = tc.tags
			f := newFakeEC2()
			f.pages = [][]types.Reservation{{{Instances: []types.Instance{inst}}}}
			found, err := kindWith(f, pol{Action: resources.VerbStopInstance}).Find(context.Background(), "us-east-1")
			if err != nil || len(found) != 1 || found[0].Parent != tc.want {
				t.Errorf("Find = %+v, %v; want parent %q", found, err, tc.want)
			}
		})
	}
}
