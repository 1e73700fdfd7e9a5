package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
)

// QuarantineRestoreAPI is what lifting the quarantine calls, with the
// operator's credentials (see kinds_restore.go). The quarantine policy
// denies detaching itself, so only the root user or a principal it was
// never attached to (break-glass) can do this.
type QuarantineRestoreAPI interface {
	iam.ListEntitiesForPolicyAPIClient
	DetachUserPolicy(ctx context.Context, in *iam.DetachUserPolicyInput, optFns ...func(*iam.Options)) (*iam.DetachUserPolicyOutput, error)
	DetachGroupPolicy(ctx context.Context, in *iam.DetachGroupPolicyInput, optFns ...func(*iam.Options)) (*iam.DetachGroupPolicyOutput, error)
	DetachRolePolicy(ctx context.Context, in *iam.DetachRolePolicyInput, optFns ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	// A boundary set by the fallback is read back, then put back or
	// removed.
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	PutUserPermissionsBoundary(ctx context.Context, in *iam.PutUserPermissionsBoundaryInput, optFns ...func(*iam.Options)) (*iam.PutUserPermissionsBoundaryOutput, error)
	PutRolePermissionsBoundary(ctx context.Context, in *iam.PutRolePermissionsBoundaryInput, optFns ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error)
	DeleteUserPermissionsBoundary(ctx context.Context, in *iam.DeleteUserPermissionsBoundaryInput, optFns ...func(*iam.Options)) (*iam.DeleteUserPermissionsBoundaryOutput, error)
	DeleteRolePermissionsBoundary(ctx context.Context, in *iam.DeleteRolePermissionsBoundaryInput, optFns ...func(*iam.Options)) (*iam.DeleteRolePermissionsBoundaryOutput, error)
}

var _ engine.Restorer = (*Quarantine)(nil)

// stackPolicyARN is the form of the stack's own quarantine policy: fixed
// name, no path, a 12-digit account (never AWS's managed policies).
var stackPolicyARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:policy/` + regexp.QuoteMeta(guard.QuarantinePolicyName) + `$`)

// policyARNShape is any customer or AWS managed policy ARN, for a boundary
// to put back.
var policyARNShape = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}$`)

// Restore detaches the quarantine policy from exactly the principals the
// trip attached it to (Find never lists one that already had it), read
// from each item's prior state, so a principal quarantined by hand stays
// so; and for one quarantined through its permissions boundary, puts back
// the boundary it had (or removes it, if it had none) while the boundary
// still is the quarantine.
//
// The manifest is not authenticated: anyone who could write the bucket
// could write an item. So the restore only ever detaches or removes the
// stack's own quarantine policy, the ARN the settings name, whatever an
// item claims; an item naming another policy is refused. The worst a
// forged item can do is lift the quarantine from a principal, which the
// operator running the restore asked for anyway, or put back a boundary,
// which only narrows what a principal may do.
func (k *Quarantine) Restore(ctx context.Context, _ string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.api.(QuarantineRestoreAPI)
	if !ok {
		return failAll(items, "", "this IAM client cannot detach policies")
	}
	own := k.opts.PolicyARN
	if !stackPolicyARN.MatchString(own) {
		return failAll(items, "", fmt.Sprintf("the quarantine policy to lift, %q, is not the stack's (arn:PARTITION:iam::ACCOUNT:policy/%s): refusing to detach anything", own, guard.QuarantinePolicyName))
	}
	var attached map[string]bool // "type/name" of who has it attached
	out := make([]engine.RestoreResult, 0, len(items))
	for _, it := range items {
		if it.Verb == verbTrustDrift || it.Verb == verbOwnMissing {
			out = append(out, engine.AlreadyRestored(it.ID, "nothing was changed: the sweep reported the switch's own role, it did not touch it"))
			continue
		}
		prior, err := decodePrior[QuarantinePrior](it)
		if err != nil {
			out = append(out, engine.LeftAlone(it.ID, fmt.Sprintf("IAM principal %s: %v", it.ID, err)))
			continue
		}
		if prior.PolicyARN != own {
			out = append(out, engine.LeftAlone(it.ID, fmt.Sprintf("refused: the manifest says the quarantine policy of %s %s was %s, not the stack's %s; "+
				"the restore detaches only the stack's own policy (a manifest is not authenticated and may have been written by someone else)",
				prior.PrincipalType, prior.PrincipalName, prior.PolicyARN, own)))
			continue
		}
		boundary, err := boundaryChange(it, prior, own)
		if err != nil {
			out = append(out, engine.LeftAlone(it.ID, err.Error()))
			continue
		}
		if attached == nil {
			if attached, err = policyEntities(ctx, api, own, iamtypes.PolicyUsageTypePermissionsPolicy); err != nil {
				return append(out, failAll(items[len(out):], "detach the quarantine policy", err.Error())...)
			}
		}
		out = append(out, k.restoreOne(ctx, api, it.ID, prior, boundary, attached[prior.PrincipalType+"/"+prior.PrincipalName], dryRun))
	}
	return out
}

