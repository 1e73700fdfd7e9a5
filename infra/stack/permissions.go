package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// The function's permissions, one entry per kind of resource it contains.
// Adding a kind is one entry here: its statements, and the cdk-nag findings
// they cause with the reason each is accepted. The permission tests check
// every entry against the synthesised role.
//
// Resources are written the way the IAM Service Authorization Reference
// writes ARNs: ${Partition}, ${Region} and ${Account} stand for the stack's
// AWS::Partition, AWS::Region and AWS::AccountId. The region of a resource
// the function contains is "*": an attacker can launch anywhere, including
// an opt-in region enabled after the deploy. The account is always this one.

// KindPermissions is what the function may do to one kind of resource.
type KindPermissions struct {
	// Kind is the kind's name as the function reports it ("EC2 instances").
	Kind string
	// When limits the entry to configs that contain the kind; nil means
	// always.
	When func(Config) bool
	// Statements are added to the function's role, in order.
	Statements []Statement
	// Suppressions are the cdk-nag findings the statements cause.
	Suppressions []Suppression
}

// Statement is one IAM statement of the function's role.
type Statement struct {
	Sid string
	// Deny makes it an explicit Deny; otherwise it allows.
	Deny      bool
	Actions   []string
	Resources []string
	// Conditions narrow the statement (operator -> key -> values, values
	// written like Resources); nil means none.
	Conditions map[string]map[string][]string
	// When limits the statement to configs that need it; nil means
	// whenever its kind is enabled.
	When func(Config) bool
}

// Enabled reports whether cfg needs the statement.
func (s Statement) Enabled(cfg Config) bool { return s.When == nil || s.When(cfg) }

// Suppression accepts one cdk-nag finding on the function's role.
type Suppression struct {
	Rule string
	// Resource is the statement resource the finding names, written as in
	// Statement.Resources.
	Resource string
	Reason   string
}

// AppliesTo is the finding as cdk-nag names it: "Resource::" and the ARN
// with pseudo-parameters written <AWS::Partition>, <AWS::Region> and
// <AWS::AccountId>.
func (s Suppression) AppliesTo() string {
	return "Resource::" + strings.NewReplacer(
		"${Partition}", "<AWS::Partition>",
		"${Region}", "<AWS::Region>",
		"${Account}", "<AWS::AccountId>",
	).Replace(s.Resource)
}

// Enabled reports whether cfg contains the kind.
func (k KindPermissions) Enabled(cfg Config) bool { return k.When == nil || k.When(cfg) }

const iamWildcards = "AwsSolutions-IAM5"

// noResourceLevel is the reason for "*" on actions that support no
// resource-level permissions.
func noResourceLevel(actions string) Suppression {
	return Suppression{Rule: iamWildcards, Resource: "*", Reason: actions +
		" support no resource-level permissions (the IAM Service Authorization Reference lists no resource type for them), so \"*\" is the only valid resource; the statement allows nothing else."}
}

// anyInThisAccount is the reason for an ARN of this account with a
// wildcard region and name.
func anyInThisAccount(resource, what string) Suppression {
	return Suppression{Rule: iamWildcards, Resource: resource, Reason: "The kill switch must contain any " + what +
		" an attacker creates, in any region (including opt-in regions enabled after deploy), so names and regions cannot be known in advance; the resource is still limited to " +
		what + " of this account, and the actions to the ones that contain them."}
}

// anyIAM is the reason for an IAM ARN of this account with a wildcard name.
func anyIAM(resource, what, why string) Suppression {
	return Suppression{Rule: iamWildcards, Resource: resource, Reason: "Any of this account's " + what + ": " + why + "."}
}

