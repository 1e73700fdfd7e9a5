package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/killswitch/killswitch/internal/guard"
)

// fakeOrgPolicies serves ListPoliciesForTarget one policy per page, so
// the paginator is exercised, and records DetachPolicy.
type fakeOrgPolicies struct {
	policies  []orgtypes.PolicySummary
	listErr   error
	detachErr error
	detached  []string // "policy on target"
}

func (f *fakeOrgPolicies) ListPoliciesForTarget(_ context.Context, in *organizations.ListPoliciesForTargetInput, _ ...func(*organizations.Options)) (*organizations.ListPoliciesForTargetOutput, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	if in.Filter != orgtypes.PolicyTypeServiceControlPolicy {
		return nil, errors.New("filter is not SERVICE_CONTROL_POLICY")
	}
	i := 0
	if in.NextToken != nil {
		for i < len(f.policies) && aws.ToString(f.policies[i].Id) != aws.ToString(in.NextToken) {
			i++
		}
	}
	out := &organizations.ListPoliciesForTargetOutput{}
	if i < len(f.policies) {
		out.Policies = f.policies[i : i+1]
		if i+1 < len(f.policies) {
			out.NextToken = f.policies[i+1].Id
		}
	}
	return out, nil
}

func (f *fakeOrgPolicies) DetachPolicy(_ context.Context, in *organizations.DetachPolicyInput, _ ...func(*organizations.Options)) (*organizations.DetachPolicyOutput, error) {
	if f.detachErr != nil {
		return nil, f.detachErr
	}
	f.detached = append(f.detached, aws.ToString(in.PolicyId)+" on "+aws.ToString(in.TargetId))
	return &organizations.DetachPolicyOutput{}, nil
}

func TestDetachOrgQuarantine(t *testing.T) {
	t.Parallel()
	own := orgtypes.PolicySummary{Id: aws.String("p-fullaws"), Name: aws.String("FullAWSAccess")}
	guardSCP := orgtypes.PolicySummary{Id: aws.String("p-guard"), Name: aws.String(guard.GuardSCPName)}
	quarantine := orgtypes.PolicySummary{Id: aws.String("p-quar"), Name: aws.String(guard.OrgQuarantineSCPName)}
	const account = "111122223333"
	tests := []struct {
		name         string
		fake         fakeOrgPolicies
		apply        bool
		wantDetached []string
		wantStep     scpStep
		wantLine     string
		wantErr      string
	}{
		{name: "not attached", fake: fakeOrgPolicies{policies: []orgtypes.PolicySummary{own, guardSCP}},
			wantLine: "is not attached"},
		{name: "attached, dry run: detaches nothing", fake: fakeOrgPolicies{policies: []orgtypes.PolicySummary{own, guardSCP, quarantine}},
			wantStep: scpStep{PolicyID: "p-quar", Attached: true}, wantLine: "--apply detaches it"},
		{name: "attached, apply: detaches only the quarantine", fake: fakeOrgPolicies{policies: []orgtypes.PolicySummary{own, quarantine, guardSCP}},
			apply: true, wantDetached: []string{"p-quar on " + account}, wantStep: scpStep{PolicyID: "p-quar", Attached: true, Detached: true}, wantLine: "DETACHED"},
		{name: "cannot list", fake: fakeOrgPolicies{listErr: errors.New("AccessDeniedException")}, apply: true,
			wantErr: "listing the SCPs attached to account " + account},
		{name: "cannot detach", fake: fakeOrgPolicies{policies: []orgtypes.PolicySummary{quarantine}, detachErr: errors.New("AccessDeniedException")}, apply: true,
			wantErr: "nothing was restored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.fake
			step, err := detachOrgQuarantine(context.Background(), &f, account, tc.apply)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(step.Line, tc.wantLine) {
				t.Errorf("line %q lacks %q", step.Line, tc.wantLine)
			}
			step.Line = ""
			if step != tc.wantStep {
				t.Errorf("step %+v, want %+v", step, tc.wantStep)
			}
			if strings.Join(f.detached, ",") != strings.Join(tc.wantDetached, ",") {
				t.Errorf("detached %v, want %v", f.detached, tc.wantDetached)
			}
		})
	}
}
