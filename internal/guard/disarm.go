package guard

// The disarm key is a KMS HMAC key (HMAC_256, GENERATE_VERIFY_MAC). A
// disarm carries a MAC over a message naming the account and the trip
// (internal/disarmproof); the function may only verify MACs, and the key
// policy lets nobody but the break-glass principals and the root user
// generate one. An attacker holding admin credentials, before or after the
// trip, can invoke the function, schedule it or run a function with its
// role, but cannot make a MAC it accepts.
//
// Why a key policy, not an IAM policy: KMS evaluates the key policy first,
// and an explicit Deny in it cannot be overridden by any IAM policy or
// grant ("Key policies in AWS KMS" and "Grants in AWS KMS", AWS KMS
// Developer Guide, https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html).
// The account-root statement only delegates to IAM: it lets IAM policies
// grant access to the key, as the default key policy does
// (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html,
// "Allows access to the AWS account and enables IAM policies"); the denies
// below still bind every IAM principal.
//
// HMAC keys: https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html
// (GenerateMac and VerifyMac only; an HMAC key cannot rotate automatically).

// DisarmKeySpec and DisarmKeyUsage are the disarm key's kind.
const (
	DisarmKeySpec  = "HMAC_256"
	DisarmKeyUsage = "GENERATE_VERIFY_MAC"
)

// RootARN is the account's root user.
const RootARN = "arn:${Partition}:iam::${Account}:root"

// DeployRolePatterns are the roles CloudFormation deploys the stack with:
// the CDK bootstrap's execution role (any qualifier, this account and
// region) and, in an AWS Organization's member accounts, the service-managed
// StackSet's execution role. They must keep kms:PutKeyPolicy: KMS's policy
// lockout safety check refuses a key policy that would stop the principal
// setting it from setting it again (CreateKey and PutKeyPolicy,
// BypassPolicyLockoutSafetyCheck, AWS KMS API Reference), so without them
// the deploy fails. They never get kms:GenerateMac.
var DeployRolePatterns = []string{
	"arn:${Partition}:iam::${Account}:role/cdk-*-cfn-exec-role-${Account}-${Region}",
	"arn:${Partition}:iam::${Account}:role/stacksets-exec-*",
}

// DisarmKeyTamperActions change who may use the disarm key, or make it
// unusable: denied to all but break-glass, root and the deploy roles.
var DisarmKeyTamperActions = []string{
	"kms:PutKeyPolicy", "kms:CreateGrant", "kms:RetireGrant", "kms:RevokeGrant",
	"kms:DisableKey", "kms:EnableKey", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
	"kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
	"kms:UpdateKeyDescription", "kms:TagResource", "kms:UntagResource",
	"kms:ReplicateKey", "kms:UpdatePrimaryRegion",
}

// DisarmKeyPolicy is the disarm key's policy. breakGlass are the
// break-glass principals' ARNs: with the root user, the only ones that may
// generate a disarm MAC.
//
// A key policy is a Document whose statements each name their Principal.
func DisarmKeyPolicy(breakGlass []string) Document {
	everyone := map[string][]string{"AWS": {"*"}}
	macMakers := append(append([]string{}, breakGlass...), RootARN)
	keepers := append(append([]string{}, macMakers...), DeployRolePatterns...)
	return Document{
		Version: "2012-10-17",
		Statement: []Statement{
			{
				// Delegates to IAM, so CloudFormation (through the deploy
				// role's IAM rights) and the function's role (kms:VerifyMac
				// in its IAM policy) can use the key at all.
				Sid: "EnableIAMPolicies", Effect: "Allow",
				Principal: map[string][]string{"AWS": {RootARN}},
				Action:    []string{"kms:*"}, Resource: []string{"*"},
			},
			{
				// ArnNotLike, not ArnNotEquals: a break-glass ARN may hold a
				// wildcard, as in the trip topic's policy. aws:PrincipalArn is
				// the role's ARN for a role session, and the root ARN for root.
				Sid: "OnlyBreakGlassAndRootMayMakeADisarmProof", Effect: "Deny",
				Principal: everyone, Action: []string{"kms:GenerateMac"}, Resource: []string{"*"},
				Condition: map[string]map[string][]string{"ArnNotLike": {"aws:PrincipalArn": macMakers}},
			},
			{
				Sid: "OnlyBreakGlassRootAndTheDeployMayChangeTheKey", Effect: "Deny",
				Principal: everyone, Action: DisarmKeyTamperActions, Resource: []string{"*"},
				Condition: map[string]map[string][]string{"ArnNotLike": {"aws:PrincipalArn": keepers}},
			},
		},
	}
}
