package tests

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/tests/internal/apicount"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// computeKinds builds the kinds for compute that is not an EC2 instance on
// cfg, one client per region, the way resources.Kinds does.
func computeKinds(cfg aws.Config, self string) []engine.Kind {
	in := func(region string) func(*aws.Config) {
		return func(c *aws.Config) { c.Region = region }
	}
	regional := func(region string) aws.Config { c := cfg.Copy(); in(region)(&c); return c }
	return []engine.Kind{
		resources.NewLambdaFunctions(func(r string) resources.LambdaFunctionsAPI { return lambda.NewFromConfig(regional(r)) },
			resources.LambdaFunctionOptions{SelfName: self, SelfRegion: moto.Region}),
		resources.NewECSServices(func(r string) resources.ECSServicesAPI { return ecs.NewFromConfig(regional(r)) }),
		resources.NewECSTasks(func(r string) resources.ECSTasksAPI { return ecs.NewFromConfig(regional(r)) }),
		resources.NewEKSNodegroups(func(r string) resources.EKSNodegroupsAPI { return eks.NewFromConfig(regional(r)) }),
		resources.NewSageMakerNotebooks(func(r string) resources.SageMakerNotebooksAPI { return sagemaker.NewFromConfig(regional(r)) }),
		resources.NewSageMakerJobs(func(r string) resources.SageMakerJobsAPI { return sagemaker.NewFromConfig(regional(r)) }),
		resources.NewBatchComputeEnvironments(func(r string) resources.BatchComputeEnvironmentsAPI { return batch.NewFromConfig(regional(r)) }),
		resources.NewBatchJobs(func(r string) resources.BatchJobsAPI { return batch.NewFromConfig(regional(r)) }),
		resources.NewRDSInstances(func(r string) resources.RDSInstancesAPI { return rds.NewFromConfig(regional(r)) }),
		resources.NewRDSClusters(func(r string) resources.RDSClustersAPI { return rds.NewFromConfig(regional(r)) }),
	}
}

