package resources

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// ECSServicesAPI is the slice of the ECS client that service containment
// uses; unit tests put a fake behind it.
type ECSServicesAPI interface {
	ecs.ListClustersAPIClient
	ecs.ListServicesAPIClient
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, optFns ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
}

// DescribeServices takes at most 10 services a call.
const maxECSServicesPerDescribe = 10

// Attribute keys the ECS kinds put on a Resource.
const (
	attrCluster = "cluster" // cluster ARN, which every ECS call accepts
	attrService = "service" // service name
)

// VerbScaleService sets an ECS service's desired count to 0.
var VerbScaleService = engine.Verb{Past: "scaled to 0", Plan: "scale to 0",
	Note: "their tasks stop; the services and their settings are kept"}

// ServicePrior is an ECS service's desired count before it was set to 0:
// a restore sets it back.
type ServicePrior struct {
	DesiredCount int32 `json:"desiredCount"`
	RunningCount int32 `json:"runningCount"`
}

func (p ServicePrior) Describe() string {
	return fmt.Sprintf("desired %d (running %d)", p.DesiredCount, p.RunningCount)
}

// ECSServices scales every ECS service to 0 tasks: Fargate services are a
// common way to mine on a stolen account, and a service replaces any task
// stopped under it. ID is "cluster/service" by name, so an owner can exempt
// "mycluster/myservice".
type ECSServices struct {
	client func(region string) ECSServicesAPI
}

var _ engine.Kind = (*ECSServices)(nil)

func NewECSServices(client func(region string) ECSServicesAPI) *ECSServices {
	return &ECSServices{client: client}
}

// ecsRegionalClients builds the ECS client per region that both ECS kinds share.
func ecsRegionalClients(cfg aws.Config) *regionalClients[*ecs.Client] {
	return newRegionalClients(func(region string) *ecs.Client {
		return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.Region = region })
	})
}

func (*ECSServices) Name() string { return "ECS services" }
func (*ECSServices) Noun() string { return "service" }

// Find lists the active services of every cluster whose desired count is
// not yet 0. A cluster that cannot be listed does not stop the others.
func (k *ECSServices) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	api := k.client(region)
	clusters, err := listECSClusters(ctx, api)
	if err != nil {
		return nil, fmt.Errorf("listing ECS clusters in %s: %w", region, err)
	}
	var found []engine.Resource
	var errs []error
	for _, cluster := range clusters {
		svcs, err := describeECSServices(ctx, api, cluster)
		for _, s := range svcs {
			if aws.ToString(s.Status) != "ACTIVE" || s.DesiredCount == 0 {
				continue
			}
			found = append(found, serviceResource(cluster, s))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("listing services of ECS cluster %s in %s: %w", arnName(cluster), region, err))
		}
	}
	return found, errors.Join(errs...)
}

func serviceResource(clusterARN string, s types.Service) engine.Resource {
	name := aws.ToString(s.ServiceName)
	return engine.Resource{
		ID:         arnName(clusterARN) + "/" + name,
		State:      aws.ToString(s.Status),
		Attributes: map[string]string{attrCluster: clusterARN, attrService: name},
		Prior:      ServicePrior{DesiredCount: s.DesiredCount, RunningCount: s.RunningCount},
	}
}

// listECSClusters lists every cluster ARN in the region.
func listECSClusters(ctx context.Context, api ecs.ListClustersAPIClient) ([]string, error) {
	var arns []string
	pages := ecs.NewListClustersPaginator(api, &ecs.ListClustersInput{MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return arns, err
		}
		arns = append(arns, page.ClusterArns...)
	}
	return arns, nil
}

// describeECSServices describes every service of one cluster, ten a call.
func describeECSServices(ctx context.Context, api ECSServicesAPI, cluster string) ([]types.Service, error) {
	var out []types.Service
	pages := ecs.NewListServicesPaginator(api, &ecs.ListServicesInput{Cluster: aws.String(cluster), MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for start := 0; start < len(page.ServiceArns); start += maxECSServicesPerDescribe {
			end := min(start+maxECSServicesPerDescribe, len(page.ServiceArns))
			desc, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{
				Cluster: aws.String(cluster), Services: page.ServiceArns[start:end]})
			if err != nil {
				return out, err
			}
			out = append(out, desc.Services...)
		}
	}
	return out, nil
}

// arnName is the last path element of an ARN: a cluster's or a task's name.
func arnName(arn string) string {
	return arn[strings.LastIndex(arn, "/")+1:]
}

func (*ECSServices) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, VerbScaleService, "a service relaunches any task stopped under it")
}

// Contain sets each service's desired count to 0.
func (k *ECSServices) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		_, err := api.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster:      aws.String(d.Resource.Attributes[attrCluster]),
			Service:      aws.String(d.Resource.Attributes[attrService]),
			DesiredCount: aws.Int32(0),
		})
		var notFound *types.ServiceNotFoundException
		var notActive *types.ServiceNotActiveException
		var noCluster *types.ClusterNotFoundException
		switch {
		case err == nil:
			return outcomeDone(d)
		case errors.As(err, &notFound), errors.As(err, &noCluster):
			return outcomeGone(d, "no longer exists")
		case errors.As(err, &notActive):
			return outcomeGone(d, "already being deleted")
		}
		return outcomeFailed(d, err, fmt.Sprintf("setting ECS service %s to 0 tasks in %s", d.Resource.ID, region))
	})
}
