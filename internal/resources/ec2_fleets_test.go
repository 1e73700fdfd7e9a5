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

// fakeEC2Fleets is a hand-written EC2FleetsAPI. Like moto, it ignores
// describe filters and lists instant fleets; its delete call answers per
// fleet, as EC2 does.
type fakeEC2Fleets struct {
	mu     sync.Mutex
	fleets []types.FleetData

	describeErrAt  int
	describeErr    error
	describeInputs []ec2.DescribeFleetsInput

	callErr error
	failID  map[string]types.DeleteFleetErrorCode
	omit    map[string]bool

	deleteCalls []ec2.DeleteFleetsInput
}

var _ resources.EC2FleetsAPI = (*fakeEC2Fleets)(nil)

func newFakeEC2Fleets(fleets ...types.FleetData) *fakeEC2Fleets {
	return &fakeEC2Fleets{fleets: fleets, describeErrAt: -1, failID: map[string]types.DeleteFleetErrorCode{}, omit: map[string]bool{}}
}

func ec2Fleet(id string, state types.FleetStateCode, typ types.FleetType, onDemand, spot int32) types.FleetData {
	return types.FleetData{FleetId: aws.String(id), FleetState: state, Type: typ,
		TargetCapacitySpecification: &types.TargetCapacitySpecification{
			TotalTargetCapacity: aws.Int32(onDemand + spot), OnDemandTargetCapacity: aws.Int32(onDemand), SpotTargetCapacity: aws.Int32(spot)}}
}

func (f *fakeEC2Fleets) DescribeFleets(_ context.Context, in *ec2.DescribeFleetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error) {
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
	return &ec2.DescribeFleetsOutput{Fleets: page, NextToken: next}, nil
}

func (f *fakeEC2Fleets) DeleteFleets(_ context.Context, in *ec2.DeleteFleetsInput, _ ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleteCalls = append(f.deleteCalls, *in)
	if f.callErr != nil {
		return nil, f.callErr
	}
	out := &ec2.DeleteFleetsOutput{}
	for _, id := range in.FleetIds {
		switch code, failed := f.failID[id]; {
		case f.omit[id]:
		case failed:
			out.UnsuccessfulFleetDeletions = append(out.UnsuccessfulFleetDeletions, types.DeleteFleetErrorItem{
				FleetId: aws.String(id), Error: &types.DeleteFleetError{Code: code, Message: aws.String("fake " + string(code))}})
		default:
			for i := range f.fleets {
				if aws.ToString(f.fleets[i].FleetId) == id {
					f.fleets[i].FleetState = types.FleetStateCodeDeletedTerminatingInstances
				}
			}
			out.SuccessfulFleetDeletions = append(out.SuccessfulFleetDeletions, types.DeleteFleetSuccessItem{
				FleetId: aws.String(id), CurrentFleetState: types.FleetStateCodeDeletedTerminatingInstances})
		}
	}
	return out, nil
}

func ec2FleetKind(f *fakeEC2Fleets) *resources.EC2Fleets {
	return resources.NewEC2Fleets(func(string) resources.EC2FleetsAPI { return f })
}

