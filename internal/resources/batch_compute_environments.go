package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// BatchComputeEnvironmentsAPI is the slice of the Batch client that compute
// environment containment uses; unit tests put a fake behind it.
type BatchComputeEnvironmentsAPI interface {
	batch.DescribeComputeEnvironmentsAPIClient
	UpdateComputeEnvironment(ctx context.Context, in *batch.UpdateComputeEnvironmentInput, optFns ...func(*batch.Options)) (*batch.UpdateComputeEnvironmentOutput, error)
}

// Attribute keys BatchComputeEnvironments puts on a Resource.
const (
	attrCEManaged = "managed"       // "true" for a managed environment
	attrCEType    = "resource-type" // EC2, SPOT, FARGATE or FARGATE_SPOT
)

// Verbs of Batch compute environments. An unmanaged environment has no
// vCPU limits to lower: its instances are the owner's (or attacker's) own
// EC2 instances, which the EC2 kind contains.
var (
	VerbDisableScaleCE = engine.Verb{Past: "disabled and scaled to 0", Plan: "disable and scale to 0",
		Note: "Batch places no new jobs there and lets their instances go; the environments are kept"}
	VerbDisableCE = engine.Verb{Past: "disabled", Plan: "disable",
		Note: "Batch places no new jobs there; the environments are kept"}
)

// ComputeEnvironmentPrior is a compute environment as found: a restore
// enables it and sets its vCPU limits back. Limits are nil where the
// environment has none (unmanaged; minimum and desired on Fargate).
type ComputeEnvironmentPrior struct {
	State        string `json:"state"`
	Type         string `json:"type"`
	ResourceType string `json:"resourceType,omitempty"`
	MinvCpus     *int32 `json:"minvCpus,omitempty"`
	MaxvCpus     *int32 `json:"maxvCpus,omitempty"`
	DesiredvCpus *int32 `json:"desiredvCpus,omitempty"`
}

func (p ComputeEnvironmentPrior) Describe() string {
	if p.MaxvCpus == nil {
		return p.State + ", " + p.Type
	}
	s := fmt.Sprintf("%s, max %d vCPUs", p.State, *p.MaxvCpus)
	if p.MinvCpus != nil {
		s += fmt.Sprintf(", min %d", *p.MinvCpus)
	}
	if p.DesiredvCpus != nil {
		s += fmt.Sprintf(", desired %d", *p.DesiredvCpus)
	}
	return s
}

// BatchComputeEnvironments disables AWS Batch compute environments and
// lowers their vCPU limits, so Batch launches nothing more and scales its
// instances in. ID is the environment's name.
type BatchComputeEnvironments struct {
	client func(region string) BatchComputeEnvironmentsAPI
}

var _ engine.Kind = (*BatchComputeEnvironments)(nil)

func NewBatchComputeEnvironments(client func(region string) BatchComputeEnvironmentsAPI) *BatchComputeEnvironments {
	return &BatchComputeEnvironments{client: client}
}

// batchRegionalClients builds the Batch client per region that both Batch
// kinds share.
func batchRegionalClients(cfg aws.Config) *regionalClients[*batch.Client] {
	return newRegionalClients(func(region string) *batch.Client {
		return batch.NewFromConfig(cfg, func(o *batch.Options) { o.Region = region })
	})
}

func (*BatchComputeEnvironments) Name() string { return "Batch compute environments" }
func (*BatchComputeEnvironments) Noun() string { return "compute environment" }

// Find lists environments still enabled, and disabled managed ones whose
// minimum still holds instances up (a disabled environment keeps its
// minimum).
func (k *BatchComputeEnvironments) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	var found []engine.Resource
	pages := batch.NewDescribeComputeEnvironmentsPaginator(k.client(region), &batch.DescribeComputeEnvironmentsInput{MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("describing Batch compute environments in %s: %w", region, err)
		}
		for _, ce := range page.ComputeEnvironments {
			if r, ok := computeEnvironmentResource(ce); ok {
				found = append(found, r)
			}
		}
	}
	return found, nil
}

