package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
)

var targetOUs = []string{"ou-ab12-cdef3456", "ou-ab12-zzzz9999"}

func orgConfig(t *testing.T, block string, member stack.Config) stack.OrgConfig {
	t.Helper()
	org, err := stack.ParseOrgConfig(block, nil, member)
	if err != nil {
		t.Fatalf("ParseOrgConfig(%s): %v", block, err)
	}
	return org
}

type builtOrg struct {
	org    stack.OrgStack
	tmpl   assertions.Template
	json   map[string]any
	member map[string]any
}

func buildOrg(t *testing.T, org stack.OrgConfig, member stack.Config) builtOrg {
	t.Helper()
	app := awscdk.NewApp(nil)
	dir := assetDir(t)
	o, err := stack.NewOrgStack(app, stack.OrgStackID, &stack.OrgStackProps{
		Org: org, Member: member, AssetDir: dir, OrgQuarantineAssetDir: dir,
	})
	if err != nil {
		t.Fatalf("NewOrgStack: %v", err)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	tmpl := assertions.Template_FromStack(o.Stack, nil)
	data, err := os.ReadFile(o.Member.TemplatePath)
	if err != nil {
		t.Fatal(err)
	}
	var mt map[string]any
	if err := json.Unmarshal(data, &mt); err != nil {
		t.Fatal(err)
	}
	return builtOrg{org: o, tmpl: tmpl, json: *tmpl.ToJSON(), member: mt}
}

func (b builtOrg) resourcesOfType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range b.json["Resources"].(map[string]any) {
		if r.(map[string]any)["Type"] == typ {
			out[id] = r.(map[string]any)["Properties"].(map[string]any)
		}
	}
	return out
}

func (b builtOrg) only(t *testing.T, typ string) map[string]any {
	t.Helper()
	rs := b.resourcesOfType(typ)
	if len(rs) != 1 {
		t.Fatalf("want one %s, got %d", typ, len(rs))
	}
	for _, p := range rs {
		return p
	}
	return nil
}

func (b builtOrg) scp(t *testing.T, name string) map[string]any {
	t.Helper()
	for _, p := range b.resourcesOfType("AWS::Organizations::Policy") {
		if p["Name"] == name {
			return p
		}
	}
	t.Fatalf("no AWS::Organizations::Policy named %s", name)
	return nil
}

const baseOrg = `{"organizationId":"o-abcdefghij","targetOuIds":["ou-ab12-cdef3456","ou-ab12-zzzz9999"]}`