// TestComputeContainment seeds compute that is not an EC2 instance, runs
// the engine once, reads moto's state back, and runs it again to see that
// nothing more is changed.
func TestComputeContainment(t *testing.T) {
	ctx := context.Background()
	if err := motoServer.Reset(); err != nil {
		t.Fatal(err)
	}
	plain, err := moto.Config(ctx, motoServer.URL, awsconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seed, err := attack.SeedCompute(ctx, plain, moto.Region)
	if err != nil {
		t.Fatal(err)
	}
	cfg := plain.Copy()
	calls := apicount.New()
	calls.Attach(&cfg)

	policy := engine.Policy{Exempt: map[string]string{seed.OwnerFunction: "KILLSWITCH_EXEMPT_NAMES"}}
	eng := resources.NewEngine(cfg, computeKinds(cfg, seed.SelfFunction), engine.Options{})
	rep := eng.Run(ctx, policy)
	if err := rep.Err(); err != nil {
		t.Fatalf("first run: %v", err)
	}

	outcomes := map[string]engine.Outcome{}
	refused := map[string]string{}
	for _, rr := range rep.Regions {
		for _, kr := range rr.Kinds {
			for _, o := range kr.Outcomes {
				outcomes[kr.Kind+" "+o.ID] = o
			}
			for _, r := range kr.Refused {
				refused[kr.Kind+" "+r.ID] = r.Reason
			}
		}
	}
	for key, prior := range map[string]string{
		"ECS services " + seed.ECSCluster + "/" + seed.ECSService:           "desired 10 (running 0)",
		"EKS managed node groups " + seed.EKSCluster + "/" + seed.Nodegroup: "min 2, max 20, desired 10",
		"SageMaker notebook instances " + seed.Notebook:                     "InService",
		"Batch compute environments " + seed.BatchEnv:                       "ENABLED, max 256 vCPUs, min 0, desired 0",
		"Lambda functions " + seed.MiningFunction:                           "unreserved",
		"RDS DB instances " + seed.DBInstance:                               "available",
		"RDS DB clusters " + seed.DBCluster:                                 "available",
	} {
		o, ok := outcomes[key]
		if !ok {
			t.Errorf("no outcome for %s", key)
			continue
		}
		if o.Status != engine.StatusDone || o.Prior == nil {
			t.Errorf("%s: status %s, prior %v (%s)", key, o.Status, o.Prior, o.Message)
			continue
		}
		if prior != "" && o.Prior.Describe() != prior {
			t.Errorf("%s: prior %q, want %q", key, o.Prior.Describe(), prior)
		}
	}
	if _, ok := outcomes["SageMaker jobs training-job/"+seed.TrainingJob]; ok {
		t.Error("moto's completed training job was acted on")
	}
	if _, ok := refused["Lambda functions "+seed.OwnerFunction]; !ok {
		t.Errorf("the owner's function is not reported exempt: %v", refused)
	}
	if _, ok := refused["Lambda functions "+seed.SelfFunction]; !ok {
		t.Errorf("the kill switch's own function is not reported spared: %v", refused)
	}
	if _, ok := refused["RDS DB instances "+seed.DBCluster+"-a"]; ok {
		t.Error("the Aurora member was listed as an instance; its cluster is stopped whole")
	}

	checkComputeState(t, ctx, plain, seed)

	// Second run: everything is contained, so not one mutating call.
	calls.Reset()
	rep = eng.Run(ctx, policy)
	if err := rep.Err(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	for _, svc := range []string{"ECS", "EKS", "SageMaker", "Batch", "Lambda", "RDS"} {
		for region, ops := range calls.ByRegion(svc) {
			for op, n := range ops {
				if !strings.HasPrefix(op, "List") && !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "Get") {
					t.Errorf("second run made %d %s %s call(s) in %s", n, svc, op, region)
				}
			}
		}
	}
}

// checkComputeState reads moto's state back.
func checkComputeState(t *testing.T, ctx context.Context, cfg aws.Config, s *attack.Compute) {
	t.Helper()
	svc, err := ecs.NewFromConfig(cfg).DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(s.ECSCluster), Services: []string{s.ECSService}})
	if err != nil || len(svc.Services) != 1 || svc.Services[0].DesiredCount != 0 {
		t.Errorf("ECS service: %+v, %v; want desired 0", svc, err)
	}
	ng, err := eks.NewFromConfig(cfg).DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(s.EKSCluster), NodegroupName: aws.String(s.Nodegroup)})
	if err != nil {
		t.Errorf("EKS: %v", err)
	} else if sc := ng.Nodegroup.ScalingConfig; aws.ToInt32(sc.MinSize) != 0 || aws.ToInt32(sc.DesiredSize) != 0 || aws.ToInt32(sc.MaxSize) != 20 {
		t.Errorf("EKS node group scaling = min %d, max %d, desired %d; want 0, 20, 0", aws.ToInt32(sc.MinSize), aws.ToInt32(sc.MaxSize), aws.ToInt32(sc.DesiredSize))
	}
	nb, err := sagemaker.NewFromConfig(cfg).DescribeNotebookInstance(ctx, &sagemaker.DescribeNotebookInstanceInput{NotebookInstanceName: aws.String(s.Notebook)})
	if err != nil || (nb.NotebookInstanceStatus != "Stopped" && nb.NotebookInstanceStatus != "Stopping") {
		t.Errorf("notebook: %v, %v; want stopped", nb.NotebookInstanceStatus, err)
	}
	ce, err := batch.NewFromConfig(cfg).DescribeComputeEnvironments(ctx, &batch.DescribeComputeEnvironmentsInput{ComputeEnvironments: []string{s.BatchEnv}})
	if err != nil || len(ce.ComputeEnvironments) != 1 || ce.ComputeEnvironments[0].State != "DISABLED" {
		t.Errorf("Batch compute environment: %+v, %v; want DISABLED", ce, err)
	}
	lam := lambda.NewFromConfig(cfg)
	for name, want := range map[string]*int32{s.MiningFunction: aws.Int32(0), s.OwnerFunction: aws.Int32(5), s.SelfFunction: nil} {
		got, err := lam.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)})
		switch {
		case err != nil:
			t.Errorf("Lambda %s: %v", name, err)
		case (got.ReservedConcurrentExecutions == nil) != (want == nil) || aws.ToInt32(got.ReservedConcurrentExecutions) != aws.ToInt32(want):
			t.Errorf("Lambda %s reserved concurrency = %v, want %v", name, got.ReservedConcurrentExecutions, want)
		}
	}
	db, err := rds.NewFromConfig(cfg).DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(s.DBInstance)})
	if err != nil || aws.ToString(db.DBInstances[0].DBInstanceStatus) != "stopped" {
		t.Errorf("RDS instance: %v; want stopped", err)
	}
	cl, err := rds.NewFromConfig(cfg).DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(s.DBCluster)})
	if err != nil || aws.ToString(cl.DBClusters[0].Status) != "stopped" {
		t.Errorf("RDS cluster: %v; want stopped", err)
	}
}