func computeEnvironmentResource(ce types.ComputeEnvironmentDetail) (engine.Resource, bool) {
	if ce.Status == types.CEStatusDeleting || ce.Status == types.CEStatusDeleted {
		return engine.Resource{}, false
	}
	prior := ComputeEnvironmentPrior{State: string(ce.State), Type: string(ce.Type)}
	managed := ce.Type == types.CETypeManaged && ce.ComputeResources != nil
	if managed {
		cr := ce.ComputeResources
		prior.ResourceType = string(cr.Type)
		prior.MinvCpus, prior.MaxvCpus, prior.DesiredvCpus = copyInt32(cr.MinvCpus), copyInt32(cr.MaxvCpus), copyInt32(cr.DesiredvCpus)
	}
	holdsMinimum := prior.MinvCpus != nil && *prior.MinvCpus > 0
	if ce.State == types.CEStateDisabled && !holdsMinimum {
		return engine.Resource{}, false
	}
	return engine.Resource{
		ID:         aws.ToString(ce.ComputeEnvironmentName),
		State:      string(ce.State),
		Attributes: map[string]string{attrCEManaged: fmt.Sprint(managed), attrCEType: prior.ResourceType},
		Prior:      prior,
	}, true
}

func (*BatchComputeEnvironments) Decide(r engine.Resource) engine.Decision {
	if r.Attributes[attrCEManaged] != "true" {
		return engine.Act(r, VerbDisableCE, "unmanaged: Batch stops placing jobs there; its instances are EC2 instances, contained as such")
	}
	return engine.Act(r, VerbDisableScaleCE, "Batch launches instances for a managed compute environment")
}

// copyInt32 copies a limit so that the prior state shares no memory with
// the SDK's output.
func copyInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// isFargate says whether a compute resource type has no minimum or desired
// vCPUs to set.
func isFargate(resourceType string) bool {
	return resourceType == string(types.CRTypeFargate) || resourceType == string(types.CRTypeFargateSpot)
}

// Contain disables each environment and, for managed ones, sets its
// minimum and maximum vCPUs to 0. Batch refuses to lower desired vCPUs
// directly; it follows the minimum down as instances go idle.
func (k *BatchComputeEnvironments) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		what := fmt.Sprintf("disabling Batch compute environment %s in %s", d.Resource.ID, region)
		in := &batch.UpdateComputeEnvironmentInput{ComputeEnvironment: aws.String(d.Resource.ID), State: types.CEStateDisabled}
		if d.Verb != VerbDisableScaleCE {
			if _, err := api.UpdateComputeEnvironment(ctx, in); err != nil {
				return outcomeFailed(d, err, what)
			}
			return outcomeDone(d)
		}
		fargate := isFargate(d.Resource.Attributes[attrCEType])
		in.ComputeResources = &types.ComputeResourceUpdate{MaxvCpus: aws.Int32(0)}
		if !fargate {
			in.ComputeResources.MinvCpus = aws.Int32(0)
		}
		_, err := api.UpdateComputeEnvironment(ctx, in)
		if err == nil {
			return outcomeDone(d)
		}
		var client *types.ClientException
		if !errors.As(err, &client) {
			return outcomeFailed(d, err, what)
		}
		// Batch may refuse a maximum of 0 for some environments; disabling
		// it and dropping its minimum still stops it growing and lets its
		// instances go, so that is done instead and the refusal reported.
		in.ComputeResources = nil
		if !fargate {
			in.ComputeResources = &types.ComputeResourceUpdate{MinvCpus: aws.Int32(0)}
		}
		if _, err2 := api.UpdateComputeEnvironment(ctx, in); err2 != nil {
			return outcomeFailed(d, errors.Join(err, err2), what)
		}
		o := outcomeDone(d)
		o.Verb = VerbDisableCE
		o.Note = "Batch refused a maximum of 0 vCPUs (" + err.Error() + "), so it was disabled with its minimum at 0 instead"
		return o
	})
}