func TestEC2FleetsFind(t *testing.T) {
	t.Parallel()
	f := newFakeEC2Fleets(
		ec2Fleet("fleet-maintain", types.FleetStateCodeActive, types.FleetTypeMaintain, 4, 16),
		ec2Fleet("fleet-request", types.FleetStateCodeSubmitted, types.FleetTypeRequest, 0, 8),
		ec2Fleet("fleet-modifying", types.FleetStateCodeModifying, types.FleetTypeMaintain, 2, 0),
		ec2Fleet("fleet-instant", types.FleetStateCodeActive, types.FleetTypeInstant, 5, 0),
		ec2Fleet("fleet-deleted-terminating", types.FleetStateCodeDeletedTerminatingInstances, types.FleetTypeMaintain, 5, 0),
		ec2Fleet("fleet-deleted-running", types.FleetStateCodeDeletedRunning, types.FleetTypeMaintain, 5, 0),
		ec2Fleet("fleet-failed", types.FleetStateCodeFailed, types.FleetTypeRequest, 5, 0),
	)
	k := ec2FleetKind(f)
	found, err := k.Find(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]resources.EC2FleetPrior{}
	for _, r := range found {
		got[r.ID], _ = r.Prior.(resources.EC2FleetPrior)
		if d := k.Decide(r); d.Leave || d.Verb != resources.VerbDeleteEC2Fleet || d.Reason == "" {
			t.Errorf("%s: decision %+v, want delete with a reason", r.ID, d)
		}
	}
	want := map[string]resources.EC2FleetPrior{
		"fleet-maintain":  {TotalTargetCapacity: 20, OnDemandTargetCapacity: 4, SpotTargetCapacity: 16, Type: "maintain", State: "active"},
		"fleet-request":   {TotalTargetCapacity: 8, SpotTargetCapacity: 8, Type: "request", State: "submitted"},
		"fleet-modifying": {TotalTargetCapacity: 2, OnDemandTargetCapacity: 2, Type: "maintain", State: "modifying"},
	}
	if len(got) != len(want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	for id, p := range want {
		if got[id] != p {
			t.Errorf("%s: prior %+v, want %+v", id, got[id], p)
		}
	}
	if d := got["fleet-maintain"].Describe(); d != "maintain, target 20, active" {
		t.Errorf("Describe() = %q", d)
	}
	in := f.describeInputs[0]
	filters := map[string][]string{}
	for _, fl := range in.Filters {
		filters[aws.ToString(fl.Name)] = slices.Sorted(slices.Values(fl.Values))
	}
	if aws.ToInt32(in.MaxResults) != 1000 || !slices.Equal(filters["type"], []string{"maintain", "request"}) ||
		!slices.Equal(filters["fleet-state"], []string{"active", "modifying", "submitted"}) {
		t.Errorf("describe input = %+v, want MaxResults 1000 and filters on type and fleet-state", in)
	}
}

func TestEC2FleetsFindWrapsErrors(t *testing.T) {
	t.Parallel()
	var fleets []types.FleetData
	for i := range 1200 {
		fleets = append(fleets, ec2Fleet(fmt.Sprintf("fleet-%04d", i), types.FleetStateCodeActive, types.FleetTypeMaintain, 1, 0))
	}
	f := newFakeEC2Fleets(fleets...)
	f.describeErrAt, f.describeErr = 1, apiErr("UnauthorizedOperation")
	found, err := ec2FleetKind(f).Find(context.Background(), "eu-north-1")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnauthorizedOperation" || !strings.Contains(err.Error(), "eu-north-1") ||
		!strings.Contains(err.Error(), "EC2 Fleets") {
		t.Errorf("error %v: want the API error wrapped, naming region and resource", err)
	}
	if len(found) != 1000 {
		t.Errorf("found %d before the failure, want 1000", len(found))
	}
}

func TestEC2FleetsContain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		n          int
		setup      func(f *fakeEC2Fleets, ids []string)
		wantSizes  []int
		wantStatus map[int]engine.Status
		wantCode   map[int]string
	}{
		{name: "batches of 100, instances terminated", n: 201, wantSizes: []int{100, 100, 1}},
		{name: "per-fleet answers", n: 5, setup: func(f *fakeEC2Fleets, ids []string) {
			f.failID[ids[0]] = types.DeleteFleetErrorCodeFleetIdDoesNotExist
			f.failID[ids[1]] = types.DeleteFleetErrorCodeFleetNotInDeletableState
			f.failID[ids[2]] = types.DeleteFleetErrorCodeUnexpectedError
			f.omit[ids[3]] = true
		}, wantSizes: []int{5},
			wantStatus: map[int]engine.Status{0: engine.StatusGone, 1: engine.StatusGone, 2: engine.StatusFailed, 3: engine.StatusFailed},
			wantCode:   map[int]string{2: "unexpectedError", 3: "NotConfirmed"}},
		{name: "a call error fails the batch", n: 2, setup: func(f *fakeEC2Fleets, _ []string) {
			f.callErr = apiErr("UnauthorizedOperation")
		}, wantSizes: []int{2},
			wantStatus: map[int]engine.Status{0: engine.StatusFailed, 1: engine.StatusFailed},
			wantCode:   map[int]string{0: "UnauthorizedOperation", 1: "UnauthorizedOperation"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ids []string
			var fleets []types.FleetData
			for i := range tc.n {
				ids = append(ids, fmt.Sprintf("fleet-%04d", i))
				fleets = append(fleets, ec2Fleet(ids[i], types.FleetStateCodeActive, types.FleetTypeMaintain, 3, 3))
			}
			f := newFakeEC2Fleets(fleets...)
			if tc.setup != nil {
				tc.setup(f, ids)
			}
			k := ec2FleetKind(f)

			m := byID(t, k.Contain(context.Background(), "ap-south-1", findAndDecide(t, k)))

			var sizes []int
			for _, c := range f.deleteCalls {
				sizes = append(sizes, len(c.FleetIds))
				if !aws.ToBool(c.TerminateInstances) {
					t.Errorf("delete call without TerminateInstances")
				}
			}
			if !slices.Equal(sizes, tc.wantSizes) {
				t.Errorf("delete call sizes = %v, want %v", sizes, tc.wantSizes)
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
				if o.Status != wantStatus || o.Code != tc.wantCode[i] || o.Verb != resources.VerbDeleteEC2Fleet {
					t.Fatalf("%s: %+v, want status %q code %q", id, o, wantStatus, tc.wantCode[i])
				}
				if _, ok := o.Prior.(resources.EC2FleetPrior); !ok {
					t.Fatalf("%s: prior %T, want EC2FleetPrior", id, o.Prior)
				}
				if o.Status == engine.StatusFailed && !strings.Contains(o.Message, "ap-south-1") {
					t.Errorf("%s: message %q does not name the region", id, o.Message)
				}
			}
		})
	}
}

func TestEC2FleetsSecondRunIsQuiet(t *testing.T) {
	t.Parallel()
	f := newFakeEC2Fleets(ec2Fleet("fleet-1", types.FleetStateCodeActive, types.FleetTypeMaintain, 2, 2))
	k := ec2FleetKind(f)
	k.Contain(context.Background(), "us-east-1", findAndDecide(t, k))
	if found, err := k.Find(context.Background(), "us-east-1"); err != nil || len(found) != 0 {
		t.Fatalf("second Find = %+v, %v; want nothing", found, err)
	}
	if len(f.deleteCalls) != 1 {
		t.Errorf("%d delete calls over two runs, want 1", len(f.deleteCalls))
	}
}
