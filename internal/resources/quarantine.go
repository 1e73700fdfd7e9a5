package resources

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
)

// QuarantineAPI is the slice of the IAM client the quarantine uses; unit
// tests put a fake behind it.
type QuarantineAPI interface {
	iam.ListUsersAPIClient
	iam.ListGroupsAPIClient
	iam.ListRolesAPIClient
	iam.ListEntitiesForPolicyAPIClient
	iam.ListGroupsForUserAPIClient
	AttachUserPolicy(ctx context.Context, in *iam.AttachUserPolicyInput, optFns ...func(*iam.Options)) (*iam.AttachUserPolicyOutput, error)
	AttachGroupPolicy(ctx context.Context, in *iam.AttachGroupPolicyInput, optFns ...func(*iam.Options)) (*iam.AttachGroupPolicyOutput, error)
	AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput, optFns ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	// The boundary fallback, for a user or role whose managed-policy slots
	// are full: read the boundary it had, then set the quarantine as its
	// boundary.
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	PutUserPermissionsBoundary(ctx context.Context, in *iam.PutUserPermissionsBoundaryInput, optFns ...func(*iam.Options)) (*iam.PutUserPermissionsBoundaryOutput, error)
	PutRolePermissionsBoundary(ctx context.Context, in *iam.PutRolePermissionsBoundaryInput, optFns ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error)
	// A group cannot have a boundary: Find counts the policies of each
	// group not yet quarantined against the account's quota, so a full
	// group is left with a reason instead of failing every re-sweep.
	GetAccountSummary(ctx context.Context, in *iam.GetAccountSummaryInput, optFns ...func(*iam.Options)) (*iam.GetAccountSummaryOutput, error)
	iam.ListAttachedGroupPoliciesAPIClient
}

// Principal types, as the report and the prior state name them.
const (
	PrincipalUser  = "user"
	PrincipalGroup = "group"
	PrincipalRole  = "role"
)

// Attribute keys Quarantine puts on a Resource.
const (
	attrPrincipalType = "principal-type"
	attrPrincipalName = "principal-name"
	attrPrincipalPath = "principal-path"
	attrPrincipalID   = "principal-id"
	// attrBreakGlassMember names the break-glass user a group holds.
	attrBreakGlassMember = "break-glass-member"
	// attrGroupFull is set on a group whose managed-policy slots are full:
	// its attached count and the account's quota.
	attrGroupFull = "group-slots-full"
	// attrOwnRole marks a role whose unique ID the stack wrote;
	// attrTrustDrift holds what its trust policy differs in, if anything.
	attrOwnRole    = "own-role"
	attrTrustDrift = "trust-drift"
	// attrNamedLikeOwn marks a role with the switch's path and one of its
	// role names whose ID is not the stack's: an impostor.
	attrNamedLikeOwn = "named-like-own-role"
	// attrMissingOwnRole marks the finding for a configured own role ID
	// that no role has.
	attrMissingOwnRole = "missing-own-role"
)

// defaultPoliciesPerGroup is IAM's default quota of managed policies per
// group, used when GetAccountSummary does not say.
const defaultPoliciesPerGroup = 10

// quarantineCalls bounds the quarantine's IAM calls in flight. IAM has no
// batch attach, and thousands of principals one call at a time take
// minutes; but IAM is one global endpoint whose control-plane throttling is
// per account and shared with the IAM trail, so a few at a time, with the
// SDK's retryer absorbing the odd Throttling, is the modest middle.
const quarantineCalls = 4

// QuarantinePrior is a principal before the quarantine policy was attached
// to it: the restore detaches the policy from exactly these.
type QuarantinePrior struct {
	PrincipalType string `json:"principalType"`
	PrincipalName string `json:"principalName"`
	PrincipalARN  string `json:"principalArn"`
	PolicyARN     string `json:"policyArn"`
	// PolicyAttached is false: Find leaves out principals that already
	// have the policy, so a restore never detaches one it did not attach.
	PolicyAttached bool `json:"policyAttached"`
}

