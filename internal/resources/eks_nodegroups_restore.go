package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// EKSNodegroupsRestoreAPI is what the restore of node groups calls, with
// the operator's credentials (see kinds_restore.go).
type EKSNodegroupsRestoreAPI interface {
	DescribeNodegroup(ctx context.Context, in *eks.DescribeNodegroupInput, optFns ...func(*eks.Options)) (*eks.DescribeNodegroupOutput, error)
	UpdateNodegroupConfig(ctx context.Context, in *eks.UpdateNodegroupConfigInput, optFns ...func(*eks.Options)) (*eks.UpdateNodegroupConfigOutput, error)
}

var _ engine.Restorer = (*EKSNodegroups)(nil)

// Restore sets each node group back to its prior sizes, if it is still at
// the trip's minimum and desired 0.
func (k *EKSNodegroups) Restore(ctx context.Context, region string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.client(region).(EKSNodegroupsRestoreAPI)
	if !ok {
		return failAll(items, "", "this EKS client cannot update node groups")
	}
	return restoreEach(ctx, items, func(ctx context.Context, it engine.RestoreItem) engine.RestoreResult {
		prior, err := decodePrior[NodegroupPrior](it)
		if err != nil {
			return engine.LeftAlone(it.ID, fmt.Sprintf("EKS node group %s in %s: %v", it.ID, region, err))
		}
		cluster, name := it.Attributes[attrCluster], it.Attributes[attrNodegroup]
		if cluster == "" || name == "" {
			return engine.LeftAlone(it.ID, "the manifest does not name the node group's cluster; restore it by hand")
		}
		desc, err := api.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		switch {
		case errors.As(err, &notFound):
			return engine.LeftAlone(it.ID, "not restorable: the node group no longer exists")
		case err != nil:
			return engine.RestoreFailure(it.ID, "", fmt.Sprintf("describing EKS node group %s in %s: %v", it.ID, region, err))
		case desc.Nodegroup == nil || desc.Nodegroup.ScalingConfig == nil || desc.Nodegroup.Status == types.NodegroupStatusDeleting:
			return engine.LeftAlone(it.ID, "not restorable: the node group is being deleted")
		}
		sc := desc.Nodegroup.ScalingConfig
		now := NodegroupPrior{MinSize: aws.ToInt32(sc.MinSize), MaxSize: aws.ToInt32(sc.MaxSize), DesiredSize: aws.ToInt32(sc.DesiredSize)}
		act := "set " + prior.Describe()
		switch {
		case now == prior:
			return engine.AlreadyRestored(it.ID, prior.Describe()+" as before")
		case now.MinSize != 0 || now.DesiredSize != 0:
			return engine.LeftAlone(it.ID, fmt.Sprintf("changed since: now %s (before the trip: %s)", now.Describe(), prior.Describe()))
		case dryRun:
			return engine.Restored(it.ID, act, true)
		}
		if _, err := api.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
			ClusterName: aws.String(cluster), NodegroupName: aws.String(name),
			ScalingConfig: &types.NodegroupScalingConfig{MinSize: aws.Int32(prior.MinSize), MaxSize: aws.Int32(prior.MaxSize), DesiredSize: aws.Int32(prior.DesiredSize)},
		}); err != nil {
			return engine.RestoreFailure(it.ID, act, fmt.Sprintf("setting the sizes of EKS node group %s in %s: %v", it.ID, region, err))
		}
		return engine.Restored(it.ID, act, false)
	})
}
