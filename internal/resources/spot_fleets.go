package resources

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// SpotFleetRequestsAPI is the slice of the EC2 client that Spot Fleet
// containment uses; unit tests put a fake behind it.
type SpotFleetRequestsAPI interface {
	ec2.DescribeSpotFleetRequestsAPIClient
	CancelSpotFleetRequests(ctx context.Context, in *ec2.CancelSpotFleetRequestsInput, optFns ...func(*ec2.Options)) (*ec2.CancelSpotFleetRequestsOutput, error)
}

// VerbCancelSpotFleet is what the kill switch does to a Spot Fleet request.
var VerbCancelSpotFleet = engine.Verb{
	Past: "cancelled (instances terminated)",
	Plan: "cancel and terminate its instances",
	Note: "a fleet's instances are terminated with it; a fleet left running them would replace any that are stopped",
}

// EC2 takes at most 100 Spot Fleet request IDs per CancelSpotFleetRequests.
const maxSpotFleetsPerCall = 100

// liveSpotFleetStates can still launch. A cancelled_running fleet launches
// nothing more; its instances are contained as EC2 instances.
var liveSpotFleetStates = []types.BatchState{
	types.BatchStateSubmitted, types.BatchStateActive, types.BatchStateModifying,
}

// SpotFleetPrior is a Spot Fleet request as found.
type SpotFleetPrior struct {
	TargetCapacity         int32  `json:"targetCapacity"`
	OnDemandTargetCapacity int32  `json:"onDemandTargetCapacity,omitempty"`
	Type                   string `json:"type,omitempty"` // maintain or request
	State                  string `json:"state"`
}

func (p SpotFleetPrior) Describe() string {
	s := fmt.Sprintf("target %d, %s", p.TargetCapacity, p.State)
	if p.Type != "" {
		s = p.Type + ", " + s
	}
	return s
}

// SpotFleetRequests cancels Spot Fleet requests and terminates their
// instances.
type SpotFleetRequests struct {
	client func(region string) SpotFleetRequestsAPI
}

var _ engine.Kind = (*SpotFleetRequests)(nil)

func NewSpotFleetRequests(client func(region string) SpotFleetRequestsAPI) *SpotFleetRequests {
	return &SpotFleetRequests{client: client}
}

func (*SpotFleetRequests) Name() string { return "Spot Fleet requests" }
func (*SpotFleetRequests) Noun() string { return "fleet" }

// Find lists the fleets that can still launch. DescribeSpotFleetRequests
// has no state filter, so the states are checked here.
func (k *SpotFleetRequests) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	var found []engine.Resource
	pages := ec2.NewDescribeSpotFleetRequestsPaginator(k.client(region),
		&ec2.DescribeSpotFleetRequestsInput{MaxResults: aws.Int32(1000)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("describing Spot Fleet requests in %s: %w", region, err)
		}
		for _, f := range page.SpotFleetRequestConfigs {
			if !slices.Contains(liveSpotFleetStates, f.SpotFleetRequestState) {
				continue
			}
			prior := SpotFleetPrior{State: string(f.SpotFleetRequestState)}
			if c := f.SpotFleetRequestConfig; c != nil {
				prior.TargetCapacity = aws.ToInt32(c.TargetCapacity)
				prior.OnDemandTargetCapacity = aws.ToInt32(c.OnDemandTargetCapacity)
				prior.Type = string(c.Type)
			}
			found = append(found, engine.Resource{ID: aws.ToString(f.SpotFleetRequestId), State: prior.State, Prior: prior})
		}
	}
	return found, nil
}

func (*SpotFleetRequests) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, VerbCancelSpotFleet, "a Spot Fleet launches instances up to its target capacity and replaces lost ones")
}

// Contain cancels up to 100 fleets per call. EC2 answers per fleet, so one
// bad ID does not fail the others.
func (k *SpotFleetRequests) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	var out []engine.Outcome
	for start := 0; start < len(todo); start += maxSpotFleetsPerCall {
		batch := todo[start:min(start+maxSpotFleetsPerCall, len(todo))]
		out = append(out, cancelSpotFleets(ctx, api, region, batch)...)
	}
	return out
}

func cancelSpotFleets(ctx context.Context, api SpotFleetRequestsAPI, region string, batch []engine.Decision) []engine.Outcome {
	ids := make([]string, len(batch))
	for i, d := range batch {
		ids[i] = d.Resource.ID
	}
	resp, err := api.CancelSpotFleetRequests(ctx, &ec2.CancelSpotFleetRequestsInput{
		SpotFleetRequestIds: ids, TerminateInstances: aws.Bool(true)})
	done, failed := map[string]bool{}, map[string]*idError{}
	if err == nil {
		for _, s := range resp.SuccessfulFleetRequests {
			done[aws.ToString(s.SpotFleetRequestId)] = true
		}
		for _, u := range resp.UnsuccessfulFleetRequests {
			failed[aws.ToString(u.SpotFleetRequestId)] = nil
			if u.Error != nil {
				failed[aws.ToString(u.SpotFleetRequestId)] = &idError{code: string(u.Error.Code), message: aws.ToString(u.Error.Message)}
			}
		}
	}
	return perIDOutcomes(batch, region, "cancelling Spot Fleet request", err, done, failed, map[string]string{
		string(types.CancelBatchErrorCodeFleetRequestIdDoesNotExist): "no longer exists",
		// Already cancelled, or failed: it launches nothing more.
		string(types.CancelBatchErrorCodeFleetRequestNotInCancellableState): "already cancelled",
	})
}
