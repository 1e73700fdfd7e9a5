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

// RDSInstancesAPI is the slice of the RDS client that DB instance
// containment uses; unit tests put a fake behind it.
type RDSInstancesAPI interface {
	rds.DescribeDBInstancesAPIClient
	StopDBInstance(ctx context.Context, in *rds.StopDBInstanceInput, optFns ...func(*rds.Options)) (*rds.StopDBInstanceOutput, error)
}

// Attribute keys RDSInstances puts on a Resource.
const (
	attrReplicaOf = "replica-of" // source of a read replica
	attrReplicas  = "replicas"   // how many read replicas it has
)

// VerbStopDatabase stops an RDS DB instance or DB cluster.
var VerbStopDatabase = engine.Verb{Past: "stopped", Plan: "stop",
	Note: "their storage and backups are kept; AWS starts a stopped database again after 7 days"}

// DatabasePrior is a DB instance or cluster as found: a restore starts the
// ones that were available.
type DatabasePrior struct {
	Status string `json:"status"`
	Engine string `json:"engine,omitempty"`
	Class  string `json:"class,omitempty"`
}

func (p DatabasePrior) Describe() string { return p.Status }

// RDSInstances stops RDS DB instances that are not members of a DB
// cluster (RDSClusters stops those whole). It is in the table only when the
// owner chose KILLSWITCH_STOP_DATABASES, since a stopped database is an
// outage. ID is the DB instance identifier.
type RDSInstances struct {
	client func(region string) RDSInstancesAPI
}

var _ engine.Kind = (*RDSInstances)(nil)

func NewRDSInstances(client func(region string) RDSInstancesAPI) *RDSInstances {
	return &RDSInstances{client: client}
}

// rdsRegionalClients builds the RDS client per region that both RDS kinds
// share.
func rdsRegionalClients(cfg aws.Config) *regionalClients[*rds.Client] {
	return newRegionalClients(func(region string) *rds.Client {
		return rds.NewFromConfig(cfg, func(o *rds.Options) { o.Region = region })
	})
}

func (*RDSInstances) Name() string { return "RDS DB instances" }
func (*RDSInstances) Noun() string { return "DB instance" }

// Find lists available DB instances outside clusters: stopped, stopping and
// starting ones are left for now (a starting one is caught next sweep).
func (k *RDSInstances) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	var found []engine.Resource
	pages := rds.NewDescribeDBInstancesPaginator(k.client(region), &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("describing RDS DB instances in %s: %w", region, err)
		}
		for _, db := range page.DBInstances {
			status := aws.ToString(db.DBInstanceStatus)
			if status != "available" || aws.ToString(db.DBClusterIdentifier) != "" {
				continue
			}
			found = append(found, engine.Resource{
				ID:    aws.ToString(db.DBInstanceIdentifier),
				State: status,
				Attributes: map[string]string{
					attrReplicaOf: aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier),
					attrReplicas:  fmt.Sprint(len(db.ReadReplicaDBInstanceIdentifiers) + len(db.ReadReplicaDBClusterIdentifiers)),
				},
				Prior: DatabasePrior{Status: status, Engine: aws.ToString(db.Engine), Class: aws.ToString(db.DBInstanceClass)},
			})
		}
	}
	return found, nil
}

// Decide leaves what RDS refuses to stop, saying so, rather than fail on
// every sweep.
func (*RDSInstances) Decide(r engine.Resource) engine.Decision {
	switch {
	case r.Attributes[attrReplicaOf] != "":
		return engine.Leave(r, "RDS cannot stop a read replica (of "+r.Attributes[attrReplicaOf]+"); delete it by hand if it is not yours")
	case r.Attributes[attrReplicas] != "" && r.Attributes[attrReplicas] != "0":
		return engine.Leave(r, "RDS cannot stop a DB instance that has read replicas; stop or delete it by hand")
	}
	return engine.Act(r, VerbStopDatabase, "KILLSWITCH_STOP_DATABASES=true")
}

// Contain stops each DB instance.
func (k *RDSInstances) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		_, err := api.StopDBInstance(ctx, &rds.StopDBInstanceInput{DBInstanceIdentifier: aws.String(d.Resource.ID)})
		var notFound *types.DBInstanceNotFoundFault
		switch {
		case err == nil:
			return outcomeDone(d)
		case errors.As(err, &notFound):
			return outcomeGone(d, "no longer exists")
		}
		return outcomeFailed(d, err, fmt.Sprintf("stopping RDS DB instance %s in %s", d.Resource.ID, region))
	})
}
