package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// ECSServicesRestoreAPI is what the restore of services calls, with the
// operator's credentials (see kinds_restore.go).
type ECSServicesRestoreAPI interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, optFns ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
}

var _ engine.Restorer = (*ECSServices)(nil)

// Restore sets each service's desired count back, if it is still 0.
func (k *ECSServices) Restore(ctx context.Context, region string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.client(region).(ECSServicesRestoreAPI)
	if !ok {
		return failAll(items, "", "this ECS client cannot update services")
	}
	return restoreEach(ctx, items, func(ctx context.Context, it engine.RestoreItem) engine.RestoreResult {
		prior, err := decodePrior[ServicePrior](it)
		if err != nil {
			return engine.LeftAlone(it.ID, fmt.Sprintf("ECS service %s in %s: %v", it.ID, region, err))
		}
		cluster, service := it.Attributes[attrCluster], it.Attributes[attrService]
		if cluster == "" || service == "" {
			return engine.LeftAlone(it.ID, "the manifest does not name the service's cluster; restore it by hand")
		}
		desc, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
		var noCluster *types.ClusterNotFoundException
		switch {
		case errors.As(err, &noCluster):
			return engine.LeftAlone(it.ID, "not restorable: the cluster no longer exists")
		case err != nil:
			return engine.RestoreFailure(it.ID, "", fmt.Sprintf("describing ECS service %s in %s: %v", it.ID, region, err))
		}
		if len(desc.Services) == 0 || aws.ToString(desc.Services[0].Status) != "ACTIVE" {
			return engine.LeftAlone(it.ID, "not restorable: the service no longer exists or is being deleted")
		}
		now := desc.Services[0].DesiredCount
		act := fmt.Sprintf("set desired count to %d", prior.DesiredCount)
		switch {
		case now == prior.DesiredCount:
			return engine.AlreadyRestored(it.ID, fmt.Sprintf("desired count already %d", now))
		case now != 0:
			return engine.LeftAlone(it.ID, fmt.Sprintf("changed since: desired is now %d (before the trip: %d)", now, prior.DesiredCount))
		case dryRun:
			return engine.Restored(it.ID, act, true)
		}
		if _, err := api.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(service),
			DesiredCount: aws.Int32(prior.DesiredCount)}); err != nil {
			return engine.RestoreFailure(it.ID, act, fmt.Sprintf("setting the desired count of ECS service %s in %s: %v", it.ID, region, err))
		}
		return engine.Restored(it.ID, act, false)
	})
}
