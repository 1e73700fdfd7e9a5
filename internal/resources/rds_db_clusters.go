package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// RDSClustersAPI is the slice of the RDS client that DB cluster containment
// uses; unit tests put a fake behind it.
type RDSClustersAPI interface {
	rds.DescribeDBClustersAPIClient
	StopDBCluster(ctx context.Context, in *rds.StopDBClusterInput, optFns ...func(*rds.Options)) (*rds.StopDBClusterOutput, error)
}

const attrEngineMode = "engine-mode"

// RDSClusters stops Aurora (and Multi-AZ) DB clusters, which stops their
// member instances with them. It is in the table only when the owner chose
// KILLSWITCH_STOP_DATABASES. ID is the DB cluster identifier.
type RDSClusters struct {
	client func(region string) RDSClustersAPI
}

var _ engine.Kind = (*RDSClusters)(nil)

func NewRDSClusters(client func(region string) RDSClustersAPI) *RDSClusters {
	return &RDSClusters{client: client}
}

func (*RDSClusters) Name() string { return "RDS DB clusters" }
func (*RDSClusters) Noun() string { return "DB cluster" }

// Find lists available DB clusters.
func (k *RDSClusters) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	var found []engine.Resource
	pages := rds.NewDescribeDBClustersPaginator(k.client(region), &rds.DescribeDBClustersInput{MaxRecords: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("describing RDS DB clusters in %s: %w", region, err)
		}
		for _, c := range page.DBClusters {
			status := aws.ToString(c.Status)
			if status != "available" {
				continue
			}
			found = append(found, engine.Resource{
				ID:         aws.ToString(c.DBClusterIdentifier),
				State:      status,
				Attributes: map[string]string{attrEngineMode: aws.ToString(c.EngineMode)},
				Prior:      DatabasePrior{Status: status, Engine: aws.ToString(c.Engine)},
			})
		}
	}
	return found, nil
}

// Decide leaves Aurora Serverless v1 clusters, which RDS cannot stop (they
// pause by themselves when idle).
func (*RDSClusters) Decide(r engine.Resource) engine.Decision {
	if r.Attributes[attrEngineMode] == "serverless" {
		return engine.Leave(r, "RDS cannot stop an Aurora Serverless v1 cluster; it pauses when idle")
	}
	return engine.Act(r, VerbStopDatabase, "KILLSWITCH_STOP_DATABASES=true")
}

// Contain stops each DB cluster.
func (k *RDSClusters) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		_, err := api.StopDBCluster(ctx, &rds.StopDBClusterInput{DBClusterIdentifier: aws.String(d.Resource.ID)})
		var notFound *types.DBClusterNotFoundFault
		switch {
		case err == nil:
			return outcomeDone(d)
		case errors.As(err, &notFound):
			return outcomeGone(d, "no longer exists")
		}
		return outcomeFailed(d, err, fmt.Sprintf("stopping RDS DB cluster %s in %s", d.Resource.ID, region))
	})
}
