package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/cli"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// orgMember is one member account of the test organization, reached with
// assumed-role credentials, which moto partitions by account.
type orgMember struct {
	id     string
	cfg    aws.Config
	seeded *attack.Seeded
}

// deploySwitch stands in for a deploy of the switch in the account cfg
// reaches: a stack named name whose outputs name the account's own
// manifest bucket and latch, both created. moto runs no StackSets, so a
// member's StackSet instance stack is created under the name StackSets
// gives it.
func deploySwitch(t *testing.T, cfg aws.Config, account, name string) {
	t.Helper()
	ctx := context.Background()
	bucket := "killswitch-manifests-" + account + "-" + moto.Region
	if _, err := s3.NewFromConfig(cfg).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(latchParameter),
		Value: aws.String(`{"tripped":false}`), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	key := createDisarmKey(t, cfg)
	template := `{"Resources":{"H":{"Type":"AWS::CloudFormation::WaitConditionHandle"}},"Outputs":{` +
		`"ManifestBucketName":{"Value":"` + bucket + `"},"LatchParameterName":{"Value":"` + latchParameter + `"},` +
		`"DisarmKeyArn":{"Value":"` + key + `"}}}`
	if _, err := cloudformation.NewFromConfig(cfg).CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String(name), TemplateBody: aws.String(template)}); err != nil {
		t.Fatal(err)
	}
}

