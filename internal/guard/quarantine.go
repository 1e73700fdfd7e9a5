package guard

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document. Resources and condition values
// may hold the ${Partition}, ${Region} and ${Account} placeholders.
type Statement struct {
	Sid       string                         `json:"Sid"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// LaunchActions are the calls that start something that costs money by the
// hour, or bring back what the kill switch contained (a resumed Auto Scaling
// group, a restarted notebook, a Lambda function given its concurrency back).
var LaunchActions = []string{
	"ec2:RunInstances", "ec2:StartInstances", "ec2:RequestSpotInstances", "ec2:RequestSpotFleet", "ec2:CreateFleet",
	"autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup", "autoscaling:SetDesiredCapacity",
	"autoscaling:CreateLaunchConfiguration", "autoscaling:ResumeProcesses",
	"ecs:CreateService", "ecs:UpdateService", "ecs:RunTask", "ecs:StartTask",
	"eks:CreateNodegroup", "eks:UpdateNodegroupConfig", "eks:UpdateNodegroupVersion",
	"sagemaker:CreateNotebookInstance", "sagemaker:StartNotebookInstance",
	"sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob", "sagemaker:CreateTransformJob",
	"sagemaker:CreateHyperParameterTuningJob",
	"batch:CreateComputeEnvironment", "batch:UpdateComputeEnvironment", "batch:SubmitJob",
	"lambda:CreateFunction", "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
	"lightsail:Create*",
}

// CredentialActions make new identities or credentials, or revive a key the
// kill switch deactivated: with them a quarantined attacker would have a
// fresh, unquarantined way in until the next re-sweep.
var CredentialActions = []string{
	"iam:CreateUser", "iam:CreateRole", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateAccessKey",
}

// FunctionTamperActions change, throttle, unsubscribe or invoke the kill
// switch's function. Invoking is denied too: a direct invoke is how the
// switch is disarmed.
var FunctionTamperActions = []string{
	"lambda:DeleteFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
	"lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
	"lambda:PutFunctionEventInvokeConfig", "lambda:UpdateFunctionEventInvokeConfig", "lambda:DeleteFunctionEventInvokeConfig",
	"lambda:AddPermission", "lambda:RemovePermission", "lambda:InvokeFunction",
}

// TopicTamperActions change, delete or unsubscribe the trip and notify topics.
var TopicTamperActions = []string{
	"sns:DeleteTopic", "sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission",
	"sns:Subscribe", "sns:Unsubscribe", "sns:PutDataProtectionPolicy",
}

// PrincipalTamperActions would let a quarantined attacker take over a
// principal the quarantine leaves alone (the kill switch's roles, the
// break-glass principals): trust it, reset its password, give it policies.
var PrincipalTamperActions = []string{
	"iam:UpdateAssumeRolePolicy", "iam:UpdateLoginProfile", "iam:DeactivateMFADevice",
	"iam:DeleteRole", "iam:DeleteUser",
	"iam:PutRolePolicy", "iam:PutUserPolicy", "iam:DeleteRolePolicy", "iam:DeleteUserPolicy",
	"iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:DetachRolePolicy", "iam:DetachUserPolicy",
	"iam:PutRolePermissionsBoundary", "iam:PutUserPermissionsBoundary",
}

// ManifestTamperActions change or delete the restore manifest bucket, its
// settings or its objects.
var ManifestTamperActions = []string{
	"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectVersionAcl",
	"s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketVersioning",
	"s3:PutLifecycleConfiguration", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock",
	"s3:PutBucketAcl", "s3:PutBucketOwnershipControls", "s3:PutReplicationConfiguration",
}

// DetachActions take a managed policy off a principal; the quarantine
// denies them for its own policy only.
var DetachActions = []string{"iam:DetachUserPolicy", "iam:DetachGroupPolicy", "iam:DetachRolePolicy"}

// QuarantineDocument is the deny-launch quarantine policy. Every statement
// denies; the policy grants nothing. breakGlass are the break-glass
// principals' ARNs, whose trust, passwords and policies it also protects.
func QuarantineDocument(breakGlass []string) Document {
	guarded := append([]string{OwnRolesARN}, breakGlass...)
	return Document{
		Version: "2012-10-17",
		Statement: []Statement{
			deny("DenyLaunchingCompute", LaunchActions, "*"),
			deny("DenyNewIdentitiesAndKeys", CredentialActions, "*"),
			deny("DenyChangingTheKillSwitchFunction", FunctionTamperActions, FunctionARN, FunctionARN+":*"),
			deny("DenyChangingTheKillSwitchTopics", TopicTamperActions, TripTopicARN, NotifyTopicARN),
			deny("DenyChangingTheKillSwitchBudget", []string{"budgets:ModifyBudget"}, BudgetARN),
			deny("DenyChangingTheKillSwitchAlarm", []string{"cloudwatch:DeleteAlarms", "cloudwatch:DisableAlarmActions", "cloudwatch:PutMetricAlarm", "cloudwatch:SetAlarmState"}, BillingAlarmARN),
			deny("DenyChangingTheKillSwitchSchedule", []string{"scheduler:DeleteSchedule", "scheduler:UpdateSchedule"}, ResweepScheduleARN),
			deny("DenyChangingTheKillSwitchLatch", []string{"ssm:DeleteParameter", "ssm:DeleteParameters", "ssm:LabelParameterVersion", "ssm:PutParameter"}, LatchParameterARN),
			// The restore trusts the manifest: an attacker who could rewrite
			// it could have the owner's restore start their instances, and
			// one who could delete it would make the restore manual.
			deny("DenyChangingTheRestoreManifest", ManifestTamperActions, ManifestBucketARN, ManifestBucketARN+"/*"),
			deny("DenyChangingTheKillSwitchStack", []string{
				"cloudformation:CreateChangeSet", "cloudformation:DeleteStack", "cloudformation:ExecuteChangeSet",
				"cloudformation:SetStackPolicy", "cloudformation:UpdateStack", "cloudformation:UpdateTerminationProtection",
			}, StackARN),
			deny("DenyTakingOverExemptPrincipals", PrincipalTamperActions, guarded...),
			deny("DenyChangingTheQuarantinePolicy", []string{
				"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion",
			}, QuarantinePolicyARN),
			{
				Sid: "DenyDetachingTheQuarantinePolicy", Effect: "Deny", Action: DetachActions, Resource: []string{"*"},
				Condition: map[string]map[string][]string{"ArnEquals": {"iam:PolicyARN": {QuarantinePolicyARN}}},
			},
		},
	}
}

func deny(sid string, actions []string, resources ...string) Statement {
	return Statement{Sid: sid, Effect: "Deny", Action: actions, Resource: resources}
}

// Resolve fills the placeholders of every resource and condition value.
func (d Document) Resolve(partition, region, account string) Document {
	out := Document{Version: d.Version}
	for _, s := range d.Statement {
		r := s
		r.Resource = make([]string, len(s.Resource))
		for i, res := range s.Resource {
			r.Resource[i] = Resolve(res, partition, region, account)
		}
		if s.Condition != nil {
			r.Condition = map[string]map[string][]string{}
			for op, kv := range s.Condition {
				r.Condition[op] = map[string][]string{}
				for k, vs := range kv {
					for _, v := range vs {
						r.Condition[op][k] = append(r.Condition[op][k], Resolve(v, partition, region, account))
					}
				}
			}
		}
		out.Statement = append(out.Statement, r)
	}
	return out
}
