package resources_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// fakeSpotRequests is a hand-written SpotInstanceRequestsAPI. Like moto, it
// ignores describe filters, so the kind's own state check is exercised; like
// EC2, one unknown ID fails a whole cancel call.
type fakeSpotRequests struct {
	mu       sync.Mutex
	requests []types.SpotInstanceRequest

	describeErrAt  int
	describeErr    error
	describeInputs []ec2.DescribeSpotInstanceRequestsInput

	callErr error
	// answer overrides the state EC2 reports for an ID; omit leaves the ID
	// out of the response.
	answer map[string]types.CancelSpotInstanceRequestState
	omit   map[string]bool

	cancelCalls [][]string
}

var _ resources.SpotInstanceRequestsAPI = (*fakeSpotRequests)(nil)

func newFakeSpotRequests(reqs ...types.SpotInstanceRequest) *fakeSpotRequests {
	return &fakeSpotRequests{requests: reqs, describeErrAt: -1,
		answer: map[string]types.CancelSpotInstanceRequestState{}, omit: map[string]bool{}}
}

func spotRequest(id string, state types.SpotInstanceState, typ types.SpotInstanceType, instanceID string) types.SpotInstanceRequest {
	r := types.SpotInstanceRequest{SpotInstanceRequestId: aws.String(id), State: state, Type: typ}
	if instanceID != "" {
		r.InstanceId = aws.String(instanceID)
	}
	return r
}

func spotRequestIDs(prefix, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("sir-%x%016x", prefix, i)
	}
	return ids
}

func (f *fakeSpotRequests) DescribeSpotInstanceRequests(_ context.Context, in *ec2.DescribeSpotInstanceRequestsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSpotInstanceRequestsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describeInputs = append(f.describeInputs, *in)
	if f.describeErrAt == len(f.describeInputs)-1 {
		return nil, f.describeErr
	}
	page, next, err := relPage(f.requests, in.NextToken, aws.ToInt32(in.MaxResults))
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeSpotInstanceRequestsOutput{SpotInstanceRequests: page, NextToken: next}, nil
}

func (f *fakeSpotRequests) CancelSpotInstanceRequests(_ context.Context, in *ec2.CancelSpotInstanceRequestsInput, _ ...func(*ec2.Options)) (*ec2.CancelSpotInstanceRequestsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelCalls = append(f.cancelCalls, append([]string(nil), in.SpotInstanceRequestIds...))
	if f.callErr != nil {
		return nil, f.callErr
	}
	byID := map[string]int{}
	for i, r := range f.requests {
		byID[aws.ToString(r.SpotInstanceRequestId)] = i
	}
	for _, id := range in.SpotInstanceRequestIds {
		if _, ok := byID[id]; !ok {
			return nil, apiErr("InvalidSpotInstanceRequestID.NotFound")
		}
	}
	out := &ec2.CancelSpotInstanceRequestsOutput{}
	for _, id := range in.SpotInstanceRequestIds {
		state, ok := f.answer[id]
		if !ok {
			state = types.CancelSpotInstanceRequestStateCancelled
			f.requests[byID[id]].State = types.SpotInstanceStateCancelled
		}
		if !f.omit[id] {
			out.CancelledSpotInstanceRequests = append(out.CancelledSpotInstanceRequests,
				types.CancelledSpotInstanceRequest{SpotInstanceRequestId: aws.String(id), State: state})
		}
	}
	return out, nil
}

func spotRequestKind(f *fakeSpotRequests) *resources.SpotInstanceRequests {
	return resources.NewSpotInstanceRequests(func(string) resources.SpotInstanceRequestsAPI { return f })
}