func (p QuarantinePrior) Describe() string {
	return fmt.Sprintf("%s %s without the quarantine policy", p.PrincipalType, p.PrincipalName)
}

// BoundaryPrior is the permissions boundary a user or role had before the
// quarantine became its boundary (its managed-policy slots were full). It
// travels as a secondary change (Outcome.Also), not as the outcome's Prior:
// the restore manifest keeps the prior state of a resource's first plan,
// written before Contain ran, and that plan cannot know the attach will
// fail; the secondary changes are kept from the sweep that made them, each
// change once with its first prior state, so a re-sweep cannot overwrite
// the owner's boundary with one the attacker set in between.
type BoundaryPrior struct {
	PrincipalType string `json:"principalType"`
	PrincipalName string `json:"principalName"`
	PrincipalARN  string `json:"principalArn"`
	// PolicyARN is the quarantine policy set as the boundary.
	PolicyARN string `json:"policyArn"`
	// PreviousBoundaryARN is the boundary it had; "" for none.
	PreviousBoundaryARN string `json:"previousBoundaryArn"`
}

func (p BoundaryPrior) Describe() string {
	if p.PreviousBoundaryARN == "" {
		return fmt.Sprintf("%s %s with no permissions boundary", p.PrincipalType, p.PrincipalName)
	}
	return fmt.Sprintf("%s %s with permissions boundary %s", p.PrincipalType, p.PrincipalName, p.PreviousBoundaryARN)
}

// QuarantineOptions are the deploy-time facts the quarantine needs.
type QuarantineOptions struct {
	// PolicyARN is the deny policy the stack created.
	PolicyARN string
	// BreakGlassARNs are exempt by the engine (Policy.Exempt); the
	// quarantine needs them only to spare a group that holds one, since a
	// group's policy applies to its members.
	BreakGlassARNs []string
	// OwnRoleIDs are the unique IDs of the roles the stack created
	// (KILLSWITCH_OWN_ROLE_IDS): the only roles spared as the switch's own.
	OwnRoleIDs []string
	// Region is the stack's region, for the schedule ARN the scheduler
	// role must trust (the partition and account come from PolicyARN).
	Region string
}

// Quarantine attaches the stack's deny-launch policy to every IAM user,
// group and role, so that stolen credentials can neither launch again nor
// turn the kill switch off. It is global: IAM has no regions.
type Quarantine struct {
	api      QuarantineAPI
	opts     QuarantineOptions
	verb     engine.Verb
	boundary engine.Verb
	impostor engine.Verb
}

var (
	_ engine.Kind   = (*Quarantine)(nil)
	_ engine.Global = (*Quarantine)(nil)
)

func NewQuarantine(api QuarantineAPI, opts QuarantineOptions) *Quarantine {
	return &Quarantine{api: api, opts: opts, verb: VerbQuarantine(opts.PolicyARN), boundary: VerbQuarantineBoundary(opts.PolicyARN),
		impostor: VerbQuarantineImpostor(opts.PolicyARN)}
}

// VerbQuarantineImpostor is the quarantine of a role with the switch's
// path and one of its role names that the stack did not create: its own
// verb, so that the owner's report counts and explains it apart.
func VerbQuarantineImpostor(policyARN string) engine.Verb {
	v := VerbQuarantine(policyARN)
	return engine.Verb{
		Past: "quarantine policy attached to a role named like the switch's",
		Plan: "attach the quarantine policy to a role named like the switch's",
		Note: "these roles have the kill switch's path (" + guard.RolePath + ") and one of its role names, but the stack did not create them " +
			"(their unique IDs are not the ones it wrote): someone made them to pass for the switch. They are quarantined like any other; " +
			"find who created them in CloudTrail and delete them. " + v.Note,
	}
}