// The org-wide operator commands with the built binary against moto: an
// organization of the management account and 3 members, each member with
// instances in 2 regions seeded through its own assumed-role credentials.
// scan --org names every account and exits 3; trip --org --apply contains
// every member's instances, each with its own latch and manifest; status
// --org says each member's stack instance is deployed and current and the
// switch tripped; and scan --org afterwards finds nothing (exit 0).
func TestOrgCLIScanTripStatus(t *testing.T) {
	ctx := context.Background()
	if err := motoServer.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := moto.Config(ctx, motoServer.URL, awsconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	org := organizations.NewFromConfig(cfg)
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	regions := []string{"eu-west-1", "us-east-1"}
	var members []orgMember
	for i, name := range []string{"alpha", "bravo", "charlie"} {
		out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		mcfg := cfg.Copy()
		mcfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg),
			"arn:aws:iam::"+id+":role/"+cli.DefaultOrgRole))
		// A different count per account, so a table shown under the wrong
		// account would not match.
		seeded, err := attack.Seed(ctx, mcfg, attack.Plan{Regions: regions, Instances: 2 + 2*i, PerLaunch: 2})
		if err != nil {
			t.Fatal(err)
		}
		deploySwitch(t, mcfg, id, fmt.Sprintf("StackSet-%s-0000000%d-aaaa-bbbb-cccc-dddddddddddd", guard.StackSetName, i))
		members = append(members, orgMember{id: id, cfg: mcfg, seeded: seeded})
	}
	// The StackSet, in the management account, knows whether each
	// member's instance is current. moto creates the member stacks itself,
	// but names them "StackSet:<set>" where AWS names them
	// "StackSet-<set>-<uuid>", so the stacks the CLI reads are created
	// above under AWS's name; the StackSet here answers ListStackInstances.
	cf := cloudformation.NewFromConfig(cfg)
	if _, err := cf.CreateStackSet(ctx, &cloudformation.CreateStackSetInput{StackSetName: aws.String(guard.StackSetName),
		TemplateBody: aws.String(`{"Resources":{"H":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}`)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range members {
		ids = append(ids, m.id)
	}
	if _, err := cf.CreateStackInstances(ctx, &cloudformation.CreateStackInstancesInput{StackSetName: aws.String(guard.StackSetName),
		Accounts: ids, Regions: []string{moto.Region}}); err != nil {
		t.Fatal(err)
	}
	// moto must really partition by account: the caller's own account sees
	// none of the members' instances.
	if own, err := attack.States(ctx, cfg, regions); err != nil || len(own) != 0 {
		t.Fatalf("the management account sees %d instance(s) (%v): moto did not partition the members", len(own), err)
	}
	mgmt, err := attack.Seed(ctx, cfg, attack.Plan{Regions: []string{"us-east-1"}, Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	deploySwitch(t, cfg, moto.Account, guard.StackName)

	r := &restoreRig{rig: &rig{t: t}}
	scope := "--regions=" + strings.Join(regions, ",")

	code, out, stderr := r.run("scan", "--org", scope)
	if code != cli.ExitFound {
		t.Errorf("scan --org: exit %d, want %d (found)", code, cli.ExitFound)
	}
	sections := accountSections(t, out)
	if len(sections) != 4 {
		t.Fatalf("scan --org printed %d account section(s), want 4:\n%s", len(sections), out)
	}
	for _, m := range members {
		sec := sections[m.id]
		want := len(m.seeded.Attackers())
		if !strings.Contains(sec, fmt.Sprintf("Found %d resource(s) the switch would contain", want)) {
			t.Errorf("scan --org: account %s does not say it found its %d instance(s):\n%s", m.id, want, sec)
		}
		for _, id := range m.seeded.Attackers() {
			if !strings.Contains(sec, id) {
				t.Errorf("scan --org: instance %s of account %s is not in its table", id, m.id)
			}
		}
		if !strings.Contains(sec, "settings from stack StackSet-"+guard.StackSetName) {
			t.Errorf("scan --org: account %s did not read its StackSet instance stack:\n%s", m.id, sec)
		}
		if !regexp.MustCompile(`(?m)^  account ` + m.id + ` \(\w+\): ` + fmt.Sprint(want) + ` found`).MatchString(stderr) {
			t.Errorf("scan --org: no progress line for account %s:\n%s", m.id, stderr)
		}
	}
	if sec := sections[moto.Account]; !strings.Contains(sec, mgmt.Attackers()[0]) {
		t.Errorf("scan --org: the management account's own instance is not in its table:\n%s", sec)
	}
	if !strings.Contains(out, "Organization: 4 account(s), 0 failed; found 13 resource(s)") {
		t.Errorf("scan --org: no organization total of 13 (2+4+6 members, 1 own):\n%s", out)
	}

	// --json: one document, an entry per account with its own scan.
	code, out, _ = r.run("scan", "--org", scope, "--json")
	var doc struct {
		Accounts []struct {
			Account string `json:"account"`
			Exit    int    `json:"exit"`
			Result  struct {
				Report struct {
					Totals struct{ Changed int } `json:"totals"`
				} `json:"report"`
			} `json:"result"`
		} `json:"accounts"`
		Exit int `json:"exit"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Accounts) != 4 || doc.Exit != code || code != cli.ExitFound {
		t.Errorf("scan --org --json: exit %d, %d account(s) (%v):\n%s", code, len(doc.Accounts), err, out)
	}
	for _, a := range doc.Accounts {
		for _, m := range members {
			if a.Account == m.id && (a.Exit != cli.ExitFound || a.Result.Report.Totals.Changed != len(m.seeded.Attackers())) {
				t.Errorf("scan --org --json: account %s: exit %d, %d found, want %d", m.id, a.Exit, a.Result.Report.Totals.Changed, len(m.seeded.Attackers()))
			}
		}
	}

	code, out, _ = r.run("trip", "--org", "--apply", "--reason", "org drill")
	if code != cli.ExitOK {
		t.Errorf("trip --org --apply: exit %d", code)
	}
	sections = accountSections(t, out)
	for _, m := range members {
		running, err := attack.RunningByRegion(ctx, m.cfg, regions)
		if err != nil {
			t.Fatal(err)
		}
		for region, n := range running {
			if n > 0 {
				t.Errorf("after trip --org --apply, account %s still runs %d instance(s) in %s", m.id, n, region)
			}
		}
		sec := sections[m.id]
		if !strings.Contains(sec, "CONTAINED") || !strings.Contains(sec, "Restore manifest: s3://killswitch-manifests-"+m.id) ||
			!strings.Contains(sec, "The switch is TRIPPED") {
			t.Errorf("trip --org --apply: account %s's section lacks the containment, its own manifest or the latch:\n%s", m.id, sec)
		}
		p, err := ssm.NewFromConfig(m.cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(latchParameter)})
		if err != nil {
			t.Fatal(err)
		}
		var st latch.State
		if err := json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &st); err != nil || !st.Tripped || !strings.Contains(st.Reason, "org drill") {
			t.Errorf("account %s's latch after trip --org --apply: %+v (%v)", m.id, st, err)
		}
	}

	code, out, _ = r.run("status", "--org")
	if code != cli.ExitOK {
		t.Errorf("status --org: exit %d", code)
	}
	sections = accountSections(t, out)
	for i, m := range members {
		sec := sections[m.id]
		stack := fmt.Sprintf("Stack:       StackSet-%s-0000000%d-aaaa-bbbb-cccc-dddddddddddd: CREATE_COMPLETE", guard.StackSetName, i)
		if !strings.Contains(sec, stack) || !strings.Contains(sec, "TRIPPED since") || !strings.Contains(sec, "StackSet:    "+moto.Region+" CURRENT") {
			t.Errorf("status --org: account %s's section lacks its stack instance, the tripped latch or its StackSet instance status:\n%s", m.id, sec)
		}
	}
	if sec := sections[moto.Account]; !strings.Contains(sec, "Stack:       "+guard.StackName+": CREATE_COMPLETE") {
		t.Errorf("status --org: the management account's own stack is not shown:\n%s", sec)
	}

	code, out, _ = r.run("scan", "--org", scope)
	if code != cli.ExitOK || !strings.Contains(out, "Organization: 4 account(s), 0 failed; found 0 resource(s)") {
		t.Errorf("scan --org after the trip: exit %d, want 0 and nothing found:\n%s", code, out)
	}

	restoreMemberFromManagement(t, r, org, members[0], members[1:], regions)
}

// restoreMemberFromManagement: the org quarantine SCP on one member, as
// the org stack's function attaches it when the member trips; restore
// --account from the management account shows it and the member's plan in
// a dry run, then detaches it and restores that member alone.
func restoreMemberFromManagement(t *testing.T, r *restoreRig, org *organizations.Client, m orgMember, others []orgMember, regions []string) {
	t.Helper()
	ctx := context.Background()
	pol, err := org.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String(guard.OrgQuarantineSCPName),
		Type: orgtypes.PolicyTypeServiceControlPolicy, Description: aws.String("test: the org quarantine"),
		Content: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:RunInstances","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(pol.Policy.PolicySummary.Id)
	if _, err := org.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: aws.String(id), TargetId: aws.String(m.id)}); err != nil {
		t.Fatal(err)
	}
	attached := func() bool {
		out, err := org.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(m.id), Filter: orgtypes.PolicyTypeServiceControlPolicy})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out.Policies {
			if aws.ToString(p.Id) == id {
				return true
			}
		}
		return false
	}
	want := len(m.seeded.Attackers())

	code, out, _ := r.run("restore", "--account", m.id)
	if code != cli.ExitOK || !strings.Contains(out, "Org quarantine: SCP "+guard.OrgQuarantineSCPName+" ("+id+") is attached") ||
		!strings.Contains(out, "DRY RUN") || !strings.Contains(out, fmt.Sprintf("Would restore %d,", want)) {
		t.Errorf("restore --account %s (dry run): exit %d; want the attached SCP and %d instance(s) to restore:\n%s", m.id, code, want, out)
	}
	if !attached() {
		t.Error("the dry run detached the org quarantine SCP")
	}

	code, out, _ = r.run("restore", "--account", m.id, "--apply", "--disarm", "--reason", "org drill over")
	if code != cli.ExitOK || !strings.Contains(out, "DETACHED SCP "+guard.OrgQuarantineSCPName) || !strings.Contains(out, fmt.Sprintf("Restored %d,", want)) {
		t.Errorf("restore --account %s --apply --disarm: exit %d:\n%s", m.id, code, out)
	}
	if attached() {
		t.Error("restore --apply left the org quarantine SCP attached")
	}
	running, err := attack.RunningByRegion(ctx, m.cfg, regions)
	if err != nil {
		t.Fatal(err)
	}
	if n := running["eu-west-1"] + running["us-east-1"]; n != want {
		t.Errorf("after restore --account %s --apply, %d instance(s) run, want its %d", m.id, n, want)
	}
	for _, o := range others {
		running, err := attack.RunningByRegion(ctx, o.cfg, regions)
		if err != nil {
			t.Fatal(err)
		}
		for region, n := range running {
			if n > 0 {
				t.Errorf("restore --account %s started %d instance(s) of account %s in %s", m.id, n, o.id, region)
			}
		}
	}

	if code, _, stderr := r.run("restore", "--account", "12345"); code != cli.ExitUsage || !strings.Contains(stderr, "12-digit") {
		t.Errorf("restore --account 12345: exit %d, want %d naming the bad ID:\n%s", code, cli.ExitUsage, stderr)
	}
	if code, _, stderr := r.run("restore", "--account", "999999999999"); code != cli.ExitFailed || !strings.Contains(stderr, "not an ACTIVE account") {
		t.Errorf("restore --account of a stranger: exit %d, want %d naming it:\n%s", code, cli.ExitFailed, stderr)
	}
}

var accountHeader = regexp.MustCompile(`(?m)^=== Account (\d{12})\b.*$`)

// accountSections splits --org output into each account's section.
func accountSections(t *testing.T, out string) map[string]string {
	t.Helper()
	idx := accountHeader.FindAllStringSubmatchIndex(out, -1)
	sections := map[string]string{}
	for i, m := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		id := out[m[2]:m[3]]
		if _, dup := sections[id]; dup {
			t.Errorf("account %s has two sections", id)
		}
		sections[id] = out[m[0]:end]
	}
	return sections
}
