package guard_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/guard"
)

// keyDenies is the disarm key policy's Deny statements (each for every
// principal) as a Document the test evaluator reads.
func keyDenies(t *testing.T, p guard.KeyPolicy) guard.Document {
	t.Helper()
	var doc guard.Document
	for _, s := range p.Statement {
		if s.Effect != "Deny" {
			continue
		}
		if len(s.Principal["AWS"]) != 1 || s.Principal["AWS"][0] != "*" {
			t.Fatalf("%s denies %v, not every principal", s.Sid, s.Principal)
		}
		doc.Statement = append(doc.Statement, guard.Statement{Sid: s.Sid, Effect: s.Effect, Action: s.Action, Resource: s.Resource, Condition: s.Condition})
	}
	return doc
}

// Who may make a disarm proof, and who may change the key: evaluated as
// KMS does for the key policy's explicit denies (no IAM policy or grant
// overrides them; the account-root statement only delegates to IAM).
func TestDisarmKeyPolicy(t *testing.T) {
	t.Parallel()
	const acct, region = "111122223333", "eu-west-1"
	bg := []string{"arn:aws:iam::" + acct + ":role/break-glass", "arn:aws:iam::" + acct + ":user/owner-*"}
	p := guard.DisarmKeyPolicy(bg).Resolve("aws", region, acct)
	doc := keyDenies(t, p)

	root := "arn:aws:iam::" + acct + ":root"
	admin := "arn:aws:iam::" + acct + ":role/Admin"
	fnRole := "arn:aws:iam::" + acct + ":role/killswitch/killswitch-function"
	cdkExec := "arn:aws:iam::" + acct + ":role/cdk-hnb659fds-cfn-exec-role-" + acct + "-" + region
	stackSetExec := "arn:aws:iam::" + acct + ":role/stacksets-exec-0123456789abcdef"
	for _, tc := range []struct {
		who, principal, action string
		want                   bool
	}{
		{"an admin makes a proof", admin, "kms:GenerateMac", true},
		{"the function's role makes a proof", fnRole, "kms:GenerateMac", true},
		{"the deploy role makes a proof", cdkExec, "kms:GenerateMac", true},
		{"the StackSet role makes a proof", stackSetExec, "kms:GenerateMac", true},
		{"a break-glass role makes a proof", bg[0], "kms:GenerateMac", false},
		{"a break-glass user by pattern makes a proof", "arn:aws:iam::" + acct + ":user/owner-alice", "kms:GenerateMac", false},
		{"root makes a proof", root, "kms:GenerateMac", false},
		{"the function verifies", fnRole, "kms:VerifyMac", false},
		{"an admin rewrites the key policy", admin, "kms:PutKeyPolicy", true},
		{"an admin grants itself GenerateMac", admin, "kms:CreateGrant", true},
		{"an admin schedules the key's deletion", admin, "kms:ScheduleKeyDeletion", true},
		{"an admin disables the key", admin, "kms:DisableKey", true},
		{"an admin repoints the alias", admin, "kms:UpdateAlias", true},
		{"the function's role rewrites the key policy", fnRole, "kms:PutKeyPolicy", true},
		{"the deploy role sets the key policy (lockout safety check)", cdkExec, "kms:PutKeyPolicy", false},
		{"the StackSet role sets the key policy", stackSetExec, "kms:PutKeyPolicy", false},
		{"root sets the key policy", root, "kms:PutKeyPolicy", false},
		{"break-glass sets the key policy", bg[0], "kms:PutKeyPolicy", false},
		{"a deploy role of another region", strings.Replace(cdkExec, region, "us-east-1", 1), "kms:PutKeyPolicy", true},
	} {
		got, _ := denied(doc, call{principal: tc.principal, action: tc.action, resource: "*"})
		if got != tc.want {
			t.Errorf("%s (%s %s): denied %v, want %v", tc.who, tc.principal, tc.action, got, tc.want)
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