// VerbQuarantineBoundary is the verb for a user or role quarantined through
// its permissions boundary, its managed-policy slots being full. A boundary
// caps what the principal's policies allow, so the quarantine's deny holds
// and its allow-all leaves nothing above the cap. It is constant (the
// restore manifest keeps each secondary change once, by its verb); the
// outcome's note names the boundary it replaced.
func VerbQuarantineBoundary(policyARN string) engine.Verb {
	return engine.Verb{
		Past: "quarantine set as permissions boundary",
		Plan: "set the quarantine policy as permissions boundary",
		Note: "their managed-policy slots were full (IAM allows 10 by default), so the quarantine policy is their permissions boundary instead, " +
			"replacing the boundary they had; `killswitch restore` puts that boundary back. To lift it by hand, as the root user or a break-glass principal: " +
			"`aws iam delete-user-permissions-boundary --user-name NAME` (delete-role-permissions-boundary --role-name), or " +
			"`aws iam put-user-permissions-boundary --user-name NAME --permissions-boundary PREVIOUS` to put back the one the note names. " +
			"The quarantine policy is " + policyARN + ".",
	}
}

// Verbs of the own-role checks: nothing is changed, and the outcome is
// always a failure, so the report carries it as loudly as a failed stop.
var (
	verbTrustDrift = engine.Verb{Past: "own role's trust checked", Plan: "check the own role's trust policy"}
	verbOwnMissing = engine.Verb{Past: "own role looked up", Plan: "look up the own role"}
)

// VerbQuarantine is the quarantine's verb for the policy. Its note tells
// the owner, in the report, how to lift the quarantine: only a principal
// the policy does not bind can detach it.
func VerbQuarantine(policyARN string) engine.Verb {
	return engine.Verb{
		Past: "quarantine policy attached",
		Plan: "attach the quarantine policy",
		Note: "it denies them every AWS call but sts:GetCallerIdentity and assuming a break-glass role: no launching, no new users or keys, no changing the kill switch, in any service. " +
			"To lift it, sign in as the root user or a break-glass principal; " +
			"`aws iam list-entities-for-policy --policy-arn " + policyARN + "` lists everyone it is attached to, and " +
			"`aws iam detach-user-policy --user-name NAME --policy-arn " + policyARN + "` " +
			"(detach-role-policy --role-name, detach-group-policy --group-name) lifts it from each. " +
			"Lift it only once the attacker's users, keys and roles are gone, or the switch re-applies it at the next re-sweep while it stays tripped.",
	}
}

func (*Quarantine) Name() string { return "IAM principals" }
func (*Quarantine) Noun() string { return "principal" }
func (*Quarantine) Global() bool { return true }

