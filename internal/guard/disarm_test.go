package guard_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/iamsim"
)

// Who may make a disarm proof, and who may change the key: evaluated as
// KMS does for the key policy's explicit denies (no IAM policy or grant
// overrides them; the account-root statement only delegates to IAM).
func TestDisarmKeyPolicy(t *testing.T) {
	t.Parallel()
	const acct, region = "111122223333", "eu-west-1"
	bg := []string{"arn:aws:iam::" + acct + ":role/break-glass", "arn:aws:iam::" + acct + ":user/owner-*"}
	p := guard.DisarmKeyPolicy(bg).Resolve("aws", region, acct)
	var keyPolicy map[string]any
	if b, err := json.Marshal(p); err != nil || json.Unmarshal(b, &keyPolicy) != nil {
		t.Fatalf("key policy does not round-trip through JSON: %v", err)
	}
	keyARN := "arn:aws:kms:" + region + ":" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"

	root := "arn:aws:iam::" + acct + ":root"
	adminRole := "arn:aws:iam::" + acct + ":role/Admin"
	fnRole := "arn:aws:iam::" + acct + ":role/killswitch/killswitch-function"
	cdkExec := "arn:aws:iam::" + acct + ":role/cdk-hnb659fds-cfn-exec-role-" + acct + "-" + region
	stackSetExec := "arn:aws:iam::" + acct + ":role/stacksets-exec-0123456789abcdef"
	cases := []struct {
		who, principal, action string
		want                   bool
	}{
		{"an admin makes a proof", adminRole, "kms:GenerateMac", true},
		{"the function's role makes a proof", fnRole, "kms:GenerateMac", true},
		{"the deploy role makes a proof", cdkExec, "kms:GenerateMac", true},
		{"the StackSet role makes a proof", stackSetExec, "kms:GenerateMac", true},
		{"a break-glass role makes a proof", bg[0], "kms:GenerateMac", false},
		{"a break-glass user by pattern makes a proof", "arn:aws:iam::" + acct + ":user/owner-alice", "kms:GenerateMac", false},
		{"root makes a proof", root, "kms:GenerateMac", false},
		{"the function verifies", fnRole, "kms:VerifyMac", false},
		{"an admin rewrites the key policy", adminRole, "kms:PutKeyPolicy", true},
		{"an admin grants itself GenerateMac", adminRole, "kms:CreateGrant", true},
		{"an admin schedules the key's deletion", adminRole, "kms:ScheduleKeyDeletion", true},
		{"an admin disables the key", adminRole, "kms:DisableKey", true},
		{"an admin repoints the alias", adminRole, "kms:UpdateAlias", true},
		{"the function's role rewrites the key policy", fnRole, "kms:PutKeyPolicy", true},
		{"the deploy role sets the key policy (lockout safety check)", cdkExec, "kms:PutKeyPolicy", false},
		{"the StackSet role sets the key policy", stackSetExec, "kms:PutKeyPolicy", false},
		{"root sets the key policy", root, "kms:PutKeyPolicy", false},
		{"break-glass sets the key policy", bg[0], "kms:PutKeyPolicy", false},
		{"a deploy role of another region", strings.Replace(cdkExec, region, "us-east-1", 1), "kms:PutKeyPolicy", true},
	}
	var sims []iamsim.Simulation
	for _, tc := range cases {
		// Every caller holds AdministratorAccess: only the key policy's
		// explicit denies stand between an admin and the key.
		sims = append(sims, iamsim.Simulation{
			Principal: tc.principal, Action: tc.action, Resource: keyARN, ResourceAccount: acct,
			Identity: []iamsim.Policy{admin}, ResourcePolicy: keyPolicy,
		})
	}
	got, err := iamsim.Evaluate(context.Background(), sims)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		if got[i].Denied() != tc.want {
			t.Errorf("%s (%s %s): %s, want denied=%v", tc.who, tc.principal, tc.action, got[i].Answer, tc.want)
		}
	}

	// The account-root statement delegates to IAM; it is the only Allow.
	var allows int
	for _, s := range p.Statement {
		if s.Effect == "Allow" {
			allows++
			if s.Principal["AWS"][0] != root || s.Condition != nil {
				t.Errorf("allow %s: %v", s.Sid, s.Principal)
			}
		}
	}
	if allows != 1 {
		t.Errorf("%d Allow statements, want the account root's", allows)
	}
	// KMS's limit on a key policy is 32 KB.
	if b, _ := json.Marshal(guard.DisarmKeyPolicy(make([]string, 10))); len(b) > 32*1024 {
		t.Errorf("key policy %d bytes", len(b))
	}
}
