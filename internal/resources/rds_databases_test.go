package resources_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/internal/settings"
)

// fakeRDS is a hand-written RDSInstancesAPI and RDSClustersAPI; stopping
// moves a database to "stopped" at once, as moto does.
type fakeRDS struct {
	mu        sync.Mutex
	instances []*types.DBInstance
	clusters  []*types.DBCluster
	stopErr   map[string]error
	stops     []string
}

var (
	_ resources.RDSInstancesAPI = (*fakeRDS)(nil)
	_ resources.RDSClustersAPI  = (*fakeRDS)(nil)
)

func (f *fakeRDS) DescribeDBInstances(_ context.Context, in *rds.DescribeDBInstancesInput, _ ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []types.DBInstance
	for _, db := range f.instances {
		all = append(all, *db)
	}
	page, next := cpage(all, in.Marker, 0)
	return &rds.DescribeDBInstancesOutput{DBInstances: page, Marker: next}, nil
}

func (f *fakeRDS) DescribeDBClusters(_ context.Context, in *rds.DescribeDBClustersInput, _ ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []types.DBCluster
	for _, c := range f.clusters {
		all = append(all, *c)
	}
	page, next := cpage(all, in.Marker, 0)
	return &rds.DescribeDBClustersOutput{DBClusters: page, Marker: next}, nil
}

func (f *fakeRDS) StopDBInstance(_ context.Context, in *rds.StopDBInstanceInput, _ ...func(*rds.Options)) (*rds.StopDBInstanceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.DBInstanceIdentifier)
	f.stops = append(f.stops, id)
	if err := f.stopErr[id]; err != nil {
		return nil, err
	}
	for _, db := range f.instances {
		if aws.ToString(db.DBInstanceIdentifier) == id {
			db.DBInstanceStatus = aws.String("stopped")
			return &rds.StopDBInstanceOutput{}, nil
		}
	}
	return nil, &types.DBInstanceNotFoundFault{Message: aws.String("not found")}
}

func (f *fakeRDS) StopDBCluster(_ context.Context, in *rds.StopDBClusterInput, _ ...func(*rds.Options)) (*rds.StopDBClusterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.DBClusterIdentifier)
	f.stops = append(f.stops, id)
	if err := f.stopErr[id]; err != nil {
		return nil, err
	}
	for _, c := range f.clusters {
		if aws.ToString(c.DBClusterIdentifier) == id {
			c.Status = aws.String("stopped")
			return &rds.StopDBClusterOutput{}, nil
		}
	}
	return nil, &types.DBClusterNotFoundFault{Message: aws.String("not found")}
}

func TestRDSInstances(t *testing.T) {
	t.Parallel()
	f := &fakeRDS{stopErr: map[string]error{
		"gone":  &types.DBInstanceNotFoundFault{Message: aws.String("not found")},
		"state": &types.InvalidDBInstanceStateFault{Message: aws.String("not available")},
	}}
	add := func(id, status, cluster, replicaOf string, replicas ...string) {
		f.instances = append(f.instances, &types.DBInstance{DBInstanceIdentifier: aws.String(id), DBInstanceStatus: aws.String(status),
			DBClusterIdentifier: aws.String(cluster), ReadReplicaSourceDBInstanceIdentifier: aws.String(replicaOf),
			ReadReplicaDBInstanceIdentifiers: replicas, Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.r5.24xlarge")})
	}
	add("big", "available", "", "")
	add("member", "available", "aurora-1", "")
	add("off", "stopped", "", "")
	add("primary", "available", "", "", "replica")
	add("replica", "available", "", "primary")
	add("gone", "available", "", "")
	add("state", "available", "", "")

	k := resources.NewRDSInstances(func(string) resources.RDSInstancesAPI { return f })
	kr := sweepKind(t, k, engine.Policy{})
	got := outcomesByID(kr)
	o := wantOutcome(t, got, "big", engine.StatusDone, resources.VerbStopDatabase, "")
	if o.Prior != (resources.DatabasePrior{Status: "available", Engine: "postgres", Class: "db.r5.24xlarge"}) {
		t.Errorf("prior = %#v", o.Prior)
	}
	wantOutcome(t, got, "gone", engine.StatusGone, resources.VerbStopDatabase, "")
	wantOutcome(t, got, "state", engine.StatusFailed, resources.VerbStopDatabase, "InvalidDBInstanceState")
	for _, id := range []string{"member", "off", "primary", "replica"} {
		if _, ok := got[id]; ok {
			t.Errorf("%s was acted on", id)
		}
	}
	if len(kr.Refused) != 2 {
		t.Errorf("refused = %+v, want the primary and its replica, which RDS cannot stop", kr.Refused)
	}
	if resources.VerbStopDatabase.Note == "" {
		t.Error("the 7-day restart is not in the verb's note")
	}
}

func TestRDSClusters(t *testing.T) {
	t.Parallel()
	f := &fakeRDS{stopErr: map[string]error{}}
	for _, c := range []struct{ id, status, mode string }{
		{"aurora-1", "available", "provisioned"}, {"aurora-off", "stopped", "provisioned"}, {"v1", "available", "serverless"},
	} {
		f.clusters = append(f.clusters, &types.DBCluster{DBClusterIdentifier: aws.String(c.id), Status: aws.String(c.status),
			EngineMode: aws.String(c.mode), Engine: aws.String("aurora-postgresql")})
	}
	k := resources.NewRDSClusters(func(string) resources.RDSClustersAPI { return f })
	kr := sweepKind(t, k, engine.Policy{})
	got := outcomesByID(kr)
	o := wantOutcome(t, got, "aurora-1", engine.StatusDone, resources.VerbStopDatabase, "")
	if o.Prior != (resources.DatabasePrior{Status: "available", Engine: "aurora-postgresql"}) {
		t.Errorf("prior = %#v", o.Prior)
	}
	if len(got) != 1 || len(kr.Refused) != 1 || kr.Refused[0].ID != "v1" {
		t.Errorf("outcomes %v, refused %+v; want only aurora-1 stopped and v1 left", got, kr.Refused)
	}
	before := len(f.stops)
	if kr := sweepKind(t, k, engine.Policy{}); len(kr.Outcomes) != 0 || len(f.stops) != before {
		t.Errorf("second sweep acted on %d", len(kr.Outcomes))
	}
}

// TestKindsStopDatabasesOnlyWhenChosen checks the table: a stopped database
// is an outage, so RDS is swept only on the owner's say-so, and after the
// EC2 instances.
func TestKindsStopDatabasesOnlyWhenChosen(t *testing.T) {
	t.Parallel()
	for _, stop := range []bool{false, true} {
		s := settings.Default()
		s.StopDatabases = stop
		var names []string
		for _, k := range resources.Kinds(aws.Config{Region: "us-east-1"}, s, resources.Self{}) {
			names = append(names, k.Name())
		}
		ec2At, rdsAt := slices.Index(names, "EC2 instances"), slices.Index(names, "RDS DB instances")
		switch {
		case ec2At < 0 || slices.Index(names, "Lambda functions") > ec2At || slices.Index(names, "ECS services") > ec2At:
			t.Errorf("stop=%t: compute kinds must come before EC2 instances: %v", stop, names)
		case stop && (rdsAt < ec2At || !slices.Contains(names, "RDS DB clusters")):
			t.Errorf("stop=%t: RDS kinds missing or before EC2 instances: %v", stop, names)
		case !stop && rdsAt >= 0:
			t.Errorf("stop=%t: RDS swept without KILLSWITCH_STOP_DATABASES: %v", stop, names)
		}
	}
}
