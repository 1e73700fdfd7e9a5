package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbudgets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/killswitch/killswitch/internal/settings"
)

// The member stack's own parameters, which the StackSet sets. The override
// parameters are named after their keys (see overrideParam).
const (
	ParamCodeBucket      = "CodeBucket"
	ParamCodeKey         = "CodeKey"
	ParamCentralTopicArn = "CentralTopicArn"
	// MemberAssemblyDir is the member stack's own cloud assembly, inside
	// the app's (cdk.out/killswitch-member): the CLI deploys only the
	// app's top-level stacks, so it never deploys the member stack by
	// itself, and check-infra lints its template from there.
	MemberAssemblyDir = "killswitch-member"
	// MemberRegion is where every member's stack instance is: the billing
	// alarm's metric exists only there, and the function sweeps every
	// region from it.
	MemberRegion = BillingAlarmRegion
)

// Member is the member stack as the StackSet deploys it.
type Member struct {
	Stack awscdk.Stack
	// TemplatePath is its synthesised template.
	TemplatePath string
	// Overrides are the override parameters, by key of the killswitch
	// block, in template order.
	Overrides []MemberParam
}

// MemberParam is one override parameter of the member stack.
type MemberParam struct {
	Key   string // killswitch block key
	Param string // the template's parameter name
	// Value gives the parameter's value for a config.
	Value func(Config) string
}

// memberBreakGlass is the member account's own access role, as an ARN the
// deploy resolves in each account.
func memberBreakGlass(org OrgConfig) []string {
	if org.MemberAccessRole == "" {
		return nil
	}
	return []string{resolvePseudo("arn:${Partition}:iam::${Account}:role/" + org.MemberAccessRole)}
}

// overrideParam names the parameter of key: its key, capitalised
// (budgetUsd: BudgetUsd), which CloudFormation accepts as is.
func overrideParam(key string) string { return strings.ToUpper(key[:1]) + key[1:] }

// NewMember synthesises the member stack into its own cloud assembly under
// outdir: the same NewKillswitchStack the single-account deploy uses, for
// cfg, with three differences a StackSet needs.
//
//   - Its function's code comes from the CodeBucket and CodeKey parameters:
//     a StackSet cannot publish CDK assets, which live in each account's
//     own bootstrap bucket, and member accounts are not bootstrapped. The
//     org stack copies the code to its code bucket and passes its location.
//   - It has no bootstrap version rule, for the same reason.
//   - Its function also publishes to the org's central topic
//     (CentralTopicArn), and the keys some override changes are
//     parameters, whose defaults are cfg's values.
//
// cdk-nag's AwsSolutions checks run on it as on the single-account stack;
// an unsuppressed finding is an error here.
func NewMember(outdir string, cfg Config, org OrgConfig, assetDir string) (Member, error) {
	dir := filepath.Join(outdir, MemberAssemblyDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Member{}, err
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(dir), AnalyticsReporting: jsii.Bool(false)})
	s, err := NewKillswitchStack(app, StackID, &KillswitchStackProps{
		StackProps: awscdk.StackProps{
			Synthesizer: awscdk.NewDefaultStackSynthesizer(&awscdk.DefaultStackSynthesizerProps{GenerateBootstrapVersionRule: jsii.Bool(false)}),
			Description: jsii.String("killswitch member stack, deployed by the " + StackSetName + " StackSet of the org stack: AWS Budgets / billing alarm -> SNS -> Lambda that contains EC2 and what launches it when spend crosses the limit"),
		},
		Config:          cfg,
		ExtraBreakGlass: memberBreakGlass(org),
		AssetDir:        assetDir,
	})
	if err != nil {
		return Member{}, err
	}
	m := Member{Stack: s}

	fn := s.Node().FindChild(jsii.String("Function")).(awslambda.Function)
	bucket := awscdk.NewCfnParameter(s, jsii.String(ParamCodeBucket), &awscdk.CfnParameterProps{
		Type:        jsii.String("String"),
		Description: jsii.String("The org stack's code bucket, which holds the function's code (set by the StackSet)"),
	})
	key := awscdk.NewCfnParameter(s, jsii.String(ParamCodeKey), &awscdk.CfnParameterProps{
		Type:        jsii.String("String"),
		Description: jsii.String("The function's code object in the code bucket (set by the StackSet)"),
	})
	fn.Node().DefaultChild().(awslambda.CfnFunction).AddPropertyOverride(jsii.String("Code"), map[string]any{
		"S3Bucket": bucket.ValueAsString(),
		"S3Key":    key.ValueAsString(),
	})

	central := awscdk.NewCfnParameter(s, jsii.String(ParamCentralTopicArn), &awscdk.CfnParameterProps{
		Type:           jsii.String("String"),
		AllowedPattern: jsii.String(`arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+`),
		Description:    jsii.String("The org stack's central topic, which also receives every report (set by the StackSet)"),
	})
	fn.AddEnvironment(jsii.String(settings.EnvCentralTopicARN), central.ValueAsString(), nil)
	// Reports go to the central topic too; its policy accepts this role
	// from the organization's accounts only.
	s.Node().FindChild(jsii.String("FunctionRole")).(awsiam.Role).AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("PublishToTheOrgCentralTopic"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("sns:Publish"),
		Resources: &[]*string{central.ValueAsString()},
	}))

	for _, p := range overrideParams(cfg, org) {
		def := p.Value(cfg)
		typ := "String"
		if p.Key == "budgetUsd" || p.Key == "billingAlarmThresholdUsd" {
			typ = "Number"
		}
		param := awscdk.NewCfnParameter(s, jsii.String(p.Param), &awscdk.CfnParameterProps{
			Type:        jsii.String(typ),
			Default:     def,
			Description: jsii.String("killswitch." + p.Key + ", overridden per account or OU by the StackSet"),
		})
		switch p.Key {
		case "budgetUsd":
			s.Node().FindChild(jsii.String("Budget")).(awsbudgets.CfnBudget).AddPropertyOverride(jsii.String("Budget.BudgetLimit.Amount"), param.ValueAsNumber())
		case "billingAlarmThresholdUsd":
			alarm := s.Node().FindChild(jsii.String("BillingAlarm")).(awscloudwatch.Alarm)
			alarm.Node().DefaultChild().(awscloudwatch.CfnAlarm).AddPropertyOverride(jsii.String("Threshold"), param.ValueAsNumber())
		default:
			st, _ := settings.ByKey(p.Key)
			fn.AddEnvironment(jsii.String(st.Env), param.ValueAsString(), nil)
		}
		m.Overrides = append(m.Overrides, p)
	}

	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	// The assembly's manifest records every annotation: an error (an
	// unsuppressed cdk-nag finding) fails the org synth as the CLI fails
	// the single-account one.
	nagErrors, err := assemblyErrors(filepath.Join(dir, "manifest.json"), *s.ArtifactId())
	if err != nil {
		return Member{}, err
	}
	if len(nagErrors) > 0 {
		return Member{}, fmt.Errorf("the member stack has errors:\n  %s", strings.Join(nagErrors, "\n  "))
	}
	m.TemplatePath = filepath.Join(dir, *s.ArtifactId()+".template.json")
	return m, nil
}

