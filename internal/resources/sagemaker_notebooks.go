package resources

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// SageMakerNotebooksAPI is the slice of the SageMaker client that notebook
// containment uses; unit tests put a fake behind it.
type SageMakerNotebooksAPI interface {
	sagemaker.ListNotebookInstancesAPIClient
	StopNotebookInstance(ctx context.Context, in *sagemaker.StopNotebookInstanceInput, optFns ...func(*sagemaker.Options)) (*sagemaker.StopNotebookInstanceOutput, error)
}

// VerbStopNotebook stops a SageMaker notebook instance.
var VerbStopNotebook = engine.Verb{Past: "stopped", Plan: "stop",
	Note: "their storage volumes are kept; start them again when safe"}

// NotebookPrior is a notebook instance as found: a restore starts the ones
// that were in service.
type NotebookPrior struct {
	Status       string `json:"status"`
	InstanceType string `json:"instanceType,omitempty"`
}

func (p NotebookPrior) Describe() string { return p.Status }

// SageMakerNotebooks stops SageMaker notebook instances, which bill by the
// hour on GPU types as costly as EC2's. ID is the notebook's name.
type SageMakerNotebooks struct {
	client func(region string) SageMakerNotebooksAPI
}

var _ engine.Kind = (*SageMakerNotebooks)(nil)

func NewSageMakerNotebooks(client func(region string) SageMakerNotebooksAPI) *SageMakerNotebooks {
	return &SageMakerNotebooks{client: client}
}

// sageMakerRegionalClients builds the SageMaker client per region that both
// SageMaker kinds share.
func sageMakerRegionalClients(cfg aws.Config) *regionalClients[*sagemaker.Client] {
	return newRegionalClients(func(region string) *sagemaker.Client {
		return sagemaker.NewFromConfig(cfg, func(o *sagemaker.Options) { o.Region = region })
	})
}

func (*SageMakerNotebooks) Name() string { return "SageMaker notebook instances" }
func (*SageMakerNotebooks) Noun() string { return "notebook instance" }

// Find lists notebooks in service, and those still starting so the report
// shows them. One unfiltered listing costs less than one per status.
func (k *SageMakerNotebooks) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	var found []engine.Resource
	pages := sagemaker.NewListNotebookInstancesPaginator(k.client(region), &sagemaker.ListNotebookInstancesInput{MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("listing SageMaker notebook instances in %s: %w", region, err)
		}
		for _, nb := range page.NotebookInstances {
			status := nb.NotebookInstanceStatus
			if status != types.NotebookInstanceStatusInService && status != types.NotebookInstanceStatusPending {
				continue
			}
			found = append(found, engine.Resource{
				ID:    aws.ToString(nb.NotebookInstanceName),
				State: string(status),
				Prior: NotebookPrior{Status: string(status), InstanceType: string(nb.InstanceType)},
			})
		}
	}
	return found, nil
}

// Decide leaves a starting notebook: SageMaker stops only notebooks in
// service, so a call now would only fail.
func (*SageMakerNotebooks) Decide(r engine.Resource) engine.Decision {
	if r.State == string(types.NotebookInstanceStatusPending) {
		return engine.Leave(r, "still starting (Pending): SageMaker can stop it only once InService; the next sweep stops it")
	}
	return engine.Act(r, VerbStopNotebook, "a notebook instance bills while in service")
}

// Contain stops each notebook instance.
func (k *SageMakerNotebooks) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		_, err := api.StopNotebookInstance(ctx, &sagemaker.StopNotebookInstanceInput{NotebookInstanceName: aws.String(d.Resource.ID)})
		if err != nil {
			// SageMaker answers a missing or changed notebook with a bare
			// ValidationException, which proves nothing: report it.
			return outcomeFailed(d, err, fmt.Sprintf("stopping SageMaker notebook instance %s in %s", d.Resource.ID, region))
		}
		return outcomeDone(d)
	})
}