// Find lists every user, group and role without the policy. AWS-managed
// roles are left out: IAM refuses customer policies on service-linked roles
// and AWS owns the reserved ones. The kill switch's own roles, known by the
// unique IDs the stack wrote, are listed with what their trust policies
// differ in from the stack's, and Decide leaves them alone, so the report
// says so; an own role ID no role has is listed too, to be reported.
func (k *Quarantine) Find(ctx context.Context, _ string) ([]engine.Resource, error) {
	if k.opts.PolicyARN == "" {
		return nil, errors.New("no quarantine policy ARN (KILLSWITCH_QUARANTINE_POLICY_ARN) is set")
	}
	attached, err := k.attachedIDs(ctx)
	if err != nil {
		// Without it every principal would be attached again, which IAM
		// accepts; but a listing that fails here fails below too.
		return nil, err
	}
	holding, err := k.breakGlassGroups(ctx)
	if err != nil {
		return nil, err
	}

	var found []engine.Resource
	add := func(typ, id, arn, name, path string) *engine.Resource {
		r := engine.Resource{
			ID:         arn,
			State:      "not quarantined",
			Attributes: map[string]string{attrPrincipalType: typ, attrPrincipalName: name, attrPrincipalPath: path, attrPrincipalID: id},
			Prior:      QuarantinePrior{PrincipalType: typ, PrincipalName: name, PrincipalARN: arn, PolicyARN: k.opts.PolicyARN},
		}
		if typ == PrincipalGroup && holding[name] != "" {
			r.Attributes[attrBreakGlassMember] = holding[name]
		}
		found = append(found, r)
		return &found[len(found)-1]
	}

	users := iam.NewListUsersPaginator(k.api, &iam.ListUsersInput{})
	for users.HasMorePages() {
		page, err := users.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("listing IAM users: %w", err)
		}
		for _, u := range page.Users {
			if !attached[aws.ToString(u.UserId)] {
				add(PrincipalUser, aws.ToString(u.UserId), aws.ToString(u.Arn), aws.ToString(u.UserName), aws.ToString(u.Path))
			}
		}
	}
	groups := iam.NewListGroupsPaginator(k.api, &iam.ListGroupsInput{})
	var open []int // indexes in found of groups to quarantine
	for groups.HasMorePages() {
		page, err := groups.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("listing IAM groups: %w", err)
		}
		for _, g := range page.Groups {
			if !attached[aws.ToString(g.GroupId)] {
				r := add(PrincipalGroup, aws.ToString(g.GroupId), aws.ToString(g.Arn), aws.ToString(g.GroupName), aws.ToString(g.Path))
				if r.Attributes[attrBreakGlassMember] == "" {
					open = append(open, len(found)-1)
				}
			}
		}
	}
	// Without the count a full group is attempted and fails loudly; the
	// roles are still listed and quarantined, and the error reported.
	groupErr := k.markFullGroups(ctx, found, open)
	seenOwn := map[string]bool{}
	roles := iam.NewListRolesPaginator(k.api, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("listing IAM roles: %w", err)
		}
		for _, r := range page.Roles {
			path, name, id := aws.ToString(r.Path), aws.ToString(r.RoleName), aws.ToString(r.RoleId)
			if guard.AWSManagedRolePath(path) {
				continue
			}
			own := slices.Contains(k.opts.OwnRoleIDs, id)
			if own {
				seenOwn[id] = true
			}
			// An own role is listed even when it holds the quarantine
			// policy: that is drift to report, not a principal to skip.
			if attached[id] && !own {
				continue
			}
			res := add(PrincipalRole, id, aws.ToString(r.Arn), name, path)
			switch {
			case own:
				res.Attributes[attrOwnRole] = "true"
				res.State = "the kill switch's own role"
				if drift := k.ownRoleDrift(path, name, aws.ToString(r.AssumeRolePolicyDocument), attached[id]); len(drift) > 0 {
					res.Attributes[attrTrustDrift] = strings.Join(drift, "; ")
				}
			case guard.OwnRole(path, name):
				res.Attributes[attrNamedLikeOwn] = "true"
			}
		}
	}
	for _, id := range k.opts.OwnRoleIDs {
		if !seenOwn[id] {
			found = append(found, engine.Resource{ID: "own-role/" + id, State: "not found",
				Attributes: map[string]string{attrMissingOwnRole: id}})
		}
	}
	return found, groupErr
}

// ownRoleDrift is what an own role differs in from what the stack deployed:
// its path and name (a role ID the stack wrote must be one of its roles),
// its trust policy, and whether it holds the quarantine policy (which would
// bind the switch itself).
func (k *Quarantine) ownRoleDrift(path, name, trustDoc string, quarantined bool) []string {
	var drift []string
	if quarantined {
		drift = append(drift, "it holds the quarantine policy (attached, or as its permissions boundary), which binds the switch itself")
	}
	if !guard.OwnRole(path, name) {
		return append(drift, fmt.Sprintf("its path and name %s%s are not one of the stack's roles (%s%s)", path, name, guard.RolePath, strings.Join(guard.OwnRoleNames, ", ")))
	}
	partition, account := arnPartitionAccount(k.opts.PolicyARN)
	want := OwnRoleTrust(partition, k.opts.Region, account)[name]
	if trustDoc == "" {
		return append(drift, "IAM returned no trust policy for it, so what it trusts cannot be checked")
	}
	return append(drift, CheckTrust(trustDoc, want)...)
}

// arnPartitionAccount reads the partition and account of an ARN.
func arnPartitionAccount(arn string) (partition, account string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "", ""
	}
	return parts[1], parts[4]
}

