package stack

import (
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Nag suppressions: each names the rule, the exact finding (AppliesTo) and why
// the design accepts it. Tests assert that no other finding remains.
const (
	reasonDescribeStar = "ec2:DescribeRegions and ec2:DescribeInstances support no resource-level permissions (the IAM service authorization reference lists no resource types for them), so \"*\" is the only valid resource; the statement allows nothing else."
	reasonInstanceStar = "The kill switch must stop/terminate any instance an attacker launches, in any region (including opt-in regions enabled after deploy), so instance IDs and regions cannot be known in advance; the resource is still limited to EC2 instances of this account and the actions to Stop/Terminate/ModifyInstanceAttribute."
)

// addNagSuppressions records, next to the resource, each cdk-nag AwsSolutions
// finding this design accepts and why.
func addNagSuppressions(fn Function) {
	suppress(fn.Role, "AwsSolutions-IAM5", reasonDescribeStar, "Resource::*")
	suppress(fn.Role, "AwsSolutions-IAM5", reasonInstanceStar, "Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*")
}

func suppress(construct any, rule, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		at := make([]any, len(appliesTo))
		for i, a := range appliesTo {
			at[i] = a
		}
		s.AppliesTo = &at
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}