func TestOrgStackDeploysAServiceManagedStackSetToTheTargetOUs(t *testing.T) {
	// GIVEN a killswitchOrg block with two target OUs and nothing else
	cfg := stack.DefaultConfig()
	b := buildOrg(t, orgConfig(t, baseOrg, cfg), cfg)

	// THEN one service-managed StackSet with auto-deployment, stacks not
	// retained on removal, over exactly the target OUs, in us-east-1
	ss := b.only(t, "AWS::CloudFormation::StackSet")
	want := map[string]any{
		"StackSetName":    guard.StackSetName,
		"PermissionModel": "SERVICE_MANAGED",
		"CallAs":          "SELF",
		"AutoDeployment":  map[string]any{"Enabled": true, "RetainStacksOnAccountRemoval": false},
		"Capabilities":    []any{"CAPABILITY_NAMED_IAM"},
		"OperationPreferences": map[string]any{
			"FailureTolerancePercentage": 10, "MaxConcurrentPercentage": 25,
			"ConcurrencyMode": "SOFT_FAILURE_TOLERANCE", "RegionConcurrencyType": "PARALLEL",
		},
		"StackInstancesGroup": []any{map[string]any{
			"DeploymentTargets": map[string]any{"OrganizationalUnitIds": []any{targetOUs[0], targetOUs[1]}},
			"Regions":           []any{"us-east-1"},
		}},
		"ManagedExecution": map[string]any{"Active": true},
	}
	for k, v := range want {
		if !reflectEqualJSON(ss[k], v) {
			t.Errorf("StackSet %s = %s, want %s", k, js(ss[k]), js(v))
		}
	}
	// AND its parameters wire the code bucket, the code key (the
	// deployment's output, so the code is copied first) and the central topic
	params := map[string]any{}
	for _, p := range ss["Parameters"].([]any) {
		params[p.(map[string]any)["ParameterKey"].(string)] = p.(map[string]any)["ParameterValue"]
	}
	if len(params) != 3 {
		t.Errorf("parameters %s, want CodeBucket, CodeKey and CentralTopicArn only", js(params))
	}
	bucket := ""
	for id, p := range b.resourcesOfType("AWS::S3::Bucket") {
		if strings.Contains(js(p["BucketName"]), "killswitch-code-") {
			bucket = id
		}
	}
	if !reflectEqualJSON(params[stack.ParamCodeBucket], ref(bucket)) {
		t.Errorf("CodeBucket = %s, want Ref %s", js(params[stack.ParamCodeBucket]), bucket)
	}
	if !strings.Contains(js(params[stack.ParamCodeKey]), "SourceObjectKeys") {
		t.Errorf("CodeKey = %s, want the bucket deployment's object key", js(params[stack.ParamCodeKey]))
	}
	topic := b.tmpl.FindResources(jsii.String("AWS::SNS::Topic"), m("Properties", m("TopicName", guard.CentralTopicName)))
	for id := range *topic {
		if !reflectEqualJSON(params[stack.ParamCentralTopicArn], ref(id)) {
			t.Errorf("CentralTopicArn = %s, want Ref %s", js(params[stack.ParamCentralTopicArn]), id)
		}
	}
	// AND the template it deploys is the member template, byte for byte
	staged, err := os.ReadFile(filepath.Join(*awscdk.Stage_Of(b.org.Stack).Outdir(), *b.org.MemberTemplate.AssetPath()))
	if err != nil {
		t.Fatal(err)
	}
	written, _ := os.ReadFile(b.org.Member.TemplatePath)
	if string(staged) != string(written) {
		t.Error("the StackSet's template asset is not the member template")
	}
	if !strings.Contains(js(ss["TemplateURL"]), *b.org.MemberTemplate.S3ObjectKey()) {
		t.Errorf("TemplateURL %s does not name the member template asset", js(ss["TemplateURL"]))
	}
}