// Resource ARNs of this account, any region.
const (
	instanceARN             = "arn:${Partition}:ec2:*:${Account}:instance/*"
	autoScalingGroupARN     = "arn:${Partition}:autoscaling:*:${Account}:autoScalingGroup:*:autoScalingGroupName/*"
	spotInstanceRequestARN  = "arn:${Partition}:ec2:*:${Account}:spot-instances-request/*"
	spotFleetRequestARN     = "arn:${Partition}:ec2:*:${Account}:spot-fleet-request/*"
	ec2FleetARN             = "arn:${Partition}:ec2:*:${Account}:fleet/*"
	ecsServiceARN           = "arn:${Partition}:ecs:*:${Account}:service/*"
	ecsTaskARN              = "arn:${Partition}:ecs:*:${Account}:task/*"
	eksClusterARN           = "arn:${Partition}:eks:*:${Account}:cluster/*"
	eksNodegroupARN         = "arn:${Partition}:eks:*:${Account}:nodegroup/*"
	notebookInstanceARN     = "arn:${Partition}:sagemaker:*:${Account}:notebook-instance/*"
	trainingJobARN          = "arn:${Partition}:sagemaker:*:${Account}:training-job/*"
	processingJobARN        = "arn:${Partition}:sagemaker:*:${Account}:processing-job/*"
	transformJobARN         = "arn:${Partition}:sagemaker:*:${Account}:transform-job/*"
	tuningJobARN            = "arn:${Partition}:sagemaker:*:${Account}:hyper-parameter-tuning-job/*"
	batchComputeEnvARN      = "arn:${Partition}:batch:*:${Account}:compute-environment/*"
	batchJobARN             = "arn:${Partition}:batch:*:${Account}:job/*"
	lambdaFunctionARN       = "arn:${Partition}:lambda:*:${Account}:function:*"
	dbInstanceARN           = "arn:${Partition}:rds:*:${Account}:db:*"
	dbClusterARN            = "arn:${Partition}:rds:*:${Account}:cluster:*"
	iamUserARN              = "arn:${Partition}:iam::${Account}:user/*"
	iamGroupARN             = "arn:${Partition}:iam::${Account}:group/*"
	iamRoleARN              = "arn:${Partition}:iam::${Account}:role/*"
	ownFunctionARN          = "arn:${Partition}:lambda:${Region}:${Account}:function:" + FunctionName
	ownQualifiedFunctionARN = ownFunctionARN + ":*"
)

