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
	// OrgQuarantineSCPName is the deny-launch service control policy the
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

// GuardSCP is the service control policy that guards the switch in member
// accounts: every principal but except (the StackSet execution role, the
// switch's own roles, the org admins) is denied changing or deleting the
// switch's stack, function, topics, budget, alarm, schedule, latch,
// manifest bucket, quarantine policy and roles. except is matched with
// ArnNotLike on aws:PrincipalArn, so it may hold wildcards. guardedRoles are
// role ARN patterns (the org admins' roles) that must not be created or
// taken over in a member account: an attacker who made a role with an
// excepted name would be excepted too.
//
// It is one statement with every action on every resource, and one for the
// quarantine's attachments, because an SCP is at most 5,120 characters and
// each statement repeats the exceptions. An action paired with a resource
// of another service matches nothing, so the cross product denies nothing
// more than the per-resource statements would.
func GuardSCP(except, guardedRoles []string) Document {
	cond := map[string]map[string][]string{"ArnNotLike": {"aws:PrincipalArn": except}}
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
	add(FunctionTamperActions, TopicTamperActions,
		[]string{"budgets:ModifyBudget"},
		[]string{"cloudwatch:DeleteAlarms", "cloudwatch:DisableAlarmActions", "cloudwatch:PutMetricAlarm", "cloudwatch:SetAlarmState"},
		[]string{"scheduler:DeleteSchedule", "scheduler:UpdateSchedule"},
		[]string{"ssm:DeleteParameter", "ssm:DeleteParameters", "ssm:LabelParameterVersion", "ssm:PutParameter"},
		ManifestTamperActions,
		[]string{"cloudformation:CreateChangeSet", "cloudformation:DeleteStack", "cloudformation:ExecuteChangeSet",
			"cloudformation:SetStackPolicy", "cloudformation:UpdateStack", "cloudformation:UpdateTerminationProtection"},
		[]string{"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"},
		// Creating a role with an excepted or guarded name would make its
		// holder excepted; the real ones exist, so this only stops a
		// re-creation after a deletion the rest denies.
		[]string{"iam:CreateRole"}, PrincipalTamperActions,
	)
	resources := []string{
		anyAccount(FunctionARN), anyAccount(FunctionARN) + ":*",
		// A subscription's ARN is its topic's ARN and an ID.
		anyAccount(TripTopicARN), anyAccount(TripTopicARN) + ":*",
		anyAccount(NotifyTopicARN), anyAccount(NotifyTopicARN) + ":*",
		anyAccount(BudgetARN), anyAccount(BillingAlarmARN), anyAccount(ResweepScheduleARN), anyAccount(LatchParameterARN),
		ManifestBucketPattern, ManifestBucketPattern + "/*",
		StackSetStackARN, anyAccount(StackARN),
		anyAccount(QuarantinePolicyARN),
	}
	resources = append(resources, roles...)
	return Document{
		Version: "2012-10-17",
		Statement: []Statement{
			{Sid: "DenyChangingTheKillSwitch", Effect: "Deny", Action: actions, Resource: resources, Condition: cond},
			{
				Sid: "DenyDetachingTheQuarantine", Effect: "Deny", Action: DetachActions, Resource: []string{"*"},
				Condition: map[string]map[string][]string{
					"ArnNotLike": {"aws:PrincipalArn": except},
					"ArnLike":    {"iam:PolicyARN": {anyAccount(QuarantinePolicyARN)}},
				},
			},
		},
	}
}

// OrgQuarantineSCP is the deny-launch service control policy the org
// quarantine attaches to one member account: the member's own IAM
// quarantine cannot bind its root user, nor principals it could not list,
// and an SCP binds them all. except (the StackSet execution role and the
// org admins) keep rolling out updates and can clean up.
func OrgQuarantineSCP(except []string) Document {
	return Document{
		Version: "2012-10-17",
		Statement: []Statement{{
			Sid: "DenyLaunchingAndNewCredentials", Effect: "Deny",
			Action:    append(append([]string{}, LaunchActions...), CredentialActions...),
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
