// Package guard holds what the stack and the function must agree on to
// guard the kill switch itself: the fixed names of its resources and roles,
// and the quarantine policy document. The CDK app builds the policy from
// QuarantineDocument; the function recognises its own roles by OwnRole; the
// integration tests create the same document in moto. It imports nothing
// of the project or the AWS SDK, so infra can use it cheaply.
package guard

import (
	"strconv"
	"strings"
)

// Fixed resource names: fixed so that the quarantine policy can name them
// by ARN before they exist (no reference cycle between the policy, the
// function and the topics), and so that the owner and the README can refer
// to them.
const (
	StackName            = "Killswitch"
	FunctionName         = "killswitch"
	TripTopicName        = "killswitch-trip"
	NotifyTopicName      = "killswitch-notify"
	BudgetName           = "killswitch-monthly"
	BillingAlarmName     = "killswitch-estimated-charges"
	LatchParameterName   = "/killswitch/latch"
	ResweepScheduleName  = "killswitch-resweep"
	QuarantinePolicyName = "killswitch-quarantine"
	// ScheduleGroupName is the re-sweep schedule's own schedule group: the
	// scheduler role trusts only the schedule in it, and the group is
	// guarded, so no other schedule can invoke the function as the switch.
	ScheduleGroupName = "killswitch"
	// DisarmKeyAlias names the KMS HMAC key whose MAC proves a disarm: only
	// break-glass principals and the root user may generate one.
	DisarmKeyAlias = "alias/killswitch-disarm"
	// ManifestBucketName holds the restore manifests. S3 bucket names are
	// global, so the account and region make it unique; fixed, so the
	// quarantine can name it before it exists.
	ManifestBucketName = "killswitch-manifests-${Account}-${Region}"
	// CensusRecordKey is the one object in that bucket the schedule
	// overwrites with its newest census, for `killswitch status`.
	CensusRecordKey = "census/latest.json"
)

// The kill switch's own roles all live under RolePath with one of these
// names. The quarantine leaves exactly those alone: a role an attacker
// creates under the same path with another name is quarantined like any
// other, and one with the same name cannot exist while the stack's does.
const (
	RolePath         = "/killswitch/"
	FunctionRoleName = "killswitch-function"
	ScheduleRoleName = "killswitch-resweep-scheduler"
	SlackRoleName    = "killswitch-slack"
)

// HealthAlarmNames are the alarms on the switch's own health (the stack's
// dashboard creates them): guarded like the billing alarm, since deleting
// one blinds the owner.
var HealthAlarmNames = []string{FunctionErrorsAlarmName, SelfTestAlarmName, NoCensusAlarmName}

const (
	FunctionErrorsAlarmName = "killswitch-function-errors"
	SelfTestAlarmName       = "killswitch-self-test-failed"
	NoCensusAlarmName       = "killswitch-no-census"
)

// FunctionOverflowPolicy names the function role's Nth overflow managed
// policy: fixed, under RolePath, so the guard SCP can name it.
func FunctionOverflowPolicy(n int) string {
	return FunctionRoleName + "-overflow-" + strconv.Itoa(n)
}

// OwnRoleNames are the names of every role the stack may create.
var OwnRoleNames = []string{FunctionRoleName, ScheduleRoleName, SlackRoleName}

// OwnRole says whether a role has the path and one of the names of the kill
// switch's own roles. A name is not an identity: anyone who may create roles
// can create /killswitch/killswitch-slack where the stack made no Slack role.
// The quarantine therefore exempts a role only when its unique role ID is
// one the stack wrote (KILLSWITCH_OWN_ROLE_IDS), and uses this only as a
// second check on that role and to tell the owner that a role merely named
// like the switch's is not the stack's.
func OwnRole(path, name string) bool {
	if path != RolePath {
		return false
	}
	for _, n := range OwnRoleNames {
		if n == name {
			return true
		}
	}
	return false
}

// AWSManagedRolePath says whether a role path belongs to a role AWS manages:
// service-linked roles (/aws-service-role/) and the roles IAM Identity
// Center and other AWS services reserve (/aws-reserved/). IAM refuses to
// attach a customer policy to a service-linked role, and AWS owns both.
func AWSManagedRolePath(path string) bool {
	return strings.HasPrefix(path, "/aws-service-role/") || strings.HasPrefix(path, "/aws-reserved/")
}

// ARNs of the switch's resources, written like the IAM Service
// Authorization Reference: ${Partition}, ${Region} and ${Account} stand for
// the stack's partition, region and account (Resolve fills them in).
const (
	FunctionARN         = "arn:${Partition}:lambda:${Region}:${Account}:function:" + FunctionName
	TripTopicARN        = "arn:${Partition}:sns:${Region}:${Account}:" + TripTopicName
	NotifyTopicARN      = "arn:${Partition}:sns:${Region}:${Account}:" + NotifyTopicName
	BudgetARN           = "arn:${Partition}:budgets::${Account}:budget/" + BudgetName
	BillingAlarmARN     = "arn:${Partition}:cloudwatch:${Region}:${Account}:alarm:" + BillingAlarmName
	ResweepScheduleARN  = "arn:${Partition}:scheduler:${Region}:${Account}:schedule/" + ScheduleGroupName + "/" + ResweepScheduleName
	ScheduleGroupARN    = "arn:${Partition}:scheduler:${Region}:${Account}:schedule-group/" + ScheduleGroupName
	LatchParameterARN   = "arn:${Partition}:ssm:${Region}:${Account}:parameter" + LatchParameterName
	StackARN            = "arn:${Partition}:cloudformation:${Region}:${Account}:stack/" + StackName + "/*"
	QuarantinePolicyARN = "arn:${Partition}:iam::${Account}:policy/" + QuarantinePolicyName
	OwnRolesARN         = "arn:${Partition}:iam::${Account}:role" + RolePath + "*"
	// OwnPoliciesARN covers the managed policies the stack keeps under its
	// own path: the function role's overflow policies (FunctionOverflowPolicy),
	// which hold part of its permissions once its inline policy is full.
	OwnPoliciesARN    = "arn:${Partition}:iam::${Account}:policy" + RolePath + "*"
	ManifestBucketARN = "arn:${Partition}:s3:::" + ManifestBucketName
)

// Resolve fills the ${Partition}, ${Region} and ${Account} placeholders.
func Resolve(s, partition, region, account string) string {
	return strings.NewReplacer("${Partition}", partition, "${Region}", region, "${Account}", account).Replace(s)
}
