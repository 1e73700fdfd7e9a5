package cli

import (
	"context"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/killswitch/killswitch/internal/guard"
)

// scpStep is what restore --account did with the org quarantine SCP.
type scpStep struct {
	PolicyID string `json:"policyId,omitempty"`
	// Attached says whether the SCP was attached when restore looked;
	// Detached whether restore detached it.
	Attached bool   `json:"attached"`
	Detached bool   `json:"detached"`
	Line     string `json:"line"`
}

// orgPolicyAPI is what the SCP step calls in the management account.
type orgPolicyAPI interface {
	organizations.ListPoliciesForTargetAPIClient
	DetachPolicy(ctx context.Context, in *organizations.DetachPolicyInput, optFns ...func(*organizations.Options)) (*organizations.DetachPolicyOutput, error)
}

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)

// runRestoreMember restores a member account from the management account.
// The org quarantine SCP denies everyone in the member, root included,
// what a restore does, so it comes off first (with --apply); then the
// restore runs in the member through the role, exactly as it would there.
func runRestoreMember(ctx context.Context, e Env, c *common) int {
	if !accountIDPattern.MatchString(c.account) {
		fmt.Fprintf(e.Stderr, "killswitch restore: --account must be a 12-digit account ID, got %q\n", c.account)
		return ExitUsage
	}
	if c.role == "" {
		fmt.Fprintln(e.Stderr, "killswitch restore: --role must name the role to assume in the member account")
		return ExitUsage
	}
	base, err := loadConfig(ctx, c)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch restore: %v\n", err)
		return ExitFailed
	}
	stsAPI := sts.NewFromConfig(base)
	org := organizations.NewFromConfig(base)
	accounts, partition, err := orgAccounts(ctx, org, stsAPI)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch restore --account: %v\n", err)
		return ExitFailed
	}
	var acct *orgAccount
	for i := range accounts {
		if accounts[i].ID == c.account {
			acct = &accounts[i]
		}
	}
	if acct == nil {
		fmt.Fprintf(e.Stderr, "killswitch restore: account %s is not an ACTIVE account of the organization\n", c.account)
		return ExitFailed
	}

	var scp *scpStep
	if !acct.Management {
		// The management account is never bound by an SCP, and the org
		// quarantine never targets it.
		step, err := detachOrgQuarantine(ctx, org, acct.ID, c.apply)
		if err != nil {
			fmt.Fprintf(e.Stderr, "killswitch restore: %v\n", err)
			return ExitFailed
		}
		scp = &step
	}
	run := &orgRun{base: base, partition: partition, role: c.role, assume: stsAPI}
	cfg, err := run.enter(ctx, *acct)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch restore: account %s: %v\n", acct.label(), err)
		return ExitFailed
	}
	r, err := resolveIn(ctx, e, c, cfg, !acct.Management)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch restore: account %s: %v\n", acct.label(), err)
		return ExitFailed
	}
	for _, n := range r.notes {
		fmt.Fprintf(e.Stderr, "killswitch restore: account %s: %s\n", acct.ID, n)
	}
	return restoreIn(ctx, e, c, r, scp)
}

// detachOrgQuarantine finds the org quarantine SCP on the account and,
// with apply, detaches it. Only the SCP of that name is touched: other
// SCPs on the account are the organization's own.
func detachOrgQuarantine(ctx context.Context, api orgPolicyAPI, account string, apply bool) (scpStep, error) {
	pages := organizations.NewListPoliciesForTargetPaginator(api, &organizations.ListPoliciesForTargetInput{
		TargetId: aws.String(account), Filter: orgtypes.PolicyTypeServiceControlPolicy})
	var id string
	for pages.HasMorePages() && id == "" {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return scpStep{}, fmt.Errorf("listing the SCPs attached to account %s (organizations ListPoliciesForTarget, from the management account): %w", account, err)
		}
		for _, p := range page.Policies {
			if aws.ToString(p.Name) == guard.OrgQuarantineSCPName {
				id = aws.ToString(p.Id)
				break
			}
		}
	}
	switch {
	case id == "":
		return scpStep{Line: fmt.Sprintf("SCP %s is not attached to account %s; nothing to detach", guard.OrgQuarantineSCPName, account)}, nil
	case !apply:
		return scpStep{PolicyID: id, Attached: true, Line: fmt.Sprintf("SCP %s (%s) is attached to account %s: --apply detaches it before restoring", guard.OrgQuarantineSCPName, id, account)}, nil
	}
	if _, err := api.DetachPolicy(ctx, &organizations.DetachPolicyInput{PolicyId: aws.String(id), TargetId: aws.String(account)}); err != nil {
		return scpStep{}, fmt.Errorf("detaching SCP %s (%s) from account %s: %w; nothing was restored, since the SCP denies it", guard.OrgQuarantineSCPName, id, account, err)
	}
	return scpStep{PolicyID: id, Attached: true, Detached: true, Line: fmt.Sprintf("DETACHED SCP %s (%s) from account %s (an SCP change can take a minute to apply everywhere: rerun the restore if some calls were still denied)", guard.OrgQuarantineSCPName, id, account)}, nil
}
