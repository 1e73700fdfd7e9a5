package attack

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// Compute is what SeedCompute launched in one region: compute an attacker
// runs outside plain EC2 instances, next to the owner's own function and
// the kill switch's.
type Compute struct {
	Region string

	ECSCluster, ECSService string // a Fargate service at desired 10
	EKSCluster, Nodegroup  string // a node group at min 2, max 20, desired 10
	Notebook               string // an InService notebook instance
	TrainingJob            string // moto completes it at once: nothing to stop
	BatchEnv               string // a managed EC2 compute environment
	MiningFunction         string // an attacker's function
	OwnerFunction          string // the owner's, exempted by name
	SelfFunction           string // stands for the kill switch's own function
	DBInstance, DBCluster  string
}

// SeedCompute launches the compute seed in region. moto needs real VPC
// pieces for Fargate and Batch, an instance profile for Batch, and a zip
// for Lambda.
func SeedCompute(ctx context.Context, cfg aws.Config, region string) (*Compute, error) {
	cfg = cfg.Copy()
	cfg.Region = region
	c := &Compute{
		Region: region, ECSCluster: "mining", ECSService: "miner", EKSCluster: "k8s", Nodegroup: "gpu",
		Notebook: "jupyter-gpu", TrainingJob: "train-gpu", BatchEnv: "miner-ce",
		MiningFunction: "mining", OwnerFunction: "owner-fn", SelfFunction: "killswitch",
		DBInstance: "db-big", DBCluster: "aurora-1",
	}
	steps := []struct {
		what string
		do   func(context.Context, aws.Config, *Compute, *network) error
	}{
		{"network", seedNetwork},
		{"ECS", seedECS},
		{"EKS", seedEKS},
		{"SageMaker", seedSageMaker},
		{"Batch", seedBatch},
		{"Lambda", seedLambda},
		{"RDS", seedRDS},
	}
	var net network
	for _, s := range steps {
		if err := s.do(ctx, cfg, c, &net); err != nil {
			return nil, fmt.Errorf("seeding %s in %s: %w", s.what, region, err)
		}
	}
	return c, nil
}

type network struct{ subnet, securityGroup string }

const role = "arn:aws:iam::123456789012:role/attacker"

func seedNetwork(ctx context.Context, cfg aws.Config, _ *Compute, n *network) error {
	c := ec2.NewFromConfig(cfg)
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16")})
	if err != nil {
		return err
	}
	sub, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.9.0.0/24")})
	if err != nil {
		return err
	}
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: vpc.Vpc.VpcId,
		GroupName: aws.String("miner"), Description: aws.String("miner")})
	if err != nil {
		return err
	}
	n.subnet, n.securityGroup = aws.ToString(sub.Subnet.SubnetId), aws.ToString(sg.GroupId)
	return nil
}

func seedECS(ctx context.Context, cfg aws.Config, c *Compute, n *network) error {
	api := ecs.NewFromConfig(cfg)
	if _, err := api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(c.ECSCluster)}); err != nil {
		return err
	}
	if _, err := api.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String("xmrig"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		Cpu:                     aws.String("4096"), Memory: aws.String("8192"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("xmrig"), Image: aws.String("xmrig/xmrig"), Memory: aws.Int32(8192)}},
	}); err != nil {
		return err
	}
	awsvpc := &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
		Subnets: []string{n.subnet}, SecurityGroups: []string{n.securityGroup}}}
	if _, err := api.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(c.ECSCluster), ServiceName: aws.String(c.ECSService), TaskDefinition: aws.String("xmrig"),
		DesiredCount: aws.Int32(10), LaunchType: ecstypes.LaunchTypeFargate, NetworkConfiguration: awsvpc,
	}); err != nil {
		return err
	}
	// No standalone task is seeded: moto 5.2.1 fails RunTask for Fargate
	// (HTTP 500: its network interface has no private_dns_name), and for
	// the EC2 launch type it answers each container's cpu and memory as
	// numbers where the API has strings, which the Go SDK refuses to
	// decode, in RunTask and DescribeTasks alike. The ECSTasks kind is
	// covered by its fake-backed unit tests.
	return nil
}

func seedEKS(ctx context.Context, cfg aws.Config, c *Compute, n *network) error {
	api := eks.NewFromConfig(cfg)
	if _, err := api.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String(c.EKSCluster), RoleArn: aws.String(role),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{n.subnet}}}); err != nil {
		return err
	}
	_, err := api.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String(c.EKSCluster), NodegroupName: aws.String(c.Nodegroup),
		NodeRole: aws.String(role), Subnets: []string{n.subnet}, InstanceTypes: []string{"p4d.24xlarge"},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(2), MaxSize: aws.Int32(20), DesiredSize: aws.Int32(10)}})
	return err
}