// Permissions is every kind's permissions, keyed by the kind's name.
var Permissions = []KindPermissions{
	{
		Kind: "IAM principals",
		When: QuarantineEnabled,
		Statements: []Statement{
			// GetAccountSummary: the account's managed-policy quota per
			// group, so a full group is left with a reason, not retried.
			{Sid: "DiscoverIAMPrincipals", Actions: []string{"iam:GetAccountSummary", "iam:ListGroups", "iam:ListRoles", "iam:ListUsers"}, Resources: []string{"*"}},
			// One listing says who already has the policy, so a re-sweep
			// attaches it only to newcomers.
			{Sid: "ListQuarantinedPrincipals", Actions: []string{"iam:ListEntitiesForPolicy"}, Resources: []string{guard.QuarantinePolicyARN}},
			// Reads of single principals: the groups of the break-glass
			// users (ListGroupsForUser), the policies of a group not yet
			// quarantined, to tell a full one (ListAttachedGroupPolicies),
			// and the boundary of a user or role whose slots are full, which
			// ListUsers and ListRoles do not return (GetUser, GetRole). One
			// statement: the role's inline policy is near IAM's limit.
			{Sid: "ReadIAMPrincipals", Actions: []string{"iam:GetRole", "iam:GetUser", "iam:ListAttachedGroupPolicies", "iam:ListGroupsForUser"},
				Resources: []string{iamUserARN, iamGroupARN, iamRoleARN}},
			// Any principal, but only this one policy: the function cannot
			// attach anything else to anyone.
			{Sid: "AttachTheQuarantinePolicyOnly", Actions: []string{"iam:AttachGroupPolicy", "iam:AttachRolePolicy", "iam:AttachUserPolicy"},
				Resources:  []string{iamUserARN, iamGroupARN, iamRoleARN},
				Conditions: map[string]map[string][]string{"ArnEquals": {"iam:PolicyARN": {guard.QuarantinePolicyARN}}}},
			// A user or role whose managed-policy slots are full gets the
			// quarantine as its permissions boundary; the function can set
			// no boundary but the quarantine policy (the
			// iam:PermissionsBoundary condition), nor remove one.
			{Sid: "SetTheQuarantineBoundaryOnly", Actions: []string{"iam:PutRolePermissionsBoundary", "iam:PutUserPermissionsBoundary"},
				Resources:  []string{iamUserARN, iamRoleARN},
				Conditions: map[string]map[string][]string{"StringEquals": {"iam:PermissionsBoundary": {guard.QuarantinePolicyARN}}}},
		},
		Suppressions: []Suppression{
			noResourceLevel("iam:ListUsers, iam:ListGroups, iam:ListRoles and iam:GetAccountSummary do"),
			anyIAM(iamUserARN, "IAM users", "the quarantine is attached to every user an attacker may have created (and only the quarantine policy, by the iam:PolicyARN condition), or set as the boundary of one whose slots are full (only the quarantine policy, by the iam:PermissionsBoundary condition); their groups are listed only for the break-glass users"),
			anyIAM(iamGroupARN, "IAM groups", "the quarantine is attached to every group, and only the quarantine policy (iam:PolicyARN condition); a group's policies are counted to tell a full one"),
			anyIAM(iamRoleARN, "IAM roles", "the quarantine is attached to every role an attacker may have created, and only the quarantine policy (iam:PolicyARN condition), or set as the boundary of one whose slots are full (iam:PermissionsBoundary condition)"),
		},
	},
	{
		Kind: "IAM service credentials",
		When: QuarantineEnabled,
		Statements: []Statement{
			{Sid: "ListIAMUsersForServiceCredentials", Actions: []string{"iam:ListUsers"}, Resources: []string{"*"}},
			// Bedrock API keys are service-specific credentials of a user.
			{Sid: "DeactivateServiceCredentials", Actions: []string{"iam:ListServiceSpecificCredentials", "iam:UpdateServiceSpecificCredential"}, Resources: []string{iamUserARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("iam:ListUsers does"),
			anyIAM(iamUserARN, "IAM users", "every user an attacker may have created can hold Bedrock API keys and other service-specific credentials, which are listed and deactivated (never deleted)"),
		},
	},
	{
		Kind: "IAM trail",
		Statements: []Statement{
			{Sid: "ListIAMUsersAndRoles", Actions: []string{"iam:ListRoles", "iam:ListUsers"}, Resources: []string{"*"}},
			{Sid: "ReadIAMUserCredentials", Actions: []string{"iam:GetAccessKeyLastUsed", "iam:GetLoginProfile", "iam:ListAccessKeys", "iam:ListMFADevices"}, Resources: []string{iamUserARN}},
			{Sid: "ReadIAMRoleLastUse", Actions: []string{"iam:GetRole"}, Resources: []string{iamRoleARN}},
			{Sid: "DeactivateNewAccessKeys", Actions: []string{"iam:UpdateAccessKey"}, Resources: []string{iamUserARN},
				When: func(c Config) bool { return c.DeactivateNewAccessKeys }},
		},
		Suppressions: []Suppression{
			noResourceLevel("iam:ListUsers and iam:ListRoles do"),
			anyIAM(iamUserARN, "IAM users", "the IAM trail reads the keys, console password and MFA of every user to find what an attacker created, and (deactivateNewAccessKeys only) deactivates new keys"),
			anyIAM(iamRoleARN, "IAM roles", "the IAM trail reads when each new role was last used, and roles an attacker created cannot be named in advance"),
		},
	},
	{
		// Read only: the switch's own function policy, topics and
		// subscriptions; the daily self-test makes the same reads
		// (internal/integrity). The role's inline policy is within ~300
		// characters of the size at which the CDK moves statements to an
		// overflow managed policy (IAM allows 10,240 for a role's inline
		// policies), and such a policy is one more thing an attacker could
		// rewrite. The exact resources, ownFunctionARN and
		// "arn:${Partition}:sns:${Region}:${Account}:killswitch-*" (the
		// topics and their subscriptions), cost ~250 characters more: use
		// them once the role has room.
		Kind: "Kill switch integrity",
		Statements: []Statement{
			{Sid: "ReadSwitchIntegrity", Actions: []string{"lambda:GetPolicy", "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic"}, Resources: []string{"*"}},
		},
		Suppressions: []Suppression{
			{Rule: iamWildcards, Resource: "*", Reason: "Read only: the integrity check reads the switch's own function policy and lists its own topics' subscriptions (" +
				guard.NotifyTopicName + ", " + guard.TripTopicName + ") with their attributes. \"*\" keeps the role's inline policy under IAM's size limit; " +
				"the function can already list every function and its configuration (lambda:ListFunctions), so these reads disclose no more."},
		},
	},
	{
		Kind: "Auto Scaling groups",
		Statements: []Statement{
			{Sid: "DiscoverAutoScalingGroups", Actions: []string{"autoscaling:DescribeAutoScalingGroups"}, Resources: []string{"*"}},
			// Suspending and zeroing the group stops it replacing what is
			// stopped or terminated.
			{Sid: "ContainAutoScalingGroups", Actions: []string{"autoscaling:SuspendProcesses", "autoscaling:UpdateAutoScalingGroup"}, Resources: []string{autoScalingGroupARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("autoscaling:DescribeAutoScalingGroups does"),
			anyInThisAccount(autoScalingGroupARN, "Auto Scaling groups"),
		},
	},
	{
		Kind: "Spot Instance requests",
		Statements: []Statement{
			{Sid: "DiscoverSpotInstanceRequests", Actions: []string{"ec2:DescribeSpotInstanceRequests"}, Resources: []string{"*"}},
			{Sid: "CancelSpotInstanceRequests", Actions: []string{"ec2:CancelSpotInstanceRequests"}, Resources: []string{spotInstanceRequestARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("ec2:DescribeSpotInstanceRequests does"),
			anyInThisAccount(spotInstanceRequestARN, "Spot Instance requests"),
		},
	},
	{
		Kind: "Spot Fleet requests",
		Statements: []Statement{
			{Sid: "DiscoverSpotFleetRequests", Actions: []string{"ec2:DescribeSpotFleetRequests"}, Resources: []string{"*"}},
			{Sid: "CancelSpotFleetRequests", Actions: []string{"ec2:CancelSpotFleetRequests"}, Resources: []string{spotFleetRequestARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("ec2:DescribeSpotFleetRequests does"),
			anyInThisAccount(spotFleetRequestARN, "Spot Fleet requests"),
		},
	},
	{
		Kind: "EC2 Fleets",
		Statements: []Statement{
			{Sid: "DiscoverEC2Fleets", Actions: []string{"ec2:DescribeFleets"}, Resources: []string{"*"}},
			{Sid: "DeleteEC2Fleets", Actions: []string{"ec2:DeleteFleets"}, Resources: []string{ec2FleetARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("ec2:DescribeFleets does"),
			anyInThisAccount(ec2FleetARN, "EC2 Fleets"),
		},
	},
	{
		Kind: "ECS services",
		Statements: []Statement{
			{Sid: "DiscoverECSServices", Actions: []string{"ecs:ListClusters", "ecs:ListServices"}, Resources: []string{"*"}},
			{Sid: "ContainECSServices", Actions: []string{"ecs:DescribeServices", "ecs:UpdateService"}, Resources: []string{ecsServiceARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("ecs:ListClusters and ecs:ListServices (which ECS scopes by the ecs:cluster condition key, not by a resource ARN) do"),
			anyInThisAccount(ecsServiceARN, "ECS services"),
		},
	},
	{
		Kind: "ECS standalone tasks",
		Statements: []Statement{
			// ListServices tells a service's task from one whose group only
			// claims a service: the group is free text an attacker can set.
			{Sid: "DiscoverECSTasks", Actions: []string{"ecs:ListClusters", "ecs:ListServices", "ecs:ListTasks"}, Resources: []string{"*"}},
			{Sid: "StopECSTasks", Actions: []string{"ecs:DescribeTasks", "ecs:StopTask"}, Resources: []string{ecsTaskARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("ecs:ListClusters, ecs:ListServices and ecs:ListTasks (which ECS scopes by the ecs:cluster condition key; a listing of a whole cluster names no container instance) do"),
			anyInThisAccount(ecsTaskARN, "ECS tasks"),
		},
	},
	{
		Kind: "EKS managed node groups",
		Statements: []Statement{
			{Sid: "DiscoverEKSClusters", Actions: []string{"eks:ListClusters"}, Resources: []string{"*"}},
			{Sid: "DiscoverEKSNodegroups", Actions: []string{"eks:ListNodegroups"}, Resources: []string{eksClusterARN}},
			{Sid: "ScaleDownEKSNodegroups", Actions: []string{"eks:DescribeNodegroup", "eks:UpdateNodegroupConfig"}, Resources: []string{eksNodegroupARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("eks:ListClusters does"),
			anyInThisAccount(eksClusterARN, "EKS clusters"),
			anyInThisAccount(eksNodegroupARN, "EKS node groups"),
		},
	},
	{
		Kind: "SageMaker notebook instances",
		Statements: []Statement{
			{Sid: "DiscoverSageMakerNotebooks", Actions: []string{"sagemaker:ListNotebookInstances"}, Resources: []string{"*"}},
			{Sid: "StopSageMakerNotebooks", Actions: []string{"sagemaker:StopNotebookInstance"}, Resources: []string{notebookInstanceARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("sagemaker:ListNotebookInstances does"),
			anyInThisAccount(notebookInstanceARN, "SageMaker notebook instances"),
		},
	},
	{
		Kind: "SageMaker jobs",
		Statements: []Statement{
			{Sid: "DiscoverSageMakerJobs", Actions: []string{"sagemaker:ListHyperParameterTuningJobs", "sagemaker:ListProcessingJobs", "sagemaker:ListTrainingJobs", "sagemaker:ListTransformJobs"}, Resources: []string{"*"}},
			// Tuning jobs launch training jobs, so they are stopped first.
			{Sid: "StopSageMakerTuningJobs", Actions: []string{"sagemaker:DescribeHyperParameterTuningJob", "sagemaker:StopHyperParameterTuningJob"}, Resources: []string{tuningJobARN}},
			// Describe reads a refused stop back: a job already ending is gone, not failed.
			{Sid: "StopSageMakerTrainingJobs", Actions: []string{"sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"}, Resources: []string{trainingJobARN}},
			{Sid: "StopSageMakerProcessingJobs", Actions: []string{"sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"}, Resources: []string{processingJobARN}},
			{Sid: "StopSageMakerTransformJobs", Actions: []string{"sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"}, Resources: []string{transformJobARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("sagemaker:ListHyperParameterTuningJobs, sagemaker:ListTrainingJobs, sagemaker:ListProcessingJobs and sagemaker:ListTransformJobs do"),
			anyInThisAccount(tuningJobARN, "SageMaker hyperparameter tuning jobs"),
			anyInThisAccount(trainingJobARN, "SageMaker training jobs"),
			anyInThisAccount(processingJobARN, "SageMaker processing jobs"),
			anyInThisAccount(transformJobARN, "SageMaker transform jobs"),
		},
	},
	{
		Kind: "Batch compute environments",
		Statements: []Statement{
			{Sid: "DiscoverBatchComputeEnvironments", Actions: []string{"batch:DescribeComputeEnvironments"}, Resources: []string{"*"}},
			{Sid: "DisableBatchComputeEnvironments", Actions: []string{"batch:UpdateComputeEnvironment"}, Resources: []string{batchComputeEnvARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("batch:DescribeComputeEnvironments does"),
			anyInThisAccount(batchComputeEnvARN, "Batch compute environments"),
		},
	},
	{
		Kind: "Batch jobs",
		Statements: []Statement{
			{Sid: "DiscoverBatchJobs", Actions: []string{"batch:DescribeJobQueues", "batch:ListJobs"}, Resources: []string{"*"}},
			{Sid: "TerminateBatchJobs", Actions: []string{"batch:TerminateJob"}, Resources: []string{batchJobARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("batch:DescribeJobQueues and batch:ListJobs do"),
			anyInThisAccount(batchJobARN, "Batch jobs"),
		},
	},
	{
		Kind: "Lambda functions",
		Statements: []Statement{
			{Sid: "DiscoverLambdaFunctions", Actions: []string{"lambda:ListFunctions"}, Resources: []string{"*"}},
			// A reserved concurrency of 0 stops a function from running.
			{Sid: "ThrottleLambdaFunctions", Actions: []string{"lambda:GetFunctionConcurrency", "lambda:PutFunctionConcurrency"}, Resources: []string{lambdaFunctionARN}},
			// Never the kill switch itself: throttling it to 0 would end every
			// later run, and deleting its reservation would let runs race.
			{Sid: "NeverThrottleTheKillSwitch", Deny: true, Actions: []string{"lambda:DeleteFunctionConcurrency", "lambda:PutFunctionConcurrency"}, Resources: []string{ownFunctionARN, ownQualifiedFunctionARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("lambda:ListFunctions does"),
			anyInThisAccount(lambdaFunctionARN, "Lambda functions"),
		},
	},
	{
		Kind: "EC2 instances",
		Statements: []Statement{
			// The regions are listed here too: every kind is swept in every
			// region DescribeRegions returns.
			// DescribeInstanceAttribute reads protection where it is dense
			// (see ec2_instances_contain.go), from the describe bucket.
			{Sid: "DiscoverInstancesInEveryRegion", Actions: []string{"ec2:DescribeInstanceAttribute", "ec2:DescribeInstances", "ec2:DescribeRegions"}, Resources: []string{"*"}},
			{Sid: "ContainInstancesOfThisAccount", Actions: []string{"ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:TerminateInstances"}, Resources: []string{instanceARN}},
		},
		Suppressions: []Suppression{
			noResourceLevel("ec2:DescribeRegions, ec2:DescribeInstances and ec2:DescribeInstanceAttribute do"),
			anyInThisAccount(instanceARN, "EC2 instances"),
		},
	},
	{
		Kind: "RDS DB instances",
		When: func(c Config) bool { return c.StopDatabases },
		Statements: []Statement{
			{Sid: "StopDatabaseInstances", Actions: []string{"rds:DescribeDBInstances", "rds:StopDBInstance"}, Resources: []string{dbInstanceARN}},
		},
		Suppressions: []Suppression{
			anyInThisAccount(dbInstanceARN, "RDS DB instances"),
		},
	},
	{
		Kind: "RDS DB clusters",
		When: func(c Config) bool { return c.StopDatabases },
		Statements: []Statement{
			{Sid: "StopDatabaseClusters", Actions: []string{"rds:DescribeDBClusters", "rds:StopDBCluster"}, Resources: []string{dbClusterARN}},
		},
		Suppressions: []Suppression{
			anyInThisAccount(dbClusterARN, "RDS and Aurora DB clusters"),
		},
	},
}

// resolvePseudo writes a resource of the table with the stack's
// pseudo-parameters, which CloudFormation resolves at deploy. They are the
// same tokens whether or not the stack's account and region are known at
// synth, so the nag suppressions always match.
func resolvePseudo(resource string) string {
	return strings.NewReplacer(
		"${Partition}", *awscdk.Aws_PARTITION(),
		"${Region}", *awscdk.Aws_REGION(),
		"${Account}", *awscdk.Aws_ACCOUNT_ID(),
	).Replace(resource)
}

// policyStatement is s as the CDK builds it.
func (s Statement) policyStatement() awsiam.PolicyStatement {
	effect := awsiam.Effect_ALLOW
	if s.Deny {
		effect = awsiam.Effect_DENY
	}
	resources := make([]*string, len(s.Resources))
	for i, r := range s.Resources {
		resources[i] = jsii.String(resolvePseudo(r))
	}
	props := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(s.Sid),
		Effect:    effect,
		Actions:   jsii.Strings(s.Actions...),
		Resources: &resources,
	}
	if s.Conditions != nil {
		conds := map[string]any{}
		for op, kv := range s.Conditions {
			m := map[string]any{}
			for k, vs := range kv {
				values := make([]*string, len(vs))
				for i, v := range vs {
					values[i] = jsii.String(resolvePseudo(v))
				}
				m[k] = values
			}
			conds[op] = m
		}
		props.Conditions = &conds
	}
	return awsiam.NewPolicyStatement(props)
}

// addKindPermissions gives role every enabled kind's statements and records
// their nag suppressions on it.
func addKindPermissions(role awsiam.Role, cfg Config) {
	for _, k := range Permissions {
		if !k.Enabled(cfg) {
			continue
		}
		for _, s := range k.Statements {
			if s.Enabled(cfg) {
				role.AddToPolicy(s.policyStatement())
			}
		}
		for _, s := range k.Suppressions {
			suppress(role, s.Rule, k.Kind+": "+s.Reason, s.AppliesTo())
		}
	}
}