// The member template is NewKillswitchStack's: every resource of the
// single-account synth is in it with the same properties, but for the
// function's code (a StackSet cannot use the asset), what reports to the
// central topic, and the member access role as break-glass (left out
// here; TestOrgMemberAccessRoleIsBreakGlass).
func TestOrgMemberTemplateIsTheSingleAccountStack(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.NotificationEmails = []string{"owner@example.com"}
	single := build(t, cfg, "")
	org := orgConfig(t, baseOrg, cfg)
	org.MemberAccessRole = ""
	b := buildOrg(t, org, cfg)

	memberRes := b.member["Resources"].(map[string]any)
	singleRes := single.resources()
	if len(memberRes) != len(singleRes) {
		t.Errorf("member has %d resources, single-account %d", len(memberRes), len(singleRes))
	}
	fn := single.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
	// The function role's policies: its DefaultPolicy, and the managed
	// policies the CDK splits off when it grows past IAM's limit.
	rolePolicies := map[string]bool{}
	for _, id := range append(single.ofType("AWS::IAM::Policy"), single.ofType("AWS::IAM::ManagedPolicy")...) {
		if roles, _ := single.props(id)["Roles"].([]any); containsAny(roles, ref(single.functionRole(t))) {
			rolePolicies[id] = true
		}
	}
	compared, centralFound := 0, false
	for id, r := range singleRes {
		mr, ok := memberRes[id].(map[string]any)
		if !ok {
			t.Errorf("%s (%s) is not in the member template", id, r["Type"])
			continue
		}
		if mr["Type"] != r["Type"] {
			t.Errorf("%s: type %s in the member, %s single", id, mr["Type"], r["Type"])
		}
		sp, mp := copyMap(r["Properties"]), copyMap(mr["Properties"])
		switch id {
		case fn:
			if !reflectEqualJSON(mp["Code"], m("S3Bucket", ref(stack.ParamCodeBucket), "S3Key", ref(stack.ParamCodeKey))) {
				t.Errorf("member function code %s, want the CodeBucket/CodeKey parameters", js(mp["Code"]))
			}
			vars := mp["Environment"].(map[string]any)["Variables"].(map[string]any)
			if !reflectEqualJSON(vars[settings.EnvCentralTopicARN], ref(stack.ParamCentralTopicArn)) {
				t.Errorf("member %s = %s, want Ref %s", settings.EnvCentralTopicARN, js(vars[settings.EnvCentralTopicARN]), stack.ParamCentralTopicArn)
			}
			if sv := sp["Environment"].(map[string]any)["Variables"].(map[string]any)[settings.EnvCentralTopicARN]; sv != "" {
				t.Errorf("single-account %s = %v, want empty", settings.EnvCentralTopicARN, sv)
			}
			delete(vars, settings.EnvCentralTopicARN)
			delete(sp["Environment"].(map[string]any)["Variables"].(map[string]any), settings.EnvCentralTopicARN)
			delete(sp, "Code")
			delete(mp, "Code")
		}
		if rolePolicies[id] {
			// The member's role also publishes to the central topic, and
			// nothing else is added.
			stmts := mp["PolicyDocument"].(map[string]any)["Statement"].([]any)
			var rest []any
			for _, s := range stmts {
				if s.(map[string]any)["Sid"] == "PublishToTheOrgCentralTopic" {
					centralFound = reflectEqualJSON(s.(map[string]any)["Resource"], ref(stack.ParamCentralTopicArn)) &&
						reflectEqualJSON(s.(map[string]any)["Action"], "sns:Publish")
					continue
				}
				rest = append(rest, s)
			}
			mp["PolicyDocument"].(map[string]any)["Statement"] = rest
		}
		if !reflectEqualJSON(sp, mp) {
			t.Errorf("%s (%s) differs:\nsingle %s\nmember %s", id, r["Type"], js(sp), js(mp))
		}
		compared++
	}
	if !centralFound {
		t.Error("the member function's role cannot publish to the central topic (and only it)")
	}
	// The three: the same function, budget and topics.
	for _, typ := range []string{"AWS::Lambda::Function", "AWS::Budgets::Budget", "AWS::SNS::Topic"} {
		if len(single.ofType(typ)) == 0 {
			t.Errorf("no %s compared", typ)
		}
	}
	if _, ok := b.member["Rules"]; ok {
		t.Error("the member template checks the CDK bootstrap version, which member accounts do not have")
	}
	t.Logf("%d resources identical", compared)
}

