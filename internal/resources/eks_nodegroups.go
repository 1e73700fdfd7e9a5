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

// EKSNodegroupsAPI is the slice of the EKS client that node group
// containment uses; unit tests put a fake behind it.
type EKSNodegroupsAPI interface {
	eks.ListClustersAPIClient
	eks.ListNodegroupsAPIClient
	DescribeNodegroup(ctx context.Context, in *eks.DescribeNodegroupInput, optFns ...func(*eks.Options)) (*eks.DescribeNodegroupOutput, error)
	UpdateNodegroupConfig(ctx context.Context, in *eks.UpdateNodegroupConfigInput, optFns ...func(*eks.Options)) (*eks.UpdateNodegroupConfigOutput, error)
}

const attrNodegroup = "nodegroup"

// VerbScaleNodegroup sets a managed node group's minimum and desired size to 0.
var VerbScaleNodegroup = engine.Verb{Past: "scaled to 0", Plan: "scale to 0",
	Note: "their nodes are terminated; the clusters and node group settings are kept"}

// NodegroupPrior is a node group's scaling config before it was scaled to 0.
type NodegroupPrior struct {
	MinSize     int32 `json:"minSize"`
	MaxSize     int32 `json:"maxSize"`
	DesiredSize int32 `json:"desiredSize"`
}

func (p NodegroupPrior) Describe() string {
	return fmt.Sprintf("min %d, max %d, desired %d", p.MinSize, p.MaxSize, p.DesiredSize)
}

// EKSNodegroups scales EKS managed node groups to 0 nodes. Their Auto
// Scaling groups belong to EKS, which would set their sizes back, so the
// node group itself is changed. ID is "cluster/nodegroup".
type EKSNodegroups struct {
	client func(region string) EKSNodegroupsAPI
}

var _ engine.Kind = (*EKSNodegroups)(nil)

func NewEKSNodegroups(client func(region string) EKSNodegroupsAPI) *EKSNodegroups {
	return &EKSNodegroups{client: client}
}

// eksClients builds one EKS client per region.
func eksClients(cfg aws.Config) func(region string) EKSNodegroupsAPI {
	rc := newRegionalClients(func(region string) *eks.Client {
		return eks.NewFromConfig(cfg, func(o *eks.Options) { o.Region = region })
	})
	return func(region string) EKSNodegroupsAPI { return rc.get(region) }
}

func (*EKSNodegroups) Name() string { return "EKS managed node groups" }
func (*EKSNodegroups) Noun() string { return "node group" }

// Find lists every node group not already at minimum 0 and desired 0.
func (k *EKSNodegroups) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	api := k.client(region)
	var clusters []string
	pages := eks.NewListClustersPaginator(api, &eks.ListClustersInput{MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing EKS clusters in %s: %w", region, err)
		}
		clusters = append(clusters, page.Clusters...)
	}
	var found []engine.Resource
	var errs []error
	for _, cluster := range clusters {
		groups, err := k.nodegroups(ctx, api, cluster)
		found = append(found, groups...)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing node groups of EKS cluster %s in %s: %w", cluster, region, err))
		}
	}
	return found, errors.Join(errs...)
}

func (k *EKSNodegroups) nodegroups(ctx context.Context, api EKSNodegroupsAPI, cluster string) ([]engine.Resource, error) {
	var found []engine.Resource
	pages := eks.NewListNodegroupsPaginator(api, &eks.ListNodegroupsInput{ClusterName: aws.String(cluster), MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, err
		}
		for _, name := range page.Nodegroups {
			desc, err := api.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)})
			var notFound *types.ResourceNotFoundException
			if errors.As(err, &notFound) {
				continue // deleted since it was listed
			}
			if err != nil {
				return found, fmt.Errorf("describing node group %s: %w", name, err)
			}
			ng := desc.Nodegroup
			if ng == nil || ng.ScalingConfig == nil || ng.Status == types.NodegroupStatusDeleting {
				continue
			}
			prior := NodegroupPrior{
				MinSize:     aws.ToInt32(ng.ScalingConfig.MinSize),
				MaxSize:     aws.ToInt32(ng.ScalingConfig.MaxSize),
				DesiredSize: aws.ToInt32(ng.ScalingConfig.DesiredSize),
			}
			if prior.MinSize == 0 && prior.DesiredSize == 0 {
				continue
			}
			found = append(found, engine.Resource{
				ID:         cluster + "/" + name,
				State:      string(ng.Status),
				Attributes: map[string]string{attrCluster: cluster, attrNodegroup: name},
				Prior:      prior,
			})
		}
	}
	return found, nil
}

func (*EKSNodegroups) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, VerbScaleNodegroup, "node groups replace nodes stopped under them")
}

// Contain sets each node group's minimum and desired size to 0. EKS
// requires a maximum of at least 1, so the maximum is kept (or raised to 1).
func (k *EKSNodegroups) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		maxSize := int32(1)
		if p, ok := d.Resource.Prior.(NodegroupPrior); ok && p.MaxSize > 1 {
			maxSize = p.MaxSize
		}
		_, err := api.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
			ClusterName:   aws.String(d.Resource.Attributes[attrCluster]),
			NodegroupName: aws.String(d.Resource.Attributes[attrNodegroup]),
			ScalingConfig: &types.NodegroupScalingConfig{MinSize: aws.Int32(0), DesiredSize: aws.Int32(0), MaxSize: aws.Int32(maxSize)},
		})
		var notFound *types.ResourceNotFoundException
		var inUse *types.ResourceInUseException
		what := fmt.Sprintf("scaling EKS node group %s to 0 in %s", d.Resource.ID, region)
		switch {
		case err == nil:
			return outcomeDone(d)
		case errors.As(err, &notFound):
			return outcomeGone(d, "no longer exists")
		case errors.As(err, &inUse):
			return outcomeFailed(d, err, what+" (another update is in progress; the next sweep retries)")
		}
		return outcomeFailed(d, err, what)
	})
}
