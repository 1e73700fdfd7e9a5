package resources

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// SageMakerNotebooksRestoreAPI is what the restore of notebook instances
// calls, with the operator's credentials (see kinds_restore.go).
type SageMakerNotebooksRestoreAPI interface {
	DescribeNotebookInstance(ctx context.Context, in *sagemaker.DescribeNotebookInstanceInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeNotebookInstanceOutput, error)
	StartNotebookInstance(ctx context.Context, in *sagemaker.StartNotebookInstanceInput, optFns ...func(*sagemaker.Options)) (*sagemaker.StartNotebookInstanceOutput, error)
}

var _ engine.Restorer = (*SageMakerNotebooks)(nil)

// Restore starts the notebook instances the trip stopped that were in
// service before and are still stopped.
func (k *SageMakerNotebooks) Restore(ctx context.Context, region string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.client(region).(SageMakerNotebooksRestoreAPI)
	if !ok {
		return failAll(items, "", "this SageMaker client cannot start notebook instances")
	}
	return restoreEach(ctx, items, func(ctx context.Context, it engine.RestoreItem) engine.RestoreResult {
		prior, err := decodePrior[NotebookPrior](it)
		switch {
		case err != nil:
			return engine.LeftAlone(it.ID, fmt.Sprintf("notebook instance %s in %s: %v", it.ID, region, err))
		case prior.Status != string(types.NotebookInstanceStatusInService) && prior.Status != string(types.NotebookInstanceStatusPending):
			return engine.LeftAlone(it.ID, "was "+prior.Status+" before the trip, not in service")
		}
		desc, err := api.DescribeNotebookInstance(ctx, &sagemaker.DescribeNotebookInstanceInput{NotebookInstanceName: aws.String(it.ID)})
		if errorCode(err) == "ValidationException" {
			return engine.LeftAlone(it.ID, "not restorable: the notebook instance no longer exists")
		}
		if err != nil {
			return engine.RestoreFailure(it.ID, "", fmt.Sprintf("describing notebook instance %s in %s: %v", it.ID, region, err))
		}
		switch now := desc.NotebookInstanceStatus; now {
		case types.NotebookInstanceStatusInService, types.NotebookInstanceStatusPending:
			return engine.AlreadyRestored(it.ID, "already "+string(now))
		case types.NotebookInstanceStatusStopped:
		case types.NotebookInstanceStatusStopping:
			return engine.RestoreFailure(it.ID, "start", fmt.Sprintf("notebook instance %s in %s is still stopping; run the restore again once it has stopped", it.ID, region))
		default:
			return engine.LeftAlone(it.ID, "not restorable: it is "+string(now))
		}
		if dryRun {
			return engine.Restored(it.ID, "start", true)
		}
		if _, err := api.StartNotebookInstance(ctx, &sagemaker.StartNotebookInstanceInput{NotebookInstanceName: aws.String(it.ID)}); err != nil {
			return engine.RestoreFailure(it.ID, "start", fmt.Sprintf("starting notebook instance %s in %s: %v", it.ID, region, err))
		}
		return engine.Restored(it.ID, "start", false)
	})
}
