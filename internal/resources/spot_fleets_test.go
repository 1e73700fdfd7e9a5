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

// fakeSpotFleets is a hand-written SpotFleetRequestsAPI. Its cancel call
// answers per fleet, as EC2 does: successes, and failures with a code.
type fakeSpotFleets struct {
	mu     sync.Mutex
	fleets []types.SpotFleetRequestConfig

	describeErrAt  int
	describeErr    error
	describeInputs []ec2.DescribeSpotFleetRequestsInput

	callErr error
	failID  map[string]types.CancelBatchErrorCode // answered as unsuccessful
	omit    map[string]bool                       // left out of the answer

	cancelCalls []ec2.CancelSpotFleetRequestsInput
}

var _ resources.SpotFleetRequestsAPI = (*fakeSpotFleets)(nil)

func newFakeSpotFleets(fleets ...types.SpotFleetRequestConfig) *fakeSpotFleets {
	return &fakeSpotFleets{fleets: fleets, describeErrAt: -1, failID: map[string]types.CancelBatchErrorCode{}, omit: map[string]bool{}}
}

func spotFleet(id string, state types.BatchState, typ types.FleetType, target int32) types.SpotFleetRequestConfig {
	return types.SpotFleetRequestConfig{SpotFleetRequestId: aws.String(id), SpotFleetRequestState: state,
		SpotFleetRequestConfig: &types.SpotFleetRequestConfigData{TargetCapacity: aws.Int32(target), Type: typ}}
}

func (f *fakeSpotFleets) DescribeSpotFleetRequests(_ context.Context, in *ec2.DescribeSpotFleetRequestsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSpotFleetRequestsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describeInputs = append(f.describeInputs, *in)
	if f.describeErrAt == len(f.describeInputs)-1 {
		return nil, f.describeErr
	}
	page, next, err := relPage(f.fleets, in.NextToken, aws.ToInt32(in.MaxResults))
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeSpotFleetRequestsOutput{SpotFleetRequestConfigs: page, NextToken: next}, nil
}

func (f *fakeSpotFleets) CancelSpotFleetRequests(_ context.Context, in *ec2.CancelSpotFleetRequestsInput, _ ...func(*ec2.Options)) (*ec2.CancelSpotFleetRequestsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelCalls = append(f.cancelCalls, *in)
	if f.callErr != nil {
		return nil, f.callErr
	}
	out := &ec2.CancelSpotFleetRequestsOutput{}
	for _, id := range in.SpotFleetRequestIds {
		switch code, failed := f.failID[id]; {
		case f.omit[id]:
		case failed:
			out.UnsuccessfulFleetRequests = append(out.UnsuccessfulFleetRequests, types.CancelSpotFleetRequestsErrorItem{
				SpotFleetRequestId: aws.String(id), Error: &types.CancelSpotFleetRequestsError{Code: code, Message: aws.String("fake " + string(code))}})
		default:
			for i := range f.fleets {
				if aws.ToString(f.fleets[i].SpotFleetRequestId) == id {
					f.fleets[i].SpotFleetRequestState = types.BatchStateCancelledTerminatingInstances
				}
			}
			out.SuccessfulFleetRequests = append(out.SuccessfulFleetRequests, types.CancelSpotFleetRequestsSuccessItem{
				SpotFleetRequestId: aws.String(id), CurrentSpotFleetRequestState: types.BatchStateCancelledTerminatingInstances})
		}
	}
	return out, nil
}

func spotFleetKind(f *fakeSpotFleets) *resources.SpotFleetRequests {
	return resources.NewSpotFleetRequests(func(string) resources.SpotFleetRequestsAPI { return f })
}