func TestSpotInstanceRequestsFind(t *testing.T) {
	t.Parallel()
	f := newFakeSpotRequests(
		spotRequest("sir-open", types.SpotInstanceStateOpen, types.SpotInstanceTypeOneTime, ""),
		spotRequest("sir-active", types.SpotInstanceStateActive, types.SpotInstanceTypePersistent, "i-0aaaaaaaaaaaaaaa1"),
		spotRequest("sir-disabled", types.SpotInstanceStateDisabled, types.SpotInstanceTypePersistent, "i-0aaaaaaaaaaaaaaa2"),
		spotRequest("sir-cancelled", types.SpotInstanceStateCancelled, types.SpotInstanceTypePersistent, ""),
		spotRequest("sir-closed", types.SpotInstanceStateClosed, types.SpotInstanceTypeOneTime, ""),
	)
	k := spotRequestKind(f)
	found, err := k.Find(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]resources.SpotRequestPrior{}
	for _, r := range found {
		p, ok := r.Prior.(resources.SpotRequestPrior)
		if !ok {
			t.Fatalf("%s: prior %T", r.ID, r.Prior)
		}
		got[r.ID] = p
		if d := k.Decide(r); d.Leave || d.Verb != resources.VerbCancelSpotRequest || d.Reason == "" {
			t.Errorf("%s: decision %+v, want cancel with a reason", r.ID, d)
		}
	}
	want := map[string]resources.SpotRequestPrior{
		"sir-open":     {State: "open", Type: "one-time"},
		"sir-active":   {State: "active", Type: "persistent", InstanceID: "i-0aaaaaaaaaaaaaaa1"},
		"sir-disabled": {State: "disabled", Type: "persistent", InstanceID: "i-0aaaaaaaaaaaaaaa2"},
	}
	if len(got) != len(want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	for id, p := range want {
		if got[id] != p {
			t.Errorf("%s: prior %+v, want %+v", id, got[id], p)
		}
	}
	if d := got["sir-active"].Describe(); !strings.Contains(d, "persistent") || !strings.Contains(d, "i-0aaaaaaaaaaaaaaa1") {
		t.Errorf("Describe() = %q", d)
	}
	in := f.describeInputs[0]
	if aws.ToInt32(in.MaxResults) != 1000 || len(in.Filters) != 1 || aws.ToString(in.Filters[0].Name) != "state" ||
		!slices.Equal(slices.Sorted(slices.Values(in.Filters[0].Values)), []string{"active", "disabled", "open"}) {
		t.Errorf("describe input = %+v, want MaxResults 1000 and a state filter on open, active, disabled", in)
	}
}

func TestSpotInstanceRequestsFindPagesAndWrapsErrors(t *testing.T) {
	t.Parallel()
	var reqs []types.SpotInstanceRequest
	for _, id := range spotRequestIDs(1, 2500) {
		reqs = append(reqs, spotRequest(id, types.SpotInstanceStateActive, types.SpotInstanceTypePersistent, ""))
	}
	f := newFakeSpotRequests(reqs...)
	if found, err := spotRequestKind(f).Find(context.Background(), "us-east-1"); err != nil || len(found) != 2500 || len(f.describeInputs) != 3 {
		t.Fatalf("found %d in %d calls, %v; want 2500 in 3", len(found), len(f.describeInputs), err)
	}

	f = newFakeSpotRequests(reqs...)
	f.describeErrAt, f.describeErr = 2, apiErr("UnauthorizedOperation")
	found, err := spotRequestKind(f).Find(context.Background(), "me-south-1")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnauthorizedOperation" || !strings.Contains(err.Error(), "me-south-1") ||
		!strings.Contains(err.Error(), "Spot Instance requests") {
		t.Errorf("error %v: want the API error wrapped, naming region and resource", err)
	}
	if len(found) != 2000 {
		t.Errorf("found %d before the failure, want 2000", len(found))
	}
}

func TestSpotInstanceRequestsContain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		n          int
		setup      func(f *fakeSpotRequests, ids []string)
		gone       []int // indexes of IDs that vanish before the cancel
		wantSizes  []int // first calls' sizes; further calls may follow a split
		wantStatus map[int]engine.Status
		wantCode   map[int]string
	}{
		{name: "batches of 1000", n: 2300, wantSizes: []int{1000, 1000, 300}},
		{name: "one vanished request splits its batch and is gone", n: 40, gone: []int{7},
			wantSizes: []int{40, 20}, wantStatus: map[int]engine.Status{7: engine.StatusGone}},
		{name: "already closed is gone, not done", n: 3, setup: func(f *fakeSpotRequests, ids []string) {
			f.answer[ids[1]] = types.CancelSpotInstanceRequestStateClosed
		}, wantSizes: []int{3}, wantStatus: map[int]engine.Status{1: engine.StatusGone}},
		{name: "still active after the call is a failure", n: 3, setup: func(f *fakeSpotRequests, ids []string) {
			f.answer[ids[2]] = types.CancelSpotInstanceRequestStateActive
		}, wantSizes: []int{3}, wantStatus: map[int]engine.Status{2: engine.StatusFailed}, wantCode: map[int]string{2: "NotCancelled"}},
		{name: "left out of the answer is a failure", n: 3, setup: func(f *fakeSpotRequests, ids []string) {
			f.omit[ids[0]] = true
		}, wantSizes: []int{3}, wantStatus: map[int]engine.Status{0: engine.StatusFailed}, wantCode: map[int]string{0: "NotConfirmed"}},
		{name: "a call error fails every request, unsplit", n: 5, setup: func(f *fakeSpotRequests, _ []string) {
			f.callErr = apiErr("UnauthorizedOperation")
		}, wantSizes: []int{5},
			wantStatus: map[int]engine.Status{0: engine.StatusFailed, 1: engine.StatusFailed, 2: engine.StatusFailed, 3: engine.StatusFailed, 4: engine.StatusFailed},
			wantCode:   map[int]string{0: "UnauthorizedOperation", 1: "UnauthorizedOperation", 2: "UnauthorizedOperation", 3: "UnauthorizedOperation", 4: "UnauthorizedOperation"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids := spotRequestIDs(2, tc.n)
			var reqs []types.SpotInstanceRequest
			for _, id := range ids {
				reqs = append(reqs, spotRequest(id, types.SpotInstanceStateActive, types.SpotInstanceTypePersistent, ""))
			}
			f := newFakeSpotRequests(reqs...)
			if tc.setup != nil {
				tc.setup(f, ids)
			}
			k := spotRequestKind(f)
			todo := findAndDecide(t, k)
			for _, i := range tc.gone {
				f.requests = slices.DeleteFunc(f.requests, func(r types.SpotInstanceRequest) bool { return aws.ToString(r.SpotInstanceRequestId) == ids[i] })
			}

			m := byID(t, k.Contain(context.Background(), "sa-east-1", todo))

			if len(m) != tc.n {
				t.Fatalf("%d outcomes, want %d", len(m), tc.n)
			}
			if got := callSizes(f.cancelCalls); len(got) < len(tc.wantSizes) || !slices.Equal(got[:len(tc.wantSizes)], tc.wantSizes) {
				t.Errorf("cancel call sizes = %v, want them to start %v", got, tc.wantSizes)
			}
			for i, id := range ids {
				o := m[id]
				wantStatus, ok := tc.wantStatus[i]
				if !ok {
					wantStatus = engine.StatusDone
				}
				if o.Status != wantStatus || o.Code != tc.wantCode[i] || o.Verb != resources.VerbCancelSpotRequest {
					t.Fatalf("%s: %+v, want status %q code %q", id, o, wantStatus, tc.wantCode[i])
				}
				if _, ok := o.Prior.(resources.SpotRequestPrior); !ok {
					t.Fatalf("%s: prior %T, want SpotRequestPrior", id, o.Prior)
				}
				if o.Status == engine.StatusFailed && !strings.Contains(o.Message, "sa-east-1") {
					t.Errorf("%s: message %q does not name the region", id, o.Message)
				}
			}
		})
	}
}

func TestSpotInstanceRequestsSecondRunIsQuiet(t *testing.T) {
	t.Parallel()
	f := newFakeSpotRequests(
		spotRequest("sir-1", types.SpotInstanceStateActive, types.SpotInstanceTypePersistent, "i-0aaaaaaaaaaaaaaa1"),
		spotRequest("sir-2", types.SpotInstanceStateOpen, types.SpotInstanceTypeOneTime, ""),
	)
	k := spotRequestKind(f)
	k.Contain(context.Background(), "us-east-1", findAndDecide(t, k))
	if found, err := k.Find(context.Background(), "us-east-1"); err != nil || len(found) != 0 {
		t.Fatalf("second Find = %+v, %v; want nothing", found, err)
	}
	if len(f.cancelCalls) != 1 {
		t.Errorf("%d cancel calls over two runs, want 1", len(f.cancelCalls))
	}
}