func TestOrgOverridesAreStackSetParameterOverrides(t *testing.T) {
	cfg := stack.DefaultConfig()
	block := `{"organizationId":"o-abcdefghij","targetOuIds":["ou-ab12-cdef3456","ou-ab12-zzzz9999"],
	  "overrides":[{"targets":["111122223333","444455556666"],"killswitch":{"budgetUsd":50,"dryRun":true}},
	               {"targets":["ou-ab12-zzzz9999"],"killswitch":{"maxVCPUs":256}}]}`
	b := buildOrg(t, orgConfig(t, block, cfg), cfg)

	// The member template has a parameter per overridden key (and the
	// alarm's threshold, which follows the budget), defaulting to the
	// killswitch block's value, and uses it
	params := b.member["Parameters"].(map[string]any)
	for name, def := range map[string]string{"BudgetUsd": "10", "BillingAlarmThresholdUsd": "10", "DryRun": "false", "MaxVCPUs": "32"} {
		p, ok := params[name].(map[string]any)
		if !ok || p["Default"] != def {
			t.Errorf("member parameter %s = %s, want default %s", name, js(params[name]), def)
		}
	}
	var budget, fnEnv, alarm map[string]any
	for _, r := range b.member["Resources"].(map[string]any) {
		r := r.(map[string]any)
		switch r["Type"] {
		case "AWS::Budgets::Budget":
			budget = r["Properties"].(map[string]any)
		case "AWS::Lambda::Function":
			fnEnv = r["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
		case "AWS::CloudWatch::Alarm":
			// The billing alarm, not the switch's health alarms.
			if p := r["Properties"].(map[string]any); p["AlarmName"] == stack.BillingAlarmName {
				alarm = p
			}
		}
	}
	if !reflectEqualJSON(budget["Budget"].(map[string]any)["BudgetLimit"], m("Amount", ref("BudgetUsd"), "Unit", "USD")) {
		t.Errorf("budget limit %s, want the BudgetUsd parameter", js(budget["Budget"].(map[string]any)["BudgetLimit"]))
	}
	if !reflectEqualJSON(alarm["Threshold"], ref("BillingAlarmThresholdUsd")) {
		t.Errorf("alarm threshold %s, want the BillingAlarmThresholdUsd parameter", js(alarm["Threshold"]))
	}
	for env, param := range map[string]string{settings.EnvDryRun: "DryRun", settings.EnvMaxVCPUs: "MaxVCPUs"} {
		if !reflectEqualJSON(fnEnv[env], ref(param)) {
			t.Errorf("%s = %s, want Ref %s", env, js(fnEnv[env]), param)
		}
	}

	// The StackSet: the plain OU without the overridden accounts, the
	// overridden OU without them too, and the accounts within the OUs,
	// each group with its values for every override parameter
	ss := b.only(t, "AWS::CloudFormation::StackSet")
	accounts := []any{"111122223333", "444455556666"}
	wantGroups := []any{
		m("DeploymentTargets", m("OrganizationalUnitIds", []any{targetOUs[0]}, "Accounts", accounts, "AccountFilterType", "DIFFERENCE"),
			"Regions", []any{"us-east-1"}),
		m("DeploymentTargets", m("OrganizationalUnitIds", []any{targetOUs[1]}, "Accounts", accounts, "AccountFilterType", "DIFFERENCE"),
			"Regions", []any{"us-east-1"},
			"ParameterOverrides", overrides("BillingAlarmThresholdUsd", "10", "BudgetUsd", "10", "DryRun", "false", "MaxVCPUs", "256")),
		m("DeploymentTargets", m("OrganizationalUnitIds", []any{targetOUs[0], targetOUs[1]}, "Accounts", accounts, "AccountFilterType", "INTERSECTION"),
			"Regions", []any{"us-east-1"},
			"ParameterOverrides", overrides("BillingAlarmThresholdUsd", "50", "BudgetUsd", "50", "DryRun", "true", "MaxVCPUs", "32")),
	}
	if !reflectEqualJSON(ss["StackInstancesGroup"], wantGroups) {
		t.Errorf("instance groups\n got %s\nwant %s", js(ss["StackInstancesGroup"]), js(wantGroups))
	}
}

func overrides(kv ...string) []any {
	var out []any
	for i := 0; i < len(kv); i += 2 {
		out = append(out, map[string]any{"ParameterKey": kv[i], "ParameterValue": kv[i+1]})
	}
	return out
}

func TestGuardSCPDeniesChangingTheSwitchAttachedToTheOUsWithExceptions(t *testing.T) {
	cfg := stack.DefaultConfig()
	admin := "arn:aws:iam::*:role/OrgSecurityAdmin"
	b := buildOrg(t, orgConfig(t, `{"organizationId":"o-abcdefghij","targetOuIds":["ou-ab12-cdef3456","ou-ab12-zzzz9999"],"orgAdminArns":["`+admin+`"]}`, cfg), cfg)

	p := b.scp(t, guard.GuardSCPName)
	if p["Type"] != "SERVICE_CONTROL_POLICY" {
		t.Errorf("guard policy type %v", p["Type"])
	}
	if !reflectEqualJSON(p["TargetIds"], targetOUs) {
		t.Errorf("guard SCP attached to %s, want the target OUs %v", js(p["TargetIds"]), targetOUs)
	}
	content := js(p["Content"])
	for _, want := range []string{
		`"Effect":"Deny"`,
		`"lambda:DeleteFunction"`, `"lambda:UpdateFunctionConfiguration"`, `"lambda:PutFunctionConcurrency"`,
		`"budgets:ModifyBudget"`, `"cloudwatch:DeleteAlarms"`,
		`"scheduler:DeleteSchedule"`, `"ssm:PutParameter"`, `"s3:DeleteBucket"`, `"cloudformation:DeleteStack"`,
		`"iam:DeletePolicy"`, `"iam:DetachRolePolicy"`,
		`:lambda:*:*:function:killswitch"`, `:sns:*:*:killswitch-trip"`, `:sns:*:*:killswitch-notify:*"`,
		`:budgets::*:budget/killswitch-monthly"`, `:cloudwatch:*:*:alarm:killswitch-*"`,
		`:scheduler:*:*:schedule/killswitch/*"`, `:scheduler:*:*:schedule-group/killswitch"`,
		`"iam:PassRole"`, `"NotAction":["sns:Publish"]`, `"kms:ResourceAliases":["alias/killswitch-disarm"]`,
		`"iam:PermissionsBoundary"`, `:ssm:*:*:parameter/killswitch/latch"`,
		`:s3:::killswitch-manifests-*"`, `:cloudformation:*:*:stack/StackSet-killswitch-member-*"`,
		`:iam::*:policy/killswitch-quarantine"`,
		`"ArnNotLike":{"aws:PrincipalArn":[`, `:iam::*:role/stacksets-exec-*"`, `"` + admin + `"`,
	} {
		if !strings.Contains(content, want) {
			t.Errorf("guard SCP lacks %s", want)
		}
	}
	if strings.Contains(content, `"Allow"`) {
		t.Error("the guard SCP allows something; it must only deny")
	}
	// The size as Organizations counts it, from the same document.
	doc, err := stack.GuardSCPDocument(orgConfig(t, `{"organizationId":"o-abcdefghij","targetOuIds":["r-ab12"],"orgAdminArns":["`+admin+`"]}`, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if n := stack.SCPSize(doc); n > stack.MaxSCPSize || n < 1000 {
		t.Errorf("guard SCP is %d characters; the limit is %d", n, stack.MaxSCPSize)
	}
	// The org quarantine is off by default.
	if len(b.resourcesOfType("AWS::Lambda::Function")) != 1 { // the bucket deployment's
		t.Errorf("functions %v: the org quarantine is off by default", b.resourcesOfType("AWS::Lambda::Function"))
	}
	noNagErrors(t, b.org.Stack)
}

func TestGuardSCPTooLargeIsRefusedNamingOrgAdminArns(t *testing.T) {
	var admins []string
	for i := 0; i < 40; i++ {
		admins = append(admins, `"arn:aws:iam::111122223333:role/some-rather-long-admin-role-name-`+string(rune('a'+i%26))+strings.Repeat("x", i)+`"`)
	}
	org := orgConfig(t, `{"organizationId":"o-abcdefghij","targetOuIds":["r-ab12"],"orgAdminArns":[`+strings.Join(admins, ",")+`]}`, stack.DefaultConfig())
	_, err := stack.GuardSCPDocument(org)
	if err == nil || !strings.Contains(err.Error(), "killswitchOrg.orgAdminArns: the guard SCP would be") {
		t.Errorf("error %v, want one naming killswitchOrg.orgAdminArns and the size", err)
	}
}

func TestOrgQuarantineAttachesOnlyToAccountsOnTrips(t *testing.T) {
	cfg := stack.DefaultConfig()
	b := buildOrg(t, orgConfig(t, `{"organizationId":"o-abcdefghij","targetOuIds":["ou-ab12-cdef3456"],"orgQuarantine":true,"scpGuard":false}`, cfg), cfg)

	if _, ok := b.resourcesOfType("AWS::Organizations::Policy")["GuardPolicy"]; ok {
		t.Error("scpGuard false still creates the guard SCP")
	}
	q := b.scp(t, guard.OrgQuarantineSCPName)
	if _, attached := q["TargetIds"]; attached {
		t.Errorf("the org quarantine SCP is attached at deploy (%s); it must be attached to a tripped account only", js(q["TargetIds"]))
	}
	content := js(q["Content"])
	for _, want := range []string{`"Action":["*"]`, `"Resource":["*"]`, `role/stacksets-exec-*"`, `role/killswitch/killswitch-function"`} {
		if !strings.Contains(content, want) {
			t.Errorf("org quarantine SCP lacks %s: %s", want, content)
		}
	}
	var fnID string
	for id, p := range b.resourcesOfType("AWS::Lambda::Function") {
		if p["FunctionName"] == guard.OrgQuarantineFunctionName {
			fnID = id
		}
	}
	if fnID == "" {
		t.Fatal("no org quarantine function")
	}
	assert(t, "subscribed to the central topic", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), m("Protocol", "lambda", "Endpoint", getAtt(fnID, "Arn")))
	})
	// Its role may attach that one policy to the organization's accounts.
	var attach map[string]any
	for _, p := range b.resourcesOfType("AWS::IAM::Policy") {
		for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if s.(map[string]any)["Sid"] == "AttachTheOrgQuarantineToOneAccount" {
				attach = s.(map[string]any)
			}
		}
	}
	if attach == nil || attach["Action"] != "organizations:AttachPolicy" ||
		!strings.Contains(js(attach["Resource"]), `account/o-abcdefghij/*`) || !strings.Contains(js(attach["Resource"]), `OrgQuarantinePolicy`) {
		t.Errorf("AttachPolicy statement %s, want the quarantine SCP and the org's accounts only", js(attach))
	}
	noNagErrors(t, b.org.Stack)
}

