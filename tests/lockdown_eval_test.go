package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/iamsim"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/moto"
	"github.com/killswitch/killswitch/tests/internal/threats"
)

// adminDoc is AWS's AdministratorAccess policy document.
const adminDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// attachAdmin attaches AdministratorAccess: AWS's managed policy when moto
// serves it, else a customer policy of the same name and document (moto
// loads AWS's managed policies only when configured to).
func attachAdmin(t *testing.T, c *iam.Client, users, roles []string) {
	t.Helper()
	ctx := context.Background()
	arn := "arn:aws:iam::aws:policy/AdministratorAccess"
	if _, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)}); err != nil {
		out, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("AdministratorAccess"), PolicyDocument: aws.String(adminDoc)})
		if err != nil {
			t.Fatal(err)
		}
		arn = aws.ToString(out.Policy.Arn)
		t.Logf("moto serves no AWS managed policies here: AdministratorAccess is %s, with AWS's document", arn)
	}
	for _, u := range users {
		if _, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(u), PolicyArn: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range roles {
		if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(r), PolicyArn: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}
}

// decodeDoc reads a policy document as IAM returns it (URL-encoded JSON).
func decodeDoc(t *testing.T, raw string) json.RawMessage {
	t.Helper()
	if strings.HasPrefix(raw, "%") {
		d, err := url.QueryUnescape(raw)
		if err != nil {
			t.Fatal(err)
		}
		raw = d
	}
	if !json.Valid([]byte(raw)) {
		t.Fatalf("policy document is not JSON: %.200s", raw)
	}
	return json.RawMessage(raw)
}

// policies are what binds one principal, read back from IAM.
type policies struct {
	identity   []iamsim.Policy
	boundaries []iamsim.Policy
}

// managedDoc is a managed policy's default version.
func managedDoc(t *testing.T, c *iam.Client, arn string) iamsim.Policy {
	t.Helper()
	ctx := context.Background()
	p, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("reading policy %s: %v", arn, err)
	}
	v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: p.Policy.DefaultVersionId})
	if err != nil {
		t.Fatalf("reading policy %s's default version: %v", arn, err)
	}
	return iamsim.Policy{Name: arn, Policy: decodeDoc(t, aws.ToString(v.PolicyVersion.Document))}
}

// userPolicies reads every managed and inline policy of a user and of its
// groups, and its permissions boundary: whatever the switch left, however
// it attached the quarantine.
func userPolicies(t *testing.T, c *iam.Client, name string) policies {
	t.Helper()
	ctx := context.Background()
	var p policies
	att, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range att.AttachedPolicies {
		p.identity = append(p.identity, managedDoc(t, c, aws.ToString(a.PolicyArn)))
	}
	inl, err := c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range inl.PolicyNames {
		got, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(n)})
		if err != nil {
			t.Fatal(err)
		}
		p.identity = append(p.identity, iamsim.Policy{Name: "inline " + n, Policy: decodeDoc(t, aws.ToString(got.PolicyDocument))})
	}
	groups, err := c.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups {
		ga, err := c.ListAttachedGroupPolicies(ctx, &iam.ListAttachedGroupPoliciesInput{GroupName: g.GroupName})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range ga.AttachedPolicies {
			p.identity = append(p.identity, managedDoc(t, c, aws.ToString(a.PolicyArn)))
		}
	}
	u, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if b := u.User.PermissionsBoundary; b != nil {
		p.boundaries = append(p.boundaries, managedDoc(t, c, aws.ToString(b.PermissionsBoundaryArn)))
	}
	return p
}

// rolePolicies is userPolicies for a role, with its trust policy.
func rolePolicies(t *testing.T, c *iam.Client, name string) (policies, json.RawMessage) {
	t.Helper()
	ctx := context.Background()
	var p policies
	att, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range att.AttachedPolicies {
		p.identity = append(p.identity, managedDoc(t, c, aws.ToString(a.PolicyArn)))
	}
	inl, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range inl.PolicyNames {
		got, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(n)})
		if err != nil {
			t.Fatal(err)
		}
		p.identity = append(p.identity, iamsim.Policy{Name: "inline " + n, Policy: decodeDoc(t, aws.ToString(got.PolicyDocument))})
	}
	r, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if b := r.Role.PermissionsBoundary; b != nil {
		p.boundaries = append(p.boundaries, managedDoc(t, c, aws.ToString(b.PermissionsBoundaryArn)))
	}
	return p, decodeDoc(t, aws.ToString(r.Role.AssumeRolePolicyDocument))
}

// switchKeyPolicy is the disarm key's policy as the stack deploys it
// (guard.DisarmKeyPolicy): it denies making a MAC to all but break-glass
// and root, whatever their IAM policies say.
func switchKeyPolicy(t *testing.T, breakGlass []string) map[string]any {
	t.Helper()
	var doc map[string]any
	b, err := json.Marshal(guard.DisarmKeyPolicy(breakGlass).Resolve("aws", moto.Region, motoAccount))
	if err == nil {
		err = json.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// keyPolicy is KMS's default key policy: the account's IAM policies decide.
// The guard SCP's rows use it, so that they judge the SCP alone.
func keyPolicy(account string) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + account + ":root"}, "Action": "kms:*", "Resource": "*",
	}}}
}

