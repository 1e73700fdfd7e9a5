package guard

// Names of what an AWS Organization deploy adds. The member accounts get the
// same stack as a single account, through a service-managed StackSet; the
// management account (or a delegated administrator) holds the org stack.
const (
	// StackSetName is the service-managed StackSet of the member stack.
	// StackSets name each member's stack "StackSet-<name>-<uuid>", so the
	// guard SCP matches the member stack by StackSetStackARN.
	StackSetName = "killswitch-member"
	// OrgStackName is the org stack, in the management account.
	OrgStackName = "KillswitchOrg"
	// CentralTopicName is the org stack's topic that every member's
	// function also publishes its reports to.
	CentralTopicName = "killswitch-central"
	// GuardSCPName is the service control policy that keeps member
	// accounts' principals from changing the switch.
	GuardSCPName = "killswitch-guard"
	// OrgQuarantineSCPName is the deny-by-default service control policy the
	// org quarantine attaches to one member account that tripped.
	OrgQuarantineSCPName = "killswitch-org-quarantine"
	// OrgQuarantineFunctionName is the org stack's function that attaches it.
	OrgQuarantineFunctionName = "killswitch-org-quarantine"
	// CodeBucketName holds the member function's code in the org account,
	// readable by the organization's accounts: a StackSet cannot use a CDK
	// asset, which lives in each account's own bootstrap bucket.
	CodeBucketName = "killswitch-code-${Account}-${Region}"
	// StackSetExecRolePattern matches the role StackSets creates in every
	// member account to deploy the member stack (service-managed
	// permissions name it stacksets-exec-<hash>).
	StackSetExecRolePattern = "arn:${Partition}:iam::*:role/stacksets-exec-*"
	// FunctionRolePattern is the member function's role in any account: the
	// only principal the central topic accepts reports from.
	FunctionRolePattern = "arn:${Partition}:iam::*:role" + RolePath + FunctionRoleName
	// ScheduleRolePattern is the re-sweep schedule's role in any account.
	ScheduleRolePattern = "arn:${Partition}:iam::*:role" + RolePath + ScheduleRoleName
)

// ARN patterns of the switch's resources in any member account, for the
// guard SCP: an SCP is one document for every account of the OUs it is
// attached to, so region and account are wildcards.
const (
	StackSetStackARN = "arn:${Partition}:cloudformation:*:*:stack/StackSet-" + StackSetName + "-*"
	// ManifestBucketPattern matches every account's manifest bucket by its
	// fixed name prefix (ManifestBucketName is the prefix plus account and
	// region).
	ManifestBucketPattern = "arn:${Partition}:s3:::killswitch-manifests-*"
)

// Message attributes a member's function sets on what it publishes to the
// central topic. They name the account and say whether the switch tripped,
// so the org quarantine never has to parse the human text.
const (
	AttrAccount = "killswitch.account"
	AttrEvent   = "killswitch.event"
	// EventTripped: the switch tripped, re-swept, or is still tripped.
	EventTripped = "tripped"
	// EventInfo: anything else (dry run, warning, disarm, self-test).
	EventInfo = "info"
)