func seedSageMaker(ctx context.Context, cfg aws.Config, c *Compute, _ *network) error {
	api := sagemaker.NewFromConfig(cfg)
	if _, err := api.CreateNotebookInstance(ctx, &sagemaker.CreateNotebookInstanceInput{NotebookInstanceName: aws.String(c.Notebook),
		InstanceType: smtypes.InstanceTypeMlP32xlarge, RoleArn: aws.String(role)}); err != nil {
		return err
	}
	_, err := api.CreateTrainingJob(ctx, &sagemaker.CreateTrainingJobInput{
		TrainingJobName:        aws.String(c.TrainingJob),
		AlgorithmSpecification: &smtypes.AlgorithmSpecification{TrainingImage: aws.String("xmrig"), TrainingInputMode: smtypes.TrainingInputModeFile},
		RoleArn:                aws.String(role),
		OutputDataConfig:       &smtypes.OutputDataConfig{S3OutputPath: aws.String("s3://loot/out")},
		ResourceConfig:         &smtypes.ResourceConfig{InstanceType: smtypes.TrainingInstanceTypeMlP4d24xlarge, InstanceCount: aws.Int32(4), VolumeSizeInGB: aws.Int32(10)},
		StoppingCondition:      &smtypes.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(432000)},
	})
	return err
}

func seedBatch(ctx context.Context, cfg aws.Config, c *Compute, n *network) error {
	iamAPI := iam.NewFromConfig(cfg)
	profile, err := iamAPI.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("ecsInstanceRole-" + cfg.Region)})
	if err != nil {
		return err
	}
	// Batch checks that its service role exists.
	service, err := iamAPI.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("batch-" + cfg.Region), AssumeRolePolicyDocument: aws.String("{}")})
	if err != nil {
		return err
	}
	// moto ignores computeResources in UpdateComputeEnvironment, so a
	// minimum above 0 would still read back above 0 after containment;
	// the unit tests cover minimum and maximum against a fake.
	_, err = batch.NewFromConfig(cfg).CreateComputeEnvironment(ctx, &batch.CreateComputeEnvironmentInput{
		ComputeEnvironmentName: aws.String(c.BatchEnv), Type: batchtypes.CETypeManaged, State: batchtypes.CEStateEnabled,
		ServiceRole: service.Role.Arn,
		ComputeResources: &batchtypes.ComputeResource{Type: batchtypes.CRTypeEc2, MinvCpus: aws.Int32(0), MaxvCpus: aws.Int32(256),
			DesiredvCpus: aws.Int32(0), InstanceTypes: []string{"optimal"}, Subnets: []string{n.subnet},
			SecurityGroupIds: []string{n.securityGroup}, InstanceRole: profile.InstanceProfile.Arn},
	})
	return err
}

func seedLambda(ctx context.Context, cfg aws.Config, c *Compute, _ *network) error {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("bootstrap")
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte("#!/bin/sh\n")); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	// Lambda checks that the function's role exists.
	fnRole, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("lambda-" + cfg.Region), AssumeRolePolicyDocument: aws.String("{}")})
	if err != nil {
		return err
	}
	api := lambda.NewFromConfig(cfg)
	for _, name := range []string{c.MiningFunction, c.OwnerFunction, c.SelfFunction} {
		if _, err := api.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Role: fnRole.Role.Arn,
			Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
			Code: &lambdatypes.FunctionCode{ZipFile: buf.Bytes()}}); err != nil {
			return err
		}
	}
	// The owner's function has a reservation the kill switch must leave as is.
	_, err = api.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(c.OwnerFunction), ReservedConcurrentExecutions: aws.Int32(5)})
	return err
}

func seedRDS(ctx context.Context, cfg aws.Config, c *Compute, _ *network) error {
	api := rds.NewFromConfig(cfg)
	if _, err := api.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(c.DBInstance),
		DBInstanceClass: aws.String("db.r5.24xlarge"), Engine: aws.String("postgres"), MasterUsername: aws.String("u"),
		MasterUserPassword: aws.String("password1"), AllocatedStorage: aws.Int32(20)}); err != nil {
		return err
	}
	if _, err := api.CreateDBCluster(ctx, &rds.CreateDBClusterInput{DBClusterIdentifier: aws.String(c.DBCluster),
		Engine: aws.String("aurora-postgresql"), MasterUsername: aws.String("u"), MasterUserPassword: aws.String("password1")}); err != nil {
		return err
	}
	_, err := api.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(c.DBCluster + "-a"),
		DBInstanceClass: aws.String("db.r5.large"), Engine: aws.String("aurora-postgresql"), DBClusterIdentifier: aws.String(c.DBCluster)})
	return err
}