func TestSpotFleetRequestsFind(t *testing.T) {
	t.Parallel()
	f := newFakeSpotFleets(
		spotFleet("sfr-submitted", types.BatchStateSubmitted, types.FleetTypeMaintain, 5),
		spotFleet("sfr-active", types.BatchStateActive, types.FleetTypeMaintain, 40),
		spotFleet("sfr-modifying", types.BatchStateModifying, types.FleetTypeRequest, 8),
		spotFleet("sfr-cancelled", types.BatchStateCancelled, types.FleetTypeMaintain, 3),
		spotFleet("sfr-cancelled-running", types.BatchStateCancelledRunning, types.FleetTypeMaintain, 3),
		spotFleet("sfr-cancelled-terminating", types.BatchStateCancelledTerminatingInstances, types.FleetTypeMaintain, 3),
		spotFleet("sfr-failed", types.BatchStateFailed, types.FleetTypeMaintain, 3),
	)
	k := spotFleetKind(f)
	found, err := k.Find(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]resources.SpotFleetPrior{}
	for _, r := range found {
		got[r.ID], _ = r.Prior.(resources.SpotFleetPrior)
		if d := k.Decide(r); d.Leave || d.Verb != resources.VerbCancelSpotFleet || d.Reason == "" {
			t.Errorf("%s: decision %+v, want cancel with a reason", r.ID, d)
		}
	}
	want := map[string]resources.SpotFleetPrior{
		"sfr-submitted": {TargetCapacity: 5, Type: "maintain", State: "submitted"},
		"sfr-active":    {TargetCapacity: 40, Type: "maintain", State: "active"},
		"sfr-modifying": {TargetCapacity: 8, Type: "request", State: "modifying"},
	}
	if len(got) != len(want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	for id, p := range want {
		if got[id] != p {
			t.Errorf("%s: prior %+v, want %+v", id, got[id], p)
		}
	}
	if d := got["sfr-active"].Describe(); d != "maintain, target 40, active" {
		t.Errorf("Describe() = %q", d)
	}
	if aws.ToInt32(f.describeInputs[0].MaxResults) != 1000 {
		t.Errorf("MaxResults = %v, want 1000", f.describeInputs[0].MaxResults)
	}
}

func TestSpotFleetRequestsFindWrapsErrors(t *testing.T) {
	t.Parallel()
	var fleets []types.SpotFleetRequestConfig
	for i := range 1500 {
		fleets = append(fleets, spotFleet(fmt.Sprintf("sfr-%04d", i), types.BatchStateActive, types.FleetTypeMaintain, 1))
	}
	f := newFakeSpotFleets(fleets...)
	f.describeErrAt, f.describeErr = 1, apiErr("UnauthorizedOperation")
	found, err := spotFleetKind(f).Find(context.Background(), "af-south-1")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnauthorizedOperation" || !strings.Contains(err.Error(), "af-south-1") ||
		!strings.Contains(err.Error(), "Spot Fleet requests") {
		t.Errorf("error %v: want the API error wrapped, naming region and resource", err)
	}
	if len(found) != 1000 {
		t.Errorf("found %d before the failure, want 1000", len(found))
	}
}

func TestSpotFleetRequestsContain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		n          int
		setup      func(f *fakeSpotFleets, ids []string)
		wantSizes  []int
		wantStatus map[int]engine.Status
		wantCode   map[int]string
	}{
		{name: "batches of 100, instances terminated", n: 250, wantSizes: []int{100, 100, 50}},
		{name: "per-fleet answers", n: 5, setup: func(f *fakeSpotFleets, ids []string) {
			f.failID[ids[0]] = types.CancelBatchErrorCodeFleetRequestIdDoesNotExist
			f.failID[ids[1]] = types.CancelBatchErrorCodeFleetRequestNotInCancellableState
			f.failID[ids[2]] = types.CancelBatchErrorCodeUnexpectedError
			f.omit[ids[3]] = true
		}, wantSizes: []int{5},
			wantStatus: map[int]engine.Status{0: engine.StatusGone, 1: engine.StatusGone, 2: engine.StatusFailed, 3: engine.StatusFailed},
			wantCode:   map[int]string{2: "unexpectedError", 3: "NotConfirmed"}},
		{name: "a call error fails the batch", n: 2, setup: func(f *fakeSpotFleets, _ []string) {
			f.callErr = apiErr("UnauthorizedOperation")
		}, wantSizes: []int{2},
			wantStatus: map[int]engine.Status{0: engine.StatusFailed, 1: engine.StatusFailed},
			wantCode:   map[int]string{0: "UnauthorizedOperation", 1: "UnauthorizedOperation"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ids []string
			var fleets []types.SpotFleetRequestConfig
			for i := range tc.n {
				ids = append(ids, fmt.Sprintf("sfr-%04d", i))
				fleets = append(fleets, spotFleet(ids[i], types.BatchStateActive, types.FleetTypeMaintain, 10))
			}
			f := newFakeSpotFleets(fleets...)
			if tc.setup != nil {
				tc.setup(f, ids)
			}
			k := spotFleetKind(f)

			m := byID(t, k.Contain(context.Background(), "ca-central-1", findAndDecide(t, k)))

			var sizes []int
			for _, c := range f.cancelCalls {
				sizes = append(sizes, len(c.SpotFleetRequestIds))
				if !aws.ToBool(c.TerminateInstances) {
					t.Errorf("cancel call without TerminateInstances")
				}
			}
			if !slices.Equal(sizes, tc.wantSizes) {
				t.Errorf("cancel call sizes = %v, want %v", sizes, tc.wantSizes)
			}
			if len(m) != tc.n {
				t.Fatalf("%d outcomes, want %d", len(m), tc.n)
			}
			for i, id := range ids {
				o := m[id]
				wantStatus, ok := tc.wantStatus[i]
				if !ok {
					wantStatus = engine.StatusDone
				}
				if o.Status != wantStatus || o.Code != tc.wantCode[i] || o.Verb != resources.VerbCancelSpotFleet {
					t.Fatalf("%s: %+v, want status %q code %q", id, o, wantStatus, tc.wantCode[i])
				}
				if _, ok := o.Prior.(resources.SpotFleetPrior); !ok {
					t.Fatalf("%s: prior %T, want SpotFleetPrior", id, o.Prior)
				}
				if o.Status == engine.StatusFailed && !strings.Contains(o.Message, "ca-central-1") {
					t.Errorf("%s: message %q does not name the region", id, o.Message)
				}
			}
		})
	}
}

func TestSpotFleetRequestsSecondRunIsQuiet(t *testing.T) {
	t.Parallel()
	f := newFakeSpotFleets(spotFleet("sfr-1", types.BatchStateActive, types.FleetTypeMaintain, 10))
	k := spotFleetKind(f)
	k.Contain(context.Background(), "us-east-1", findAndDecide(t, k))
	if found, err := k.Find(context.Background(), "us-east-1"); err != nil || len(found) != 0 {
		t.Fatalf("second Find = %+v, %v; want nothing", found, err)
	}
	if len(f.cancelCalls) != 1 {
		t.Errorf("%d cancel calls over two runs, want 1", len(f.cancelCalls))
	}
}
