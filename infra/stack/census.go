package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// ecsClusterARN is any ECS cluster of this account, in any region.
const ecsClusterARN = "arn:${Partition}:ecs:*:${Account}:cluster/*"

// CensusPermissions are the reads the live-usage census and the daily
// self-test make beyond what the kinds' entries already allow. The rest of
// their calls (ec2:DescribeRegions and DescribeInstances, Auto Scaling,
// ECS and SageMaker listings, ec2:StopInstances with DryRun, the latch) are
// the kinds' and the latch's own permissions; TestCensusPermissions checks
// that every call the two packages declare is allowed on the role.
var CensusPermissions = KindPermissions{
	Kind: "census and self-test",
	Statements: []Statement{
		// The census's enrichment: vCPUs and GPUs of the types it sees.
		{Sid: "CensusReadsInstanceTypes", Actions: []string{"ec2:DescribeInstanceTypes"}, Resources: []string{"*"}},
		// One DescribeClusters gives up to 100 clusters' running task
		// counts: far cheaper than listing tasks.
		{Sid: "CensusCountsECSTasks", Actions: []string{"ecs:DescribeClusters"}, Resources: []string{ecsClusterARN}},
	},
	Suppressions: []Suppression{
		noResourceLevel("ec2:DescribeInstanceTypes does"),
		anyInThisAccount(ecsClusterARN, "ECS clusters (read only, for their running task counts)"),
	},
}

// selfTestTopicSid is the self-test's read of the notify topic.
const selfTestTopicSid = "SelfTestReadsTheNotifyTopic"

// addCensusPermissions gives the function's role the census's and the
// self-test's own reads, and records their nag suppressions.
func addCensusPermissions(role awsiam.Role, topics Topics) {
	for _, s := range CensusPermissions.Statements {
		role.AddToPolicy(s.policyStatement())
	}
	for _, s := range CensusPermissions.Suppressions {
		suppress(role, s.Rule, CensusPermissions.Kind+": "+s.Reason, s.AppliesTo())
	}
	// The self-test proves the topic still exists: a deleted topic means
	// no report reaches the owner.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(selfTestTopicSid),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("sns:GetTopicAttributes"),
		Resources: &[]*string{topics.Notify.TopicArn()},
	}))
}
