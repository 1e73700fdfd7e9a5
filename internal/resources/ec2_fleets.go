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

// EC2FleetsAPI is the slice of the EC2 client that EC2 Fleet containment
// uses; unit tests put a fake behind it.
type EC2FleetsAPI interface {
	ec2.DescribeFleetsAPIClient
	DeleteFleets(ctx context.Context, in *ec2.DeleteFleetsInput, optFns ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error)
}

// VerbDeleteEC2Fleet is what the kill switch does to an EC2 Fleet.
var VerbDeleteEC2Fleet = engine.Verb{
	Past: "deleted (instances terminated)",
	Plan: "delete and terminate its instances",
	Note: "a fleet's instances are terminated with it; a fleet left running them would replace any that are stopped",
}

// DeleteFleets takes at most 100 fleets of type maintain or request per
// call, and deletes none when asked for more.
const maxEC2FleetsPerCall = 100

// EC2 Fleets that can still launch: maintain and request fleets in these
// states. Instant fleets are left out: they are one synchronous launch
// that never replaces anything (EC2 does not even list them unless named),
// their instances are contained as plain EC2 instances, and deleting one
// would terminate those even in stop mode.
var (
	relaunchingFleetTypes = []types.FleetType{types.FleetTypeMaintain, types.FleetTypeRequest}
	liveFleetStates       = []types.FleetStateCode{
		types.FleetStateCodeSubmitted, types.FleetStateCodeActive, types.FleetStateCodeModifying,
	}
)

// EC2FleetPrior is an EC2 Fleet as found.
type EC2FleetPrior struct {
	TotalTargetCapacity    int32  `json:"totalTargetCapacity"`
	OnDemandTargetCapacity int32  `json:"onDemandTargetCapacity,omitempty"`
	SpotTargetCapacity     int32  `json:"spotTargetCapacity,omitempty"`
	Type                   string `json:"type"` // maintain or request
	State                  string `json:"state"`
}

func (p EC2FleetPrior) Describe() string {
	return fmt.Sprintf("%s, target %d, %s", p.Type, p.TotalTargetCapacity, p.State)
}

// EC2Fleets deletes EC2 Fleets of type maintain and request and terminates
// their instances.
type EC2Fleets struct {
	client func(region string) EC2FleetsAPI
}

var _ engine.Kind = (*EC2Fleets)(nil)

func NewEC2Fleets(client func(region string) EC2FleetsAPI) *EC2Fleets {
	return &EC2Fleets{client: client}
}

func (*EC2Fleets) Name() string { return "EC2 Fleets" }
func (*EC2Fleets) Noun() string { return "fleet" }

// Find lists the maintain and request fleets that can still launch. The
// filters spare EC2 the rest; the same check is made here because an
// emulator may ignore them (moto does).
func (k *EC2Fleets) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	in := &ec2.DescribeFleetsInput{
		Filters: []types.Filter{
			{Name: aws.String("type"), Values: enumStrings(relaunchingFleetTypes)},
			{Name: aws.String("fleet-state"), Values: enumStrings(liveFleetStates)},
		},
		MaxResults: aws.Int32(1000),
	}
	var found []engine.Resource
	pages := ec2.NewDescribeFleetsPaginator(k.client(region), in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("describing EC2 Fleets in %s: %w", region, err)
		}
		for _, f := range page.Fleets {
			if !slices.Contains(relaunchingFleetTypes, f.Type) || !slices.Contains(liveFleetStates, f.FleetState) {
				continue
			}
			prior := EC2FleetPrior{Type: string(f.Type), State: string(f.FleetState)}
			if t := f.TargetCapacitySpecification; t != nil {
				prior.TotalTargetCapacity = aws.ToInt32(t.TotalTargetCapacity)
				prior.OnDemandTargetCapacity = aws.ToInt32(t.OnDemandTargetCapacity)
				prior.SpotTargetCapacity = aws.ToInt32(t.SpotTargetCapacity)
			}
			found = append(found, engine.Resource{ID: aws.ToString(f.FleetId), State: prior.State, Prior: prior})
		}
	}
	return found, nil
}

func enumStrings[E ~string](in []E) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

func (*EC2Fleets) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, VerbDeleteEC2Fleet, "an EC2 Fleet launches instances up to its target capacity")
}

// Contain deletes up to 100 fleets per call. EC2 answers per fleet, so one
// bad ID does not fail the others.
func (k *EC2Fleets) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	var out []engine.Outcome
	for start := 0; start < len(todo); start += maxEC2FleetsPerCall {
		batch := todo[start:min(start+maxEC2FleetsPerCall, len(todo))]
		out = append(out, deleteEC2Fleets(ctx, api, region, batch)...)
	}
	return out
}

func deleteEC2Fleets(ctx context.Context, api EC2FleetsAPI, region string, batch []engine.Decision) []engine.Outcome {
	ids := make([]string, len(batch))
	for i, d := range batch {
		ids[i] = d.Resource.ID
	}
	resp, err := api.DeleteFleets(ctx, &ec2.DeleteFleetsInput{FleetIds: ids, TerminateInstances: aws.Bool(true)})
	done, failed := map[string]bool{}, map[string]*idError{}
	if err == nil {
		for _, s := range resp.SuccessfulFleetDeletions {
			done[aws.ToString(s.FleetId)] = true
		}
		for _, u := range resp.UnsuccessfulFleetDeletions {
			failed[aws.ToString(u.FleetId)] = nil
			if u.Error != nil {
				failed[aws.ToString(u.FleetId)] = &idError{code: string(u.Error.Code), message: aws.ToString(u.Error.Message)}
			}
		}
	}
	return perIDOutcomes(batch, region, "deleting EC2 Fleet", err, done, failed, map[string]string{
		string(types.DeleteFleetErrorCodeFleetIdDoesNotExist): "no longer exists",
		// Already deleted or failed: it launches nothing more.
		string(types.DeleteFleetErrorCodeFleetNotInDeletableState): "already deleted",
	})
}