// boundaryChange is the item's boundary fallback, if it had one, checked
// against the item itself and the stack's policy.
func boundaryChange(it engine.RestoreItem, prior QuarantinePrior, own string) (*BoundaryPrior, error) {
	for _, c := range it.Also {
		if c.Verb.Past != VerbQuarantineBoundary("").Past {
			continue
		}
		b, err := decodePrior[BoundaryPrior](engine.RestoreItem{Prior: rawOf(c.Prior)})
		if err != nil {
			return nil, fmt.Errorf("IAM principal %s: its permissions boundary change: %v", it.ID, err)
		}
		switch {
		case b.PolicyARN != own:
			return nil, fmt.Errorf("refused: the manifest says %s %s got %s as its boundary, not the stack's quarantine policy %s; the restore removes only the stack's own policy",
				b.PrincipalType, b.PrincipalName, b.PolicyARN, own)
		case b.PrincipalType != prior.PrincipalType || b.PrincipalName != prior.PrincipalName:
			return nil, fmt.Errorf("refused: the manifest's boundary change for %s names %s %s, not %s %s", it.ID, b.PrincipalType, b.PrincipalName, prior.PrincipalType, prior.PrincipalName)
		case b.PreviousBoundaryARN != "" && !policyARNShape.MatchString(b.PreviousBoundaryARN):
			return nil, fmt.Errorf("refused: the manifest's previous boundary %q for %s %s is not a managed policy ARN", b.PreviousBoundaryARN, b.PrincipalType, b.PrincipalName)
		}
		return &b, nil
	}
	return nil, nil
}

func (k *Quarantine) restoreOne(ctx context.Context, api QuarantineRestoreAPI, id string, prior QuarantinePrior, boundary *BoundaryPrior, attached, dryRun bool) engine.RestoreResult {
	var acts, already []string
	if attached {
		acts = append(acts, "detach the quarantine policy")
	} else {
		already = append(already, "the quarantine policy is not attached (or the "+prior.PrincipalType+" no longer exists)")
	}
	current := ""
	if boundary != nil {
		var err error
		current, err = currentBoundary(ctx, api, prior.PrincipalType, prior.PrincipalName)
		switch {
		case errorCode(err) == "NoSuchEntity":
			boundary = nil
			already = append(already, "the "+prior.PrincipalType+" no longer exists")
		case err != nil:
			return engine.RestoreFailure(id, "put back its permissions boundary", fmt.Sprintf("reading the permissions boundary of %s %s: %v", prior.PrincipalType, prior.PrincipalName, err))
		case current != k.opts.PolicyARN:
			boundary = nil
			already = append(already, fmt.Sprintf("its permissions boundary is no longer the quarantine (it is %q): left as it is", current))
		case boundary.PreviousBoundaryARN == "":
			acts = append(acts, "remove the quarantine permissions boundary (it had none)")
		default:
			acts = append(acts, "put back permissions boundary "+boundary.PreviousBoundaryARN)
		}
	}
	if len(acts) == 0 {
		return engine.AlreadyRestored(id, strings.Join(already, "; "))
	}
	act := strings.Join(acts, "; ")
	if dryRun {
		return engine.Restored(id, act, true)
	}
	if attached {
		if err := detach(ctx, api, prior, k.opts.PolicyARN); err != nil {
			return engine.RestoreFailure(id, act, fmt.Sprintf("detaching %s from %s %s: %v (only the root user or a break-glass principal can)",
				k.opts.PolicyARN, prior.PrincipalType, prior.PrincipalName, err))
		}
	}
	if boundary != nil {
		if err := putBackBoundary(ctx, api, *boundary); err != nil {
			return engine.RestoreFailure(id, act, fmt.Sprintf("putting back the permissions boundary of %s %s: %v (only the root user or a break-glass principal can)",
				prior.PrincipalType, prior.PrincipalName, err))
		}
	}
	return engine.Restored(id, act, false)
}

