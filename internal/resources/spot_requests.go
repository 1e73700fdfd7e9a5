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

// SpotInstanceRequestsAPI is the slice of the EC2 client that Spot request
// containment uses; unit tests put a fake behind it.
type SpotInstanceRequestsAPI interface {
	ec2.DescribeSpotInstanceRequestsAPIClient
	CancelSpotInstanceRequests(ctx context.Context, in *ec2.CancelSpotInstanceRequestsInput, optFns ...func(*ec2.Options)) (*ec2.CancelSpotInstanceRequestsOutput, error)
}

// VerbCancelSpotRequest is what the kill switch does to a Spot request.
var VerbCancelSpotRequest = engine.Verb{
	Past: "cancelled",
	Plan: "cancel",
	Note: "cancelling launches no more instances but leaves running ones to the EC2 instances sweep",
}

// maxSpotRequestsPerCall is the batch for CancelSpotInstanceRequests. EC2
// documents no maximum; this matches one DescribeSpotInstanceRequests page.
const maxSpotRequestsPerCall = 1000

// liveSpotRequestStates are the states of a request that can still launch:
// open and active ones, and disabled ones, which relaunch as soon as their
// stopped instance is started again.
var liveSpotRequestStates = []string{
	string(types.SpotInstanceStateOpen),
	string(types.SpotInstanceStateActive),
	string(types.SpotInstanceStateDisabled),
}

// SpotRequestPrior is a Spot Instance request as found.
type SpotRequestPrior struct {
	State      string `json:"state"`
	Type       string `json:"type"` // one-time or persistent
	InstanceID string `json:"instanceId,omitempty"`
}

func (p SpotRequestPrior) Describe() string {
	s := p.Type + ", " + p.State
	if p.InstanceID != "" {
		s += " (" + p.InstanceID + ")"
	}
	return s
}

// SpotInstanceRequests cancels Spot Instance requests, persistent ones
// above all: they relaunch an instance that is terminated.
type SpotInstanceRequests struct {
	client func(region string) SpotInstanceRequestsAPI
}

var _ engine.Kind = (*SpotInstanceRequests)(nil)

func NewSpotInstanceRequests(client func(region string) SpotInstanceRequestsAPI) *SpotInstanceRequests {
	return &SpotInstanceRequests{client: client}
}

func (*SpotInstanceRequests) Name() string { return "Spot Instance requests" }
func (*SpotInstanceRequests) Noun() string { return "request" }

// Find lists the requests that can still launch; cancelled, closed and
// completed ones are done with.
func (k *SpotInstanceRequests) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	in := &ec2.DescribeSpotInstanceRequestsInput{
		Filters:    []types.Filter{{Name: aws.String("state"), Values: liveSpotRequestStates}},
		MaxResults: aws.Int32(1000),
	}
	var found []engine.Resource
	pages := ec2.NewDescribeSpotInstanceRequestsPaginator(k.client(region), in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("describing Spot Instance requests in %s: %w", region, err)
		}
		for _, r := range page.SpotInstanceRequests {
			state := string(r.State)
			if !slices.Contains(liveSpotRequestStates, state) {
				continue
			}
			found = append(found, engine.Resource{
				ID:    aws.ToString(r.SpotInstanceRequestId),
				State: state,
				Prior: SpotRequestPrior{State: state, Type: string(r.Type), InstanceID: aws.ToString(r.InstanceId)},
			})
		}
	}
	return found, nil
}

func (*SpotInstanceRequests) Decide(r engine.Resource) engine.Decision {
	if p, ok := r.Prior.(SpotRequestPrior); ok && p.Type == string(types.SpotInstanceTypePersistent) {
		return engine.Act(r, VerbCancelSpotRequest, "a persistent Spot request relaunches its instance when it is terminated")
	}
	return engine.Act(r, VerbCancelSpotRequest, "an open Spot request can still launch an instance")
}

// Contain cancels in batches. One unknown ID fails a whole EC2 call, so a
// batch that fails that way is split until the culprit stands alone.
func (k *SpotInstanceRequests) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	priors := make(map[string]engine.PriorState, len(todo))
	ids := make([]string, 0, len(todo))
	for _, d := range todo {
		priors[d.Resource.ID] = d.Resource.Prior
		ids = append(ids, d.Resource.ID)
	}
	var out []engine.Outcome
	for start := 0; start < len(ids); start += maxSpotRequestsPerCall {
		out = append(out, cancelSpotRequests(ctx, api, region, ids[start:min(start+maxSpotRequestsPerCall, len(ids))])...)
	}
	for i := range out {
		out[i].Prior = priors[out[i].ID]
	}
	return out
}

func cancelSpotRequests(ctx context.Context, api SpotInstanceRequestsAPI, region string, ids []string) []engine.Outcome {
	resp, err := api.CancelSpotInstanceRequests(ctx, &ec2.CancelSpotInstanceRequestsInput{SpotInstanceRequestIds: ids})
	if err != nil {
		code := errorCode(err)
		perID := code == "InvalidSpotInstanceRequestID.NotFound" || code == "InvalidSpotInstanceRequestID.Malformed"
		switch {
		case perID && len(ids) > 1 && ctx.Err() == nil:
			half := len(ids) / 2
			return append(cancelSpotRequests(ctx, api, region, ids[:half]), cancelSpotRequests(ctx, api, region, ids[half:])...)
		case code == "InvalidSpotInstanceRequestID.NotFound":
			return []engine.Outcome{{ID: ids[0], Verb: VerbCancelSpotRequest, Status: engine.StatusGone, Note: "no longer exists"}}
		}
		out := make([]engine.Outcome, len(ids))
		for i, id := range ids {
			out[i] = engine.Outcome{ID: id, Verb: VerbCancelSpotRequest, Status: engine.StatusFailed, Code: code,
				Message: fmt.Sprintf("cancelling Spot Instance request %s in %s: %v", id, region, err)}
		}
		return out
	}
	states := make(map[string]types.CancelSpotInstanceRequestState, len(resp.CancelledSpotInstanceRequests))
	for _, c := range resp.CancelledSpotInstanceRequests {
		states[aws.ToString(c.SpotInstanceRequestId)] = c.State
	}
	out := make([]engine.Outcome, len(ids))
	for i, id := range ids {
		o := engine.Outcome{ID: id, Verb: VerbCancelSpotRequest}
		switch state, listed := states[id]; {
		case state == types.CancelSpotInstanceRequestStateCancelled:
			o.Status = engine.StatusDone
		case state == types.CancelSpotInstanceRequestStateClosed || state == types.CancelSpotInstanceRequestStateCompleted:
			// It ended on its own before the call: nothing left to launch.
			o.Status, o.Note = engine.StatusGone, "already "+string(state)
		case !listed:
			o.Status, o.Code = engine.StatusFailed, "NotConfirmed"
			o.Message = fmt.Sprintf("EC2 did not confirm cancelling Spot Instance request %s in %s; the next run retries it", id, region)
		default:
			o.Status, o.Code = engine.StatusFailed, "NotCancelled"
			o.Message = fmt.Sprintf("Spot Instance request %s in %s is still %s after cancelling; the next run retries it", id, region, state)
		}
		out[i] = o
	}
	return out
}