func TestOrgCentralTopicAcceptsOnlyMembersKillSwitchFunctions(t *testing.T) {
	cfg := stack.DefaultConfig()
	b := buildOrg(t, orgConfig(t, `{"organizationId":"o-abcdefghij","targetOuIds":["r-ab12"],"centralEmails":["sec@example.com"]}`, cfg), cfg)
	pol := b.only(t, "AWS::SNS::TopicPolicy")
	doc := js(pol["PolicyDocument"])
	for _, want := range []string{`"aws:PrincipalOrgID":"o-abcdefghij"`, `"aws:PrincipalArn":{"Fn::Join"`, `:iam::*:role/killswitch/killswitch-function"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("central topic policy lacks %s: %s", want, doc)
		}
	}
	assert(t, "central email", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), m("Protocol", "email", "Endpoint", "sec@example.com"))
	})
	// The code bucket is readable by the organization only.
	bp := js(b.only(t, "AWS::S3::BucketPolicy")["PolicyDocument"])
	if !strings.Contains(bp, `"s3:GetObject"`) || !strings.Contains(bp, `"aws:PrincipalOrgID":"o-abcdefghij"`) {
		t.Errorf("code bucket policy %s, want reads by the organization's accounts only", bp)
	}
}

func TestOrgStackRefusesARegionOtherThanUSEast1(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.BillingAlarm = false
	app := awscdk.NewApp(nil)
	dir := assetDir(t)
	_, err := stack.NewOrgStack(app, stack.OrgStackID, &stack.OrgStackProps{
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")}},
		Org:        orgConfig(t, baseOrg, cfg), Member: cfg, AssetDir: dir,
	})
	if err == nil || !strings.Contains(err.Error(), "killswitchOrg: the org stack must be deployed to us-east-1") {
		t.Errorf("error %v, want one saying the org stack belongs in us-east-1", err)
	}
}

func TestDefaultContextHasNoOrgStack(t *testing.T) {
	// cdk.json's own context, as `cdk synth` reads it.
	root, err := stack.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &cdk); err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &cdk.Context})
	cfg, err := stack.ConfigFromContext(app.Node())
	if err != nil {
		t.Fatal(err)
	}
	if _, present, err := stack.OrgConfigFromContext(app.Node(), cfg); present || err != nil {
		t.Errorf("cdk.json's context gives an org stack (present=%v, err=%v); the default synth must be the single-account stack only", present, err)
	}
	// A per-key override alone is enough to ask for it.
	app = awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{"killswitchOrg.targetOuIds": "r-ab12"}})
	if _, present, err := stack.OrgConfigFromContext(app.Node(), cfg); !present || err == nil || !strings.Contains(err.Error(), "killswitchOrg.organizationId: is required") {
		t.Errorf("present=%v err=%v, want the org block read and organizationId required", present, err)
	}
}

func TestOrgConfigNamesTheKey(t *testing.T) {
	cfg := stack.DefaultConfig()
	cases := []struct {
		block     string
		overrides map[string]any
		want      []string
	}{
		{`{}`, nil, []string{"killswitchOrg.organizationId: is required", "killswitchOrg.targetOuIds: is required"}},
		{`{"organizationId":"org-1","targetOuIds":["ou-x","r-ab12","r-ab12"]}`, nil, []string{
			`killswitchOrg.organizationId: must be an organization ID like o-a1b2c3d4e5, got "org-1"`,
			`killswitchOrg.targetOuIds[0]: must be an OU ID`, `killswitchOrg.targetOuIds[2]: "r-ab12" is listed twice`}},
		{baseOrg, map[string]any{"scpGuards": "false"}, []string{"killswitchOrg.scpGuards: unknown key"}},
		{baseOrg, map[string]any{"scpGuard": "maybe"}, []string{`killswitchOrg.scpGuard: must be true or false, got "maybe"`}},
		{baseOrg, map[string]any{"failureTolerancePercentage": "150", "maxConcurrentPercentage": "0"}, []string{
			"killswitchOrg.failureTolerancePercentage: must be from 0 to 100, got 150", "killswitchOrg.maxConcurrentPercentage: must be from 1 to 100, got 0"}},
		{baseOrg, map[string]any{"orgAdminArns": "arn:aws:iam::*:group/admins", "centralEmails": "not-an-email", "callAs": "ME"}, []string{
			"killswitchOrg.orgAdminArns[0]: must be an IAM role or user ARN", "killswitchOrg.centralEmails[0]: must be a plain email address",
			`killswitchOrg.callAs: must be "SELF"`}},
		{`{"organizationId":"o-abcdefghij","targetOuIds":["ou-ab12-cdef3456"],"overrides":[
		   {"targets":["ou-ab12-child999"],"killswitch":{"budgetUsd":5}},
		   {"targets":["111122223333"],"killswitch":{"quarantine":"off","budgetUsd":-1}},
		   {"targets":["111122223333","x"],"killswitch":{"dryRun":true}},
		   {"targets":["222233334444"],"killswitch":{}}]}`, nil, []string{
			`killswitchOrg.overrides[0].targets[0]: "ou-ab12-child999" is not one of targetOuIds`,
			"killswitchOrg.overrides[1].killswitch.quarantine: cannot differ per account",
			"killswitchOrg.overrides[1].killswitch.budgetUsd: must be greater than 0, got -1",
			`killswitchOrg.overrides[2].targets[0]: "111122223333" is already overridden by overrides[1]`,
			`killswitchOrg.overrides[2].targets[1]: must be an account ID (12 digits) or an OU ID from targetOuIds, got "x"`,
			"killswitchOrg.overrides[3].killswitch: must be a non-empty object"}},
	}
	for _, c := range cases {
		_, err := stack.ParseOrgConfig(c.block, c.overrides, cfg)
		if err == nil {
			t.Errorf("%s %v: no error", c.block, c.overrides)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: error lacks %q:\n%v", c.block, c.overrides, w, err)
			}
		}
	}

	// Defaults, and per-key -c values as the CLI gives them.
	org, err := stack.ParseOrgConfig(nil, map[string]any{
		"organizationId": "o-abcdefghij", "targetOuIds": "ou-ab12-cdef3456, r-ab12", "orgQuarantine": "true",
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := stack.DefaultOrgConfig()
	want.OrganizationID, want.TargetOUIDs, want.OrgQuarantine = "o-abcdefghij", []string{"ou-ab12-cdef3456", "r-ab12"}, true
	if !reflect.DeepEqual(org, want) {
		t.Errorf("got %+v\nwant %+v", org, want)
	}
	if !org.SCPGuard || org.FailureTolerancePercentage != 10 || org.MaxConcurrentPercentage != 25 {
		t.Errorf("defaults: scpGuard %v, tolerance %d, concurrency %d", org.SCPGuard, org.FailureTolerancePercentage, org.MaxConcurrentPercentage)
	}
	if !slices.Contains(stack.OverridableKeys(), "budgetUsd") || slices.Contains(stack.OverridableKeys(), "quarantine") {
		t.Errorf("overridable keys %v", stack.OverridableKeys())
	}
}

func noNagErrors(t *testing.T, s awscdk.Stack) {
	t.Helper()
	assert(t, "cdk-nag AwsSolutions errors on "+*s.StackName(), func() {
		assertions.Annotations_FromStack(s).HasNoError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	})
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func copyMap(v any) map[string]any {
	var out map[string]any
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &out)
	return out
}

// The role org operators enter members through is break-glass in every
// member stack: the IAM quarantine's takeover guard names it, the trip
// topic lets it publish, and the function exempts it, each as the
// member's own ARN; a name that is not a role name fails the synth.
func TestOrgMemberAccessRoleIsBreakGlass(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.BreakGlassARNs = []string{"arn:aws:iam::123456789012:role/break-glass"}
	b := buildOrg(t, orgConfig(t, baseOrg, cfg), cfg)
	roleARN := js(m("Fn::Join", arr("", arr("arn:", ref("AWS::Partition"), ":iam::", ref("AWS::AccountId"), ":role/OrganizationAccountAccessRole"))))
	found := map[string]bool{}
	for _, r := range b.member["Resources"].(map[string]any) {
		res := r.(map[string]any)
		body := js(res["Properties"])
		switch res["Type"] {
		case "AWS::IAM::ManagedPolicy", "AWS::SNS::TopicPolicy":
			if strings.Contains(body, roleARN[1:len(roleARN)-1]) || strings.Contains(body, "role/OrganizationAccountAccessRole") {
				found[res["Type"].(string)] = true
			}
		case "AWS::Lambda::Function":
			env := js(res["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)[settings.EnvBreakGlassARNs])
			if strings.Contains(env, "arn:aws:iam::123456789012:role/break-glass,arn:") && strings.Contains(env, "role/OrganizationAccountAccessRole") {
				found["function"] = true
			}
		}
	}
	for _, want := range []string{"AWS::IAM::ManagedPolicy", "AWS::SNS::TopicPolicy", "function"} {
		if !found[want] {
			t.Errorf("the member's %s does not name the member access role as break-glass", want)
		}
	}

	full := cfg
	full.BreakGlassARNs = nil
	for i := range settings.MaxBreakGlass {
		full.BreakGlassARNs = append(full.BreakGlassARNs, fmt.Sprintf("arn:aws:iam::123456789012:role/break-glass-%d", i))
	}
	_, err := stack.NewOrgStack(awscdk.NewApp(nil), stack.OrgStackID, &stack.OrgStackProps{
		Org: orgConfig(t, baseOrg, full), Member: full, AssetDir: assetDir(t), OrgQuarantineAssetDir: assetDir(t)})
	if err == nil || !strings.Contains(err.Error(), "memberAccessRole") {
		t.Errorf("%d breakGlassArns and the member access role: err = %v, want one naming memberAccessRole", settings.MaxBreakGlass, err)
	}

	for _, tc := range []struct{ block, want string }{
		{`"memberAccessRole":"role/Org Admin"`, "memberAccessRole: must be an IAM role name"},
	} {
		_, err := stack.ParseOrgConfig(`{"organizationId":"o-abcdefghij","targetOuIds":["ou-ab12-cdef3456"],`+tc.block+`}`, nil, cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.block, err, tc.want)
		}
	}
}