// markFullGroups marks the groups (found[i] for i in open) whose managed-
// policy slots are full. A group cannot have a permissions boundary, so
// nothing more can be attached to it; every member is a user the
// quarantine covers one by one, so the group's own grants no longer reach
// anyone unquarantined. One GetAccountSummary for the account's quota (it
// may have been raised to 20) and one listing per group not yet
// quarantined: groups are few (300 per account by default).
func (k *Quarantine) markFullGroups(ctx context.Context, found []engine.Resource, open []int) error {
	if len(open) == 0 {
		return nil
	}
	quota := defaultPoliciesPerGroup
	sum, err := k.api.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		return fmt.Errorf("reading the account's IAM quotas (GetAccountSummary): %w", err)
	}
	if q, ok := sum.SummaryMap["AttachedPoliciesPerGroupQuota"]; ok && q > 0 {
		quota = int(q)
	}
	for _, i := range open {
		name := found[i].Attributes[attrPrincipalName]
		n := 0
		pages := iam.NewListAttachedGroupPoliciesPaginator(k.api, &iam.ListAttachedGroupPoliciesInput{GroupName: aws.String(name)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("counting the managed policies of group %s: %w", name, err)
			}
			n += len(page.AttachedPolicies)
		}
		if n >= quota {
			found[i].Attributes[attrGroupFull] = fmt.Sprintf("%d of %d", n, quota)
		}
	}
	return nil
}

// attachedIDs are the unique IDs of the principals that already have the
// policy: one listing instead of one call per principal. IDs, not names: a
// principal deleted and re-created under the same name is a new one.
//
// No PolicyUsageFilter: IAM then lists the principals that have the policy
// attached AND those that have it as their permissions boundary
// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListEntitiesForPolicy.html),
// so a principal quarantined through its boundary is not listed again.
// moto ignores the filter and lists attachments only; there a boundary
// holder is found again, and Contain, finding the quarantine already its
// boundary, reports it as nothing to do (StatusGone), changing nothing.
func (k *Quarantine) attachedIDs(ctx context.Context) (map[string]bool, error) {
	ids := map[string]bool{}
	pages := iam.NewListEntitiesForPolicyPaginator(k.api, &iam.ListEntitiesForPolicyInput{PolicyArn: aws.String(k.opts.PolicyARN)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing who has the quarantine policy %s: %w", k.opts.PolicyARN, err)
		}
		for _, u := range page.PolicyUsers {
			ids[aws.ToString(u.UserId)] = true
		}
		for _, g := range page.PolicyGroups {
			ids[aws.ToString(g.GroupId)] = true
		}
		for _, r := range page.PolicyRoles {
			ids[aws.ToString(r.RoleId)] = true
		}
	}
	return ids, nil
}