// The policies the switch leaves on moto after a real trip, read back
// from moto's IAM and put through a real IAM evaluator beside
// AdministratorAccess: every attacker request of the threat table is
// denied, as the attacker's user, the attacker's role and the owner's own
// quarantined user; break-glass still recovers. Also the scheduler role's
// trust policy and the org guard SCP, the same way.
func TestLockdownEvaluation(t *testing.T) {
	ctx := context.Background()
	owner := settings.Default()
	owner.BreakGlassARNs = breakGlassARNs()
	r := newRig(t, attack.Plan{Regions: []string{moto.Region}, Instances: 1}, stackEnv(owner, ""))
	createQuarantinePolicy(t, r)
	seedIAM(t, r)
	c := iam.NewFromConfig(r.plain)
	attachAdmin(t, c, []string{minerUser, ownerUser}, []string{minerRole, breakGlassRole})
	// The break-glass role as the README says to make it: only the
	// account's principals, and only with MFA.
	bgTrust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + motoAccount +
		`:root"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(breakGlassRole), PolicyDocument: aws.String(bgTrust)}); err != nil {
		t.Fatal(err)
	}
	// The scheduler role with the stack's trust policy.
	schedTrust, _ := json.Marshal(guard.ScheduleRoleTrust().Resolve("aws", moto.Region, motoAccount))
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(guard.ScheduleRoleName), PolicyDocument: aws.String(string(schedTrust))}); err != nil {
		t.Fatal(err)
	}

	res, err := r.invoke(budgetActual)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	if !res.Tripped {
		t.Fatalf("budget ACTUAL alert did not trip: %+v", res)
	}

	// What binds each principal now, read back.
	iamARN := func(rest string) string { return "arn:aws:iam::" + motoAccount + ":" + rest }
	minerUserPol := userPolicies(t, c, minerUser)
	ownerPol := userPolicies(t, c, ownerUser)
	minerRolePol, _ := rolePolicies(t, c, minerRole)
	bgPol, bgTrustBack := rolePolicies(t, c, breakGlassRole)
	_, schedTrustBack := rolePolicies(t, c, guard.ScheduleRoleName)
	attackers := []struct {
		name, arn string
		p         policies
	}{
		{"attacker's user", iamARN("user/" + minerUser), minerUserPol},
		{"attacker's role", iamARN("role/" + minerRole), minerRolePol},
		{"owner's user", iamARN("user/" + ownerUser), ownerPol},
	}
	for _, a := range attackers {
		if !quarantinedBy(a.p) {
			t.Fatalf("%s is not quarantined after the trip (policies %v, boundary %v): the evaluation below would prove nothing", a.name, names(a.p.identity), names(a.p.boundaries))
		}
	}
	if quarantinedBy(bgPol) {
		t.Fatal("the break-glass role was quarantined")
	}

	type row struct {
		who     string
		req     threats.Request
		res     iamsim.Result
		allowed bool
	}
	var rows []row
	var sims []iamsim.Simulation
	deployedKeyPolicy := switchKeyPolicy(t, breakGlassARNs())
	add := func(who, principal string, p policies, req threats.Request, trust json.RawMessage) {
		s := iamsim.Simulation{Principal: principal, Action: req.Action, Resource: req.Resource, ResourceAccount: motoAccount,
			Context: req.Context, Identity: p.identity, Boundaries: p.boundaries}
		if req.KeyPolicy {
			s.ResourcePolicy = deployedKeyPolicy
		}
		if req.Trust {
			s.ResourcePolicy = trust
		}
		if strings.HasPrefix(req.Resource, "arn:aws:iam::444455556666:") {
			s.ResourceAccount = "444455556666"
		}
		sims = append(sims, s)
		rows = append(rows, row{who: who, req: req, allowed: req.Allowed})
	}
	reqs := threats.Requests(motoAccount, moto.Region, "ap-east-1")
	services := map[string]bool{}
	nAttack := 0
	for _, req := range reqs {
		switch req.Who {
		case threats.Attacker:
			nAttack++
			services[req.Service()] = true
			for _, a := range attackers {
				add(a.name, a.arn, a.p, req, bgTrustBack)
			}
		case threats.Owner:
			add("owner's user", iamARN("user/"+ownerUser), ownerPol, req, bgTrustBack)
		case threats.BreakGlass:
			add("break-glass role", iamARN("role/"+breakGlassRole), bgPol, req, nil)
		}
	}
	if nAttack < 60 || len(services) < 25 {
		t.Errorf("the table holds %d attacker requests over %d services; the issue asks for at least 60 over 25", nAttack, len(services))
	}

	// The scheduler role's trust, as moto holds it.
	schedRole := iamARN("role" + guard.RolePath + guard.ScheduleRoleName)
	group := guard.Resolve(guard.ScheduleGroupARN, "aws", moto.Region, motoAccount)
	for _, tc := range []struct {
		what, sourceArn, sourceAccount string
		allowed                        bool
	}{
		{"the switch's schedule group", group, motoAccount, true},
		{"a schedule in the default group", "arn:aws:scheduler:" + moto.Region + ":" + motoAccount + ":schedule-group/default", motoAccount, false},
		{"another account's group of the same name", "arn:aws:scheduler:" + moto.Region + ":444455556666:schedule-group/" + guard.ScheduleGroupName, "444455556666", false},
	} {
		sims = append(sims, iamsim.Simulation{Principal: guard.SchedulerService, Action: "sts:AssumeRole", Resource: schedRole, ResourceAccount: motoAccount,
			Context: map[string]any{"aws:SourceArn": tc.sourceArn, "aws:SourceAccount": tc.sourceAccount}, ResourcePolicy: schedTrustBack})
		rows = append(rows, row{who: "scheduler.amazonaws.com", req: threats.Request{Group: "Scheduler role trust", Action: "sts:AssumeRole", Resource: schedRole, What: tc.what}, allowed: tc.allowed})
	}

	// The org guard SCP: an admin of a member account (not quarantined)
	// against each tamper path, and the exceptions.
	orgAdmin := "arn:aws:iam::*:role/OrgSecurityAdmin"
	except := []string{guard.StackSetExecRolePattern, guard.FunctionRolePattern, guard.ScheduleRolePattern, orgAdmin}
	for i := range except {
		except[i] = guard.Resolve(except[i], "aws", "*", "*")
	}
	scp := guard.GuardSCP(except, []string{orgAdmin}).Resolve("aws", "*", "*")
	full := iamsim.Policy{Name: "FullAWSAccess", Policy: json.RawMessage(adminDoc)}
	admin := []iamsim.Policy{{Name: "AdministratorAccess", Policy: json.RawMessage(adminDoc)}}
	scps := []iamsim.OrgPolicies{
		{OrgIdentifier: "r-root", Policies: []iamsim.Policy{full, {Name: guard.GuardSCPName, Policy: scp}}},
		{OrgIdentifier: motoAccount, Policies: []iamsim.Policy{full}},
	}
	scpPrincipals := []struct {
		name, arn string
		denied    bool
	}{
		{"member admin", iamARN("role/Admin"), true},
		{"StackSet execution role", iamARN("role/stacksets-exec-0123456789abcdef"), false},
		{"org admin", iamARN("role/OrgSecurityAdmin"), false},
	}
	for _, req := range reqs {
		if req.Who != threats.Attacker || (req.Group != threats.Tamper && req.Group != threats.Blind && req.Group != threats.Disarm) {
			continue
		}
		if req.Action == "sts:AssumeRole" || req.Action == "lambda:CreateFunction" ||
			(req.Action == "scheduler:CreateSchedule" && strings.Contains(req.Resource, "/default/")) ||
			req.Action == "iam:PutRolePolicy" {
			continue // not a path the guard SCP owns: the IAM quarantine's
		}
		for _, p := range scpPrincipals {
			s := iamsim.Simulation{Principal: p.arn, Action: req.Action, Resource: req.Resource, ResourceAccount: motoAccount,
				Context: req.Context, Identity: admin, SCPs: scps}
			if req.KeyPolicy {
				s.ResourcePolicy = keyPolicy(motoAccount)
			}
			if strings.HasPrefix(req.Resource, "arn:aws:cloudformation:") {
				// A member's stack is StackSet-killswitch-member-<id>.
				s.Resource = "arn:aws:cloudformation:" + moto.Region + ":" + motoAccount + ":stack/StackSet-" + guard.StackSetName + "-8d2f1c4e/0a1b2c3d"
			}
			sims = append(sims, s)
			rows = append(rows, row{who: "SCP: " + p.name, req: threats.Request{Group: "Org guard SCP", Action: req.Action, Resource: s.Resource, What: req.What}, allowed: !p.denied})
		}
	}

	got, err := iamsim.Evaluate(ctx, sims)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-28s %-24s %-45s %-16s %s\n", "group", "who", "action", "answer", "resource")
	for i, rw := range rows {
		rw.res = got[i]
		fmt.Fprintf(&table, "%-28s %-24s %-45s %-16s %s\n", rw.req.Group, rw.who, rw.req.Action, rw.res.Answer, rw.req.Resource)
		if rw.res.Denied() == rw.allowed {
			t.Errorf("%s: %s on %s (%s): %s, want allowed=%v", rw.who, rw.req.Action, rw.req.Resource, rw.req.What, rw.res.Answer, rw.allowed)
		}
	}
	t.Logf("%d requests (%d attacker rows over %d services), request -> answer:\n%s", len(rows), nAttack, len(services), table.String())
}

func quarantinedBy(p policies) bool {
	for _, x := range append(append([]iamsim.Policy{}, p.identity...), p.boundaries...) {
		if x.Name == quarantinePolicyARN {
			return true
		}
	}
	return false
}

func names(ps []iamsim.Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
