package resources

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// BatchComputeEnvironmentsRestoreAPI is what the restore of compute
// environments calls, with the operator's credentials (see kinds_restore.go).
type BatchComputeEnvironmentsRestoreAPI interface {
	DescribeComputeEnvironments(ctx context.Context, in *batch.DescribeComputeEnvironmentsInput, optFns ...func(*batch.Options)) (*batch.DescribeComputeEnvironmentsOutput, error)
	UpdateComputeEnvironment(ctx context.Context, in *batch.UpdateComputeEnvironmentInput, optFns ...func(*batch.Options)) (*batch.UpdateComputeEnvironmentOutput, error)
}

var _ engine.Restorer = (*BatchComputeEnvironments)(nil)

// Restore re-enables each environment the trip disabled and gives it its
// vCPU limits back. Batch manages the desired vCPUs itself, so only the
// minimum and maximum are set.
func (k *BatchComputeEnvironments) Restore(ctx context.Context, region string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.client(region).(BatchComputeEnvironmentsRestoreAPI)
	if !ok {
		return failAll(items, "", "this Batch client cannot update compute environments")
	}
	return restoreEach(ctx, items, func(ctx context.Context, it engine.RestoreItem) engine.RestoreResult {
		prior, err := decodePrior[ComputeEnvironmentPrior](it)
		if err != nil {
			return engine.LeftAlone(it.ID, fmt.Sprintf("Batch compute environment %s in %s: %v", it.ID, region, err))
		}
		desc, err := api.DescribeComputeEnvironments(ctx, &batch.DescribeComputeEnvironmentsInput{ComputeEnvironments: []string{it.ID}})
		if err != nil {
			return engine.RestoreFailure(it.ID, "", fmt.Sprintf("describing Batch compute environment %s in %s: %v", it.ID, region, err))
		}
		if len(desc.ComputeEnvironments) == 0 || desc.ComputeEnvironments[0].Status == types.CEStatusDeleting || desc.ComputeEnvironments[0].Status == types.CEStatusDeleted {
			return engine.LeftAlone(it.ID, "not restorable: the compute environment no longer exists")
		}
		ce := desc.ComputeEnvironments[0]
		now := ComputeEnvironmentPrior{State: string(ce.State), Type: string(ce.Type)}
		if cr := ce.ComputeResources; cr != nil {
			now.MinvCpus, now.MaxvCpus = cr.MinvCpus, cr.MaxvCpus
		}
		wantState := types.CEState(prior.State)
		if wantState == "" {
			wantState = types.CEStateEnabled
		}
		in := &batch.UpdateComputeEnvironmentInput{ComputeEnvironment: aws.String(it.ID), State: wantState}
		act := "set state " + string(wantState)
		if prior.MaxvCpus != nil {
			in.ComputeResources = &types.ComputeResourceUpdate{MaxvCpus: prior.MaxvCpus}
			act += fmt.Sprintf(", max %d vCPUs", *prior.MaxvCpus)
			if !isFargate(prior.ResourceType) && prior.MinvCpus != nil {
				in.ComputeResources.MinvCpus = prior.MinvCpus
				act += fmt.Sprintf(", min %d", *prior.MinvCpus)
			}
		}
		limitsBack := prior.MaxvCpus == nil || (eqInt32(now.MaxvCpus, prior.MaxvCpus) && (isFargate(prior.ResourceType) || eqInt32(now.MinvCpus, prior.MinvCpus)))
		contained := now.State == string(types.CEStateDisabled) || (now.MaxvCpus != nil && *now.MaxvCpus == 0) || (now.MinvCpus != nil && *now.MinvCpus == 0)
		switch {
		case now.State == string(wantState) && limitsBack:
			return engine.AlreadyRestored(it.ID, prior.Describe()+" as before")
		case !contained:
			return engine.LeftAlone(it.ID, fmt.Sprintf("changed since: now %s (before the trip: %s)", now.Describe(), prior.Describe()))
		case dryRun:
			return engine.Restored(it.ID, act, true)
		}
		if _, err := api.UpdateComputeEnvironment(ctx, in); err != nil {
			return engine.RestoreFailure(it.ID, act, fmt.Sprintf("restoring Batch compute environment %s in %s: %v", it.ID, region, err))
		}
		return engine.Restored(it.ID, act, false)
	})
}

func eqInt32(a, b *int32) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
