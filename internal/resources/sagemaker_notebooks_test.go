package resources_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

func sageMakerNotebooksKind(f *fakeSageMaker) *resources.SageMakerNotebooks {
	return resources.NewSageMakerNotebooks(func(string) resources.SageMakerNotebooksAPI { return f })
}

func TestSageMakerNotebooks(t *testing.T) {
	t.Parallel()
	f := newFakeSageMaker()
	for name, status := range map[string]types.NotebookInstanceStatus{
		"miner-1": types.NotebookInstanceStatusInService, "miner-2": types.NotebookInstanceStatusInService,
		"starting": types.NotebookInstanceStatusPending, "off": types.NotebookInstanceStatusStopped,
		"denied": types.NotebookInstanceStatusInService,
	} {
		f.notebooks = append(f.notebooks, &types.NotebookInstanceSummary{NotebookInstanceName: aws.String(name),
			NotebookInstanceStatus: status, InstanceType: types.InstanceTypeMlP32xlarge})
	}
	f.stopErr["denied"] = apiErr("AccessDeniedException")

	kr := sweepKind(t, sageMakerNotebooksKind(f), engine.Policy{})
	got := outcomesByID(kr)
	o := wantOutcome(t, got, "miner-1", engine.StatusDone, resources.VerbStopNotebook, "")
	if o.Prior != (resources.NotebookPrior{Status: "InService", InstanceType: "ml.p3.2xlarge"}) {
		t.Errorf("prior = %#v", o.Prior)
	}
	wantOutcome(t, got, "miner-2", engine.StatusDone, resources.VerbStopNotebook, "")
	wantOutcome(t, got, "denied", engine.StatusFailed, resources.VerbStopNotebook, "AccessDeniedException")
	if _, ok := got["off"]; ok {
		t.Error("a stopped notebook was acted on")
	}
	if len(kr.Refused) != 1 || kr.Refused[0].ID != "starting" {
		t.Errorf("refused = %+v, want the Pending notebook left for the next sweep", kr.Refused)
	}

	delete(f.stopErr, "denied")
	sweepKind(t, sageMakerNotebooksKind(f), engine.Policy{})
	before := len(f.calls)
	if kr := sweepKind(t, sageMakerNotebooksKind(f), engine.Policy{}); kr.Found != 1 || len(f.calls) != before {
		t.Errorf("settled sweep found %d (want only the Pending one) and made %d more calls", kr.Found, len(f.calls)-before)
	}
}