// assemblyErrors reads the error annotations of one stack from a cloud
// assembly's manifest.
func assemblyErrors(manifest, artifact string) ([]string, error) {
	data, err := os.ReadFile(manifest)
	if err != nil {
		return nil, fmt.Errorf("reading the member assembly: %w", err)
	}
	var asm struct {
		Artifacts map[string]struct {
			Metadata map[string][]struct {
				Type string `json:"type"`
				Data any    `json:"data"`
			} `json:"metadata"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(data, &asm); err != nil {
		return nil, fmt.Errorf("reading the member assembly %s: %w", manifest, err)
	}
	var out []string
	for path, entries := range asm.Artifacts[artifact].Metadata {
		for _, e := range entries {
			if e.Type == "aws:cdk:error" {
				out = append(out, fmt.Sprintf("%s: %v", path, e.Data))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// overrideParams are the parameters the overrides need: one per key any
// override changes, and the alarm's threshold whenever the budget is
// overridden (it follows the budget unless set).
func overrideParams(cfg Config, org OrgConfig) []MemberParam {
	keys := map[string]bool{}
	for _, o := range org.Overrides {
		for _, k := range o.Keys {
			keys[k] = true
		}
	}
	if keys["budgetUsd"] {
		keys["billingAlarmThresholdUsd"] = true
	}
	if !cfg.BillingAlarm {
		// No alarm, no threshold to set.
		delete(keys, "billingAlarmThresholdUsd")
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []MemberParam
	for _, k := range sorted {
		p := MemberParam{Key: k, Param: overrideParam(k)}
		switch k {
		case "budgetUsd":
			p.Value = func(c Config) string { return num(c.BudgetUSD) }
		case "billingAlarmThresholdUsd":
			p.Value = func(c Config) string { return num(c.BillingAlarmThresholdUSD) }
		default:
			st, _ := settings.ByKey(k)
			p.Value = func(c Config) string { return st.Get(&c.Settings) }
		}
		out = append(out, p)
	}
	return out
}