// breakGlassGroups maps each group that holds a break-glass user to that
// user's name. A break-glass user that does not exist holds no group.
func (k *Quarantine) breakGlassGroups(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, arn := range k.opts.BreakGlassARNs {
		name, ok := userNameFromARN(arn)
		if !ok {
			continue
		}
		pages := iam.NewListGroupsForUserPaginator(k.api, &iam.ListGroupsForUserInput{UserName: aws.String(name)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if errorCode(err) == "NoSuchEntity" {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("listing the groups of break-glass user %s: %w", name, err)
			}
			for _, g := range page.Groups {
				out[aws.ToString(g.GroupName)] = name
			}
		}
	}
	return out, nil
}

// userNameFromARN is the name of an IAM user ARN (the last path element).
func userNameFromARN(arn string) (string, bool) {
	_, resource, ok := strings.Cut(arn, ":user/")
	if !ok || resource == "" {
		return "", false
	}
	return resource[strings.LastIndex(resource, "/")+1:], true
}

// Decide quarantines every principal but the kill switch's own roles (by
// their unique IDs) and the groups of break-glass users (break-glass
// principals themselves are exempt by the engine, by ARN). An own role
// whose trust drifted, and an own role ID that no role has, are reported
// as failures; nothing is changed for them.
func (k *Quarantine) Decide(r engine.Resource) engine.Decision {
	typ, name := r.Attributes[attrPrincipalType], r.Attributes[attrPrincipalName]
	switch {
	case r.Attributes[attrMissingOwnRole] != "":
		return engine.Act(r, verbOwnMissing, "the stack's own role "+r.Attributes[attrMissingOwnRole]+" does not exist")
	case r.Attributes[attrOwnRole] != "" && r.Attributes[attrTrustDrift] != "":
		return engine.Act(r, verbTrustDrift, "the kill switch's own role "+name+" no longer is what the stack deployed")
	case r.Attributes[attrOwnRole] != "":
		return engine.Leave(r, "the kill switch's own role (ID "+r.Attributes[attrPrincipalID]+", path "+guard.RolePath+"): quarantining it would stop the switch; its trust policy is as the stack deployed it")
	case typ == PrincipalGroup && r.Attributes[attrBreakGlassMember] != "":
		return engine.Leave(r, "holds break-glass user "+r.Attributes[attrBreakGlassMember]+
			"; its other members are quarantined one by one instead")
	case typ == PrincipalGroup && r.Attributes[attrGroupFull] != "":
		return engine.Leave(r, "its managed-policy slots are full ("+r.Attributes[attrGroupFull]+
			" attached) and a group cannot have a permissions boundary; its members are quarantined one by one instead")
	case r.Attributes[attrNamedLikeOwn] != "":
		return engine.Act(r, k.impostor, "named like the kill switch's own role "+guard.RolePath+name+", but its ID "+r.Attributes[attrPrincipalID]+" is not one the stack created")
	}
	return engine.Act(r, k.verb, "quarantine is deny-launch: the "+typ+" could launch again or turn the kill switch off")
}

// Contain attaches the policy to each principal, one call each (IAM has no
// batch call), a few at a time. A user or role whose managed-policy slots
// are full gets the quarantine as its permissions boundary instead. A
// principal deleted meanwhile is gone, not failed.
func (k *Quarantine) Contain(ctx context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	return containEachAtMost(ctx, quarantineCalls, todo, k.containOne)
}

func (k *Quarantine) containOne(ctx context.Context, d engine.Decision) engine.Outcome {
	r := d.Resource
	o := engine.Outcome{ID: r.ID, Verb: d.Verb, Prior: r.Prior, Status: engine.StatusFailed}
	switch d.Verb {
	case verbOwnMissing:
		o.Code = "OwnRoleNotFound"
		o.Message = "no IAM role has the ID " + r.Attributes[attrMissingOwnRole] + ", which the stack wrote as one of its own (" + settingOwnRoleIDs +
			"): the role was deleted, or the setting was changed. The switch may be unable to run or re-sweep. " + redeployFix
		return o
	case verbTrustDrift:
		o.Code = "OwnRoleDrift"
		o.Message = "the kill switch's own role " + r.Attributes[attrPrincipalPath] + r.Attributes[attrPrincipalName] + " (" + r.ID + ") is not as the stack deployed it: " +
			r.Attributes[attrTrustDrift] + ". Whoever it trusts can act as the switch. " + redeployFix
		return o
	}
	if r.Attributes[attrNamedLikeOwn] != "" {
		o.Note = "named like the kill switch's own role (" + r.Attributes[attrPrincipalPath] + r.Attributes[attrPrincipalName] + ") but not the stack's: its ID " +
			r.Attributes[attrPrincipalID] + " is not one the stack created, so it is quarantined like any other; someone made it to pass for the switch"
	}
	err := k.attach(ctx, r)
	switch code := errorCode(err); {
	case err == nil:
		o.Status = engine.StatusDone
	case code == "NoSuchEntity":
		o.Status, o.Code, o.Message = engine.StatusGone, code, err.Error()
	case code == "LimitExceeded" && r.Attributes[attrPrincipalType] != PrincipalGroup:
		return k.viaBoundary(ctx, d, o)
	default:
		o.Code, o.Message = code, err.Error()
	}
	return o
}

// settingOwnRoleIDs and redeployFix are for the own-role failures.
const (
	settingOwnRoleIDs = "KILLSWITCH_OWN_ROLE_IDS"
	redeployFix       = "Fix: as a break-glass principal or the root user, redeploy the stack (cdk deploy), which puts the roles and their trust policies back, and find who changed them in CloudTrail."
)

// viaBoundary quarantines a user or role whose managed-policy slots are
// full (AttachUserPolicy/AttachRolePolicy answered LimitExceeded) through
// its permissions boundary, which does not count against that quota. It
// reads the boundary the principal had first (GetUser/GetRole: ListUsers
// and ListRoles do not return PermissionsBoundary) and records it as a
// secondary change, for the restore.
func (k *Quarantine) viaBoundary(ctx context.Context, d engine.Decision, o engine.Outcome) engine.Outcome {
	r := d.Resource
	typ, name := r.Attributes[attrPrincipalType], aws.String(r.Attributes[attrPrincipalName])
	policy := aws.String(k.opts.PolicyARN)
	fail := func(err error, what string) engine.Outcome {
		o.Status, o.Code = engine.StatusFailed, errorCode(err)
		o.Message = fmt.Sprintf("its managed-policy slots are full (LimitExceeded), and %s failed: %v; the %s is NOT quarantined", what, err, typ)
		if o.Code == "NoSuchEntity" {
			o.Status = engine.StatusGone
		}
		return o
	}
	var previous string
	switch typ {
	case PrincipalUser:
		got, err := k.api.GetUser(ctx, &iam.GetUserInput{UserName: name})
		if err != nil {
			return fail(err, "reading its permissions boundary (GetUser)")
		}
		if got.User != nil && got.User.PermissionsBoundary != nil {
			previous = aws.ToString(got.User.PermissionsBoundary.PermissionsBoundaryArn)
		}
	case PrincipalRole:
		got, err := k.api.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
		if err != nil {
			return fail(err, "reading its permissions boundary (GetRole)")
		}
		if got.Role != nil && got.Role.PermissionsBoundary != nil {
			previous = aws.ToString(got.Role.PermissionsBoundary.PermissionsBoundaryArn)
		}
	default:
		return fail(fmt.Errorf("unknown principal type %q", typ), "setting a boundary")
	}
	o.Verb = k.boundary
	if previous == k.opts.PolicyARN {
		// Already quarantined through its boundary (a listing that does
		// not show boundaries, such as moto's): nothing to change.
		o.Status, o.Message = engine.StatusGone, "already quarantined: the quarantine policy is its permissions boundary"
		return o
	}
	var err error
	if typ == PrincipalUser {
		_, err = k.api.PutUserPermissionsBoundary(ctx, &iam.PutUserPermissionsBoundaryInput{UserName: name, PermissionsBoundary: policy})
	} else {
		_, err = k.api.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: name, PermissionsBoundary: policy})
	}
	if err != nil {
		return fail(err, "setting the quarantine as its permissions boundary")
	}
	o.Status = engine.StatusDone
	o.Also = []engine.Change{{Verb: k.boundary, Prior: BoundaryPrior{PrincipalType: typ, PrincipalName: aws.ToString(name), PrincipalARN: r.ID,
		PolicyARN: k.opts.PolicyARN, PreviousBoundaryARN: previous}}}
	replaced := "it had no permissions boundary before"
	if previous != "" {
		replaced = "its previous permissions boundary " + previous + " was replaced (the restore puts it back)"
	}
	o.Note = strings.TrimSpace(o.Note + " Quarantined through its permissions boundary: its managed-policy slots are full (LimitExceeded), so the quarantine policy is now the " +
		typ + "'s permissions boundary; " + replaced + ".")
	return o
}

func (k *Quarantine) attach(ctx context.Context, r engine.Resource) error {
	policy, name := aws.String(k.opts.PolicyARN), aws.String(r.Attributes[attrPrincipalName])
	var err error
	switch typ := r.Attributes[attrPrincipalType]; typ {
	case PrincipalUser:
		_, err = k.api.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: name, PolicyArn: policy})
	case PrincipalGroup:
		_, err = k.api.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: name, PolicyArn: policy})
	case PrincipalRole:
		_, err = k.api.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: name, PolicyArn: policy})
	default:
		err = fmt.Errorf("unknown principal type %q", typ)
	}
	return err
}