// anyAccount writes an ARN of the switch for every account and region.
func anyAccount(arn string) string {
	return Resolve(arn, "${Partition}", "*", "*")
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

// BoundaryRemoveActions take a permissions boundary off a principal.
var BoundaryRemoveActions = []string{"iam:DeleteUserPermissionsBoundary", "iam:DeleteRolePermissionsBoundary"}

// AlarmARN is the ARN of one of the switch's alarms, by name.
func AlarmARN(name string) string {
	return "arn:${Partition}:cloudwatch:${Region}:${Account}:alarm:" + name
}

// AlarmNamePrefix begins the name of every alarm of the switch.
const AlarmNamePrefix = "killswitch-"

// ScheduleGroupSchedulesARN matches every schedule in the switch's group.
const ScheduleGroupSchedulesARN = "arn:${Partition}:scheduler:${Region}:${Account}:schedule/" + ScheduleGroupName + "/*"

// GuardSCP is the service control policy that guards the switch in member
// accounts: every principal but except (the StackSet execution role, the
// switch's own roles, the org admins) is denied changing or deleting the
// switch's stack, function, topics and their subscriptions, budget,
// alarms, schedule group and schedules, latch, manifest bucket, quarantine
// policy (attached or as a boundary), disarm key and roles, and passing
// those roles. except is matched with ArnNotLike on aws:PrincipalArn, so
// it may hold wildcards. guardedRoles are role ARN patterns (the org
// admins' roles) that must not be created or taken over in a member
// account: an attacker who made a role with an excepted name would be
// excepted too.
//
// Few statements, each with many actions on many resources, because an SCP
// is at most 5,120 characters and each statement repeats the exceptions.
// An action paired with a resource of another service matches nothing, so
// the cross product denies nothing more than per-resource statements would.
func GuardSCP(except, guardedRoles []string) Document {
	notExcepted := map[string][]string{"aws:PrincipalArn": except}
	roles := append([]string{
		anyAccount(OwnRolesARN),
		StackSetExecRolePattern,
	}, guardedRoles...)
	var actions []string
	add := func(list ...[]string) {
		for _, l := range list {
			for _, a := range l {
				if !contains(actions, a) {
					actions = append(actions, a)
				}
			}
		}
	}
	add(FunctionTamperActions,
		[]string{"budgets:ModifyBudget"},
		[]string{"cloudwatch:DeleteAlarms", "cloudwatch:DisableAlarmActions", "cloudwatch:PutMetricAlarm", "cloudwatch:SetAlarmState"},
		// A schedule in the switch's group is one its role trusts.
		[]string{"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
			"scheduler:DeleteScheduleGroup", "scheduler:TagResource", "scheduler:UntagResource"},
		[]string{"ssm:DeleteParameter", "ssm:DeleteParameters", "ssm:LabelParameterVersion", "ssm:PutParameter"},
		ManifestTamperActions,
		[]string{"cloudformation:CreateChangeSet", "cloudformation:DeleteStack", "cloudformation:ExecuteChangeSet",
			"cloudformation:SetStackPolicy", "cloudformation:UpdateStack", "cloudformation:UpdateTerminationProtection"},
		[]string{"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"},
		// Creating a role with an excepted or guarded name would make its
		// holder excepted; the real ones exist, so this only stops a
		// re-creation after a deletion the rest denies. Passing one of the
		// switch's roles hands its powers to the caller's own function or
		// schedule.
		[]string{"iam:CreateRole", "iam:PassRole"}, PrincipalTamperActions,
	)
	resources := []string{
		anyAccount(FunctionARN), anyAccount(FunctionARN) + ":*",
		anyAccount(BudgetARN),
		// The billing alarm and the health alarms (HealthAlarmNames) by
		// their common prefix, to fit the SCP's size: it also covers any
		// alarm an attacker names killswitch-*, which is harmless.
		anyAccount(AlarmARN(AlarmNamePrefix + "*")),
	}
	resources = append(resources,
		anyAccount(ScheduleGroupARN), anyAccount(ScheduleGroupSchedulesARN), anyAccount(LatchParameterARN),
		ManifestBucketPattern, ManifestBucketPattern+"/*",
		StackSetStackARN, anyAccount(StackARN),
		anyAccount(QuarantinePolicyARN), anyAccount(OwnPoliciesARN),
	)
	resources = append(resources, roles...)
	quarantine := []string{anyAccount(QuarantinePolicyARN)}
	return Document{
		Version: "2012-10-17",
		Statement: []Statement{
			{Sid: "DenyChangingTheKillSwitch", Effect: "Deny", Action: actions, Resource: resources,
				Condition: map[string]map[string][]string{"ArnNotLike": notExcepted}},
			{
				// Every SNS action but Publish, so one AWS adds later
				// (as it added filter policies) is denied too. A
				// subscription's ARN is its topic's ARN and an ID.
				Sid: "DenyAllButPublishOnTheTopics", Effect: "Deny", NotAction: []string{"sns:Publish"},
				Resource: []string{
					anyAccount(TripTopicARN), anyAccount(TripTopicARN) + ":*",
					anyAccount(NotifyTopicARN), anyAccount(NotifyTopicARN) + ":*",
				},
				Condition: map[string]map[string][]string{"ArnNotLike": notExcepted},
			},
			{
				Sid: "DenyDetachingTheQuarantine", Effect: "Deny", Action: DetachActions, Resource: []string{"*"},
				Condition: map[string]map[string][]string{"ArnNotLike": notExcepted, "ArnLike": {"iam:PolicyARN": quarantine}},
			},
			{
				// On Delete*PermissionsBoundary, iam:PermissionsBoundary is
				// the boundary being removed. (On Put*PermissionsBoundary
				// it is the new one: IAM has no key for the boundary a Put
				// replaces, so replacing cannot be told from setting.)
				Sid: "DenyRemovingTheQuarantineBoundary", Effect: "Deny", Action: BoundaryRemoveActions, Resource: []string{"*"},
				Condition: map[string]map[string][]string{"ArnNotLike": notExcepted, "ArnLike": {"iam:PermissionsBoundary": quarantine}},
			},
			{
				// The disarm key, by its alias: every KMS call on it but
				// verifying a MAC (the function's half of the disarm).
				Sid: "DenyUsingTheDisarmKey", Effect: "Deny", NotAction: []string{"kms:VerifyMac"},
				Resource: []string{"arn:${Partition}:kms:*:*:key/*"},
				Condition: map[string]map[string][]string{
					"ArnNotLike":               notExcepted,
					"ForAnyValue:StringEquals": {"kms:ResourceAliases": {DisarmKeyAlias}},
				},
			},
		},
	}
}

// OrgQuarantineSCP is the service control policy the org quarantine
// attaches to one member account: deny by default, like the IAM
// quarantine, and it binds what that cannot: the member's root user and
// principals the function could not list. except (the StackSet execution
// role and the org admins) keep rolling out updates and can clean up; the
// switch's own function and schedule roles are excepted too, since the
// member's switch must go on containing and re-sweeping (the guard SCP
// keeps anyone else from passing, trusting or re-creating them).
func OrgQuarantineSCP(except []string) Document {
	except = append(append([]string{}, except...), FunctionRolePattern, ScheduleRolePattern)
	return Document{
		Version: "2012-10-17",
		Statement: []Statement{{
			Sid: "DenyEverything", Effect: "Deny",
			Action:    []string{"*"},
			Resource:  []string{"*"},
			Condition: map[string]map[string][]string{"ArnNotLike": {"aws:PrincipalArn": except}},
		}},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
