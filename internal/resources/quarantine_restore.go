package resources

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/killswitch/killswitch/internal/engine"
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
}

var _ engine.Restorer = (*Quarantine)(nil)

// Restore detaches the quarantine policy from exactly the principals the
// trip attached it to (Find never lists one that already had it), read
// from each item's prior state, so a principal quarantined by hand stays so.
func (k *Quarantine) Restore(ctx context.Context, _ string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.api.(QuarantineRestoreAPI)
	if !ok {
		return failAll(items, "", "this IAM client cannot detach policies")
	}
	attached := map[string]map[string]bool{} // policy ARN -> "type/name"
	out := make([]engine.RestoreResult, 0, len(items))
	for _, it := range items {
		prior, err := decodePrior[QuarantinePrior](it)
		if err != nil {
			out = append(out, engine.LeftAlone(it.ID, fmt.Sprintf("IAM principal %s: %v", it.ID, err)))
			continue
		}
		if attached[prior.PolicyARN] == nil {
			names, err := policyEntities(ctx, api, prior.PolicyARN)
			if err != nil {
				return append(out, failAll(items[len(out):], "detach the quarantine policy", err.Error())...)
			}
			attached[prior.PolicyARN] = names
		}
		if !attached[prior.PolicyARN][prior.PrincipalType+"/"+prior.PrincipalName] {
			out = append(out, engine.AlreadyRestored(it.ID, "the quarantine policy is not attached (or the "+prior.PrincipalType+" no longer exists)"))
			continue
		}
		act := "detach the quarantine policy"
		if dryRun {
			out = append(out, engine.Restored(it.ID, act, true))
			continue
		}
		if err := detach(ctx, api, prior); err != nil {
			out = append(out, engine.RestoreFailure(it.ID, act, fmt.Sprintf("detaching %s from %s %s: %v (only the root user or a break-glass principal can)",
				prior.PolicyARN, prior.PrincipalType, prior.PrincipalName, err)))
			continue
		}
		out = append(out, engine.Restored(it.ID, act, false))
	}
	return out
}

// policyEntities lists who has the policy, as "type/name".
func policyEntities(ctx context.Context, api iam.ListEntitiesForPolicyAPIClient, policyARN string) (map[string]bool, error) {
	names := map[string]bool{}
	pages := iam.NewListEntitiesForPolicyPaginator(api, &iam.ListEntitiesForPolicyInput{PolicyArn: aws.String(policyARN)})
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

func detach(ctx context.Context, api QuarantineRestoreAPI, p QuarantinePrior) error {
	policy, name := aws.String(p.PolicyARN), aws.String(p.PrincipalName)
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

// QuarantineHolders counts the principals the quarantine policy is
// attached to, for the CLI's status.
func QuarantineHolders(ctx context.Context, api iam.ListEntitiesForPolicyAPIClient, policyARN string) (int, error) {
	names, err := policyEntities(ctx, api, policyARN)
	return len(names), err
}