func currentBoundary(ctx context.Context, api QuarantineRestoreAPI, typ, name string) (string, error) {
	switch typ {
	case PrincipalUser:
		got, err := api.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
		if err != nil || got.User == nil || got.User.PermissionsBoundary == nil {
			return "", err
		}
		return aws.ToString(got.User.PermissionsBoundary.PermissionsBoundaryArn), nil
	case PrincipalRole:
		got, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil || got.Role == nil || got.Role.PermissionsBoundary == nil {
			return "", err
		}
		return aws.ToString(got.Role.PermissionsBoundary.PermissionsBoundaryArn), nil
	}
	return "", fmt.Errorf("a %s has no permissions boundary", typ)
}

func putBackBoundary(ctx context.Context, api QuarantineRestoreAPI, b BoundaryPrior) error {
	name := aws.String(b.PrincipalName)
	var err error
	switch {
	case b.PrincipalType == PrincipalUser && b.PreviousBoundaryARN == "":
		_, err = api.DeleteUserPermissionsBoundary(ctx, &iam.DeleteUserPermissionsBoundaryInput{UserName: name})
	case b.PrincipalType == PrincipalUser:
		_, err = api.PutUserPermissionsBoundary(ctx, &iam.PutUserPermissionsBoundaryInput{UserName: name, PermissionsBoundary: aws.String(b.PreviousBoundaryARN)})
	case b.PrincipalType == PrincipalRole && b.PreviousBoundaryARN == "":
		_, err = api.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: name})
	case b.PrincipalType == PrincipalRole:
		_, err = api.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: name, PermissionsBoundary: aws.String(b.PreviousBoundaryARN)})
	default:
		err = fmt.Errorf("unknown principal type %q", b.PrincipalType)
	}
	return err
}

// policyEntities lists who has the policy, as "type/name". usage narrows
// it to attachments or boundaries; "" lists both (IAM's default).
func policyEntities(ctx context.Context, api iam.ListEntitiesForPolicyAPIClient, policyARN string, usage iamtypes.PolicyUsageType) (map[string]bool, error) {
	names := map[string]bool{}
	pages := iam.NewListEntitiesForPolicyPaginator(api, &iam.ListEntitiesForPolicyInput{PolicyArn: aws.String(policyARN), PolicyUsageFilter: usage})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing who has the quarantine policy %s: %w", policyARN, err)
		}
		for _, u := range page.PolicyUsers {
			names[PrincipalUser+"/"+aws.ToString(u.UserName)] = true
		}
		for _, g := range page.PolicyGroups {
			names[PrincipalGroup+"/"+aws.ToString(g.GroupName)] = true
		}
		for _, r := range page.PolicyRoles {
			names[PrincipalRole+"/"+aws.ToString(r.RoleName)] = true
		}
	}
	return names, nil
}

// detach detaches the stack's policy, never the ARN an item names.
func detach(ctx context.Context, api QuarantineRestoreAPI, p QuarantinePrior, policyARN string) error {
	policy, name := aws.String(policyARN), aws.String(p.PrincipalName)
	var err error
	switch p.PrincipalType {
	case PrincipalUser:
		_, err = api.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: name, PolicyArn: policy})
	case PrincipalGroup:
		_, err = api.DetachGroupPolicy(ctx, &iam.DetachGroupPolicyInput{GroupName: name, PolicyArn: policy})
	case PrincipalRole:
		_, err = api.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: name, PolicyArn: policy})
	default:
		err = fmt.Errorf("unknown principal type %q", p.PrincipalType)
	}
	return err
}

// QuarantineHolders counts the principals the quarantine policy holds,
// attached or as their permissions boundary, for the CLI's status.
func QuarantineHolders(ctx context.Context, api iam.ListEntitiesForPolicyAPIClient, policyARN string) (int, error) {
	names, err := policyEntities(ctx, api, policyARN, "")
	return len(names), err
}
