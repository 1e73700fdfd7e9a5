package stack

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudformation"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsorganizations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// Names of the org stack and what it creates (see internal/guard).
const (
	OrgStackID           = guard.OrgStackName
	StackSetName         = guard.StackSetName
	CentralTopicName     = guard.CentralTopicName
	GuardSCPName         = guard.GuardSCPName
	OrgQuarantineSCPName = guard.OrgQuarantineSCPName
	// MaxSCPSize is AWS Organizations' limit on a service control policy.
	MaxSCPSize = 5120
)

// OrgStackProps configures NewOrgStack.
type OrgStackProps struct {
	awscdk.StackProps
	Org OrgConfig
	// Member is the killswitch block every member account gets (before
	// the overrides).
	Member Config
	// AssetDir holds the member function's bootstrap, as for
	// NewKillswitchStack.
	AssetDir string
	// OrgQuarantineAssetDir holds the org quarantine function's bootstrap;
	// needed only with orgQuarantine.
	OrgQuarantineAssetDir string
}

// OrgStack is the org stack and the member stack it deploys.
type OrgStack struct {
	Stack    awscdk.Stack
	Member   Member
	StackSet awscloudformation.CfnStackSet
	// Guard is the guard SCP; nil when scpGuard is off.
	Guard awsorganizations.CfnPolicy
	// CentralTopic receives every member's reports.
	CentralTopic awssns.Topic
	// MemberTemplate is the member template as the StackSet reads it.
	MemberTemplate awss3assets.Asset
}

// NewOrgStack builds the org stack, for the management account or a
// delegated administrator, in us-east-1: a service-managed StackSet of the
// member stack over the target OUs, the code bucket it reads, the central
// topic, the guard SCP and, if asked, the org quarantine.
func NewOrgStack(scope constructs.Construct, id string, props *OrgStackProps) (OrgStack, error) {
	if err := props.Member.Validate(); err != nil {
		return OrgStack{}, err
	}
	if env := props.Env; env != nil && env.Region != nil && *env.Region != "" &&
		!*awscdk.Token_IsUnresolved(env.Region) && *env.Region != MemberRegion {
		return OrgStack{}, fmt.Errorf("%s: the org stack must be deployed to %s, where the members' stacks and its code bucket are (a function's code must be in its own region), but the region is %s; deploy with AWS_REGION=%s",
			OrgContextKey, MemberRegion, *env.Region, MemberRegion)
	}
	if props.Org.OrgQuarantine {
		if err := checkBootstrap(props.OrgQuarantineAssetDir); err != nil {
			return OrgStack{}, fmt.Errorf("%s.orgQuarantine: %w", OrgContextKey, err)
		}
	}
	guardDoc, err := GuardSCPDocument(props.Org)
	if err != nil {
		return OrgStack{}, err
	}

	// The member assembly goes inside the app's, next to its templates.
	stage := awscdk.Stage_Of(scope)
	if stage == nil {
		s, ok := scope.(awscdk.Stage)
		if !ok {
			return OrgStack{}, fmt.Errorf("the org stack must be built in an app or a stage")
		}
		stage = s
	}
	outdir := *stage.Outdir()
	member, err := NewMember(outdir, props.Member, props.Org, props.AssetDir)
	if err != nil {
		return OrgStack{}, fmt.Errorf("building the member stack: %w", err)
	}

	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("killswitch org stack: a service-managed StackSet puts the kill switch into every account of the target OUs; an SCP guards it; reports reach a central topic")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sprops)
	out := OrgStack{Stack: stack, Member: member}

	code := newCodeBucket(stack, props.Org)
	// The member function's code, copied from the CDK asset into the code
	// bucket under its content hash: a new build is a new key, so the
	// StackSet's parameter changes and every member's function is updated.
	deployment := awss3deployment.NewBucketDeployment(stack, jsii.String("MemberCode"), &awss3deployment.BucketDeploymentProps{
		DestinationBucket: code,
		Sources:           &[]awss3deployment.ISource{awss3deployment.Source_Asset(jsii.String(props.AssetDir), nil)},
		Extract:           jsii.Bool(false),
		// Old builds stay: a member's rollback needs the code it had.
		Prune:          jsii.Bool(false),
		RetainOnDelete: jsii.Bool(true),
	})
	suppressBucketDeployment(stack)
	template := awss3assets.NewAsset(stack, jsii.String("MemberTemplate"), &awss3assets.AssetProps{
		Path: jsii.String(member.TemplatePath),
	})

	out.MemberTemplate = template
	out.CentralTopic = newCentralTopic(stack, props.Org)
	out.StackSet = newStackSet(stack, props, member, template, code, deployment, out.CentralTopic)

	if props.Org.SCPGuard {
		out.Guard = awsorganizations.NewCfnPolicy(stack, jsii.String("GuardPolicy"), &awsorganizations.CfnPolicyProps{
			Name:        jsii.String(GuardSCPName),
			Type:        jsii.String("SERVICE_CONTROL_POLICY"),
			Description: jsii.String("killswitch guard: no one but the StackSet, the switch's own roles and the org admins may change or delete the kill switch in member accounts"),
			Content:     cfnDocument(guardDoc),
			TargetIds:   jsii.Strings(props.Org.TargetOUIDs...),
		})
		awscdk.NewCfnOutput(stack, jsii.String("GuardPolicyId"), &awscdk.CfnOutputProps{
			Value:       out.Guard.AttrId(),
			Description: jsii.String("The guard SCP, attached to the target OUs"),
		})
	}
	if props.Org.OrgQuarantine {
		newOrgQuarantine(stack, props, out.CentralTopic)
	}

	awscdk.NewCfnOutput(stack, jsii.String("StackSetName"), &awscdk.CfnOutputProps{
		Value:       out.StackSet.StackSetName(),
		Description: jsii.String("The service-managed StackSet that deploys the member stack"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("CentralTopicArn"), &awscdk.CfnOutputProps{
		Value:       out.CentralTopic.TopicArn(),
		Description: jsii.String("Every member's reports; subscribe the security team here"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("CodeBucketName"), &awscdk.CfnOutputProps{
		Value:       code.BucketName(),
		Description: jsii.String("The member function's code, readable by the organization's accounts"),
	})
	return out, nil
}

// newCodeBucket is the bucket the members' functions are created from.
// Lambda reads a function's code with the deploying principal's rights (in
// a member, the StackSet execution role), so the organization's accounts
// may read it; nobody outside may.
func newCodeBucket(stack awscdk.Stack, org OrgConfig) awss3.Bucket {
	b := awss3.NewBucket(stack, jsii.String("CodeBucket"), &awss3.BucketProps{
		BucketName:        jsii.String(resolvePseudo(guard.CodeBucketName)),
		Versioned:         jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		// Members' functions name its objects; deleting the org stack
		// must not break their next update or rollback.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	b.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("OrgAccountsReadTheMemberCode"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:GetObject", "s3:GetObjectVersion"),
		Resources:  &[]*string{b.ArnForObjects(jsii.String("*"))},
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": org.OrganizationID}},
	}))
	suppress(b, "AwsSolutions-S1",
		"Server access logs would need a second bucket for a bucket only the org stack's deployment writes, one object per build; "+
			"its policy lets only the organization's accounts read, and CloudTrail data events can be turned on by the owner.")
	return b
}

// suppressBucketDeployment records why the CDK's own bucket-deployment
// function (a singleton at stack level, from aws-cdk-lib) is accepted: it
// runs once per deploy, in the org account, to copy the member code.
func suppressBucketDeployment(stack awscdk.Stack) {
	for _, c := range *stack.Node().Children() {
		if !strings.HasPrefix(*c.Node().Id(), "Custom::CDKBucketDeployment") {
			continue
		}
		// Its role is already a dependency through Properties.Role
		// (cfn-lint W3005); the policy dependency stays.
		if role := c.Node().TryFindChild(jsii.String("ServiceRole")); role != nil {
			c.Node().DefaultChild().Node().RemoveDependency(role)
		}
		suppress(c, "AwsSolutions-IAM4", "aws-cdk-lib's BucketDeployment function uses the AWS-managed basic execution role to write its logs",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
		suppress(c, "AwsSolutions-IAM5", "aws-cdk-lib's BucketDeployment function reads the CDK asset bucket's objects and writes the code bucket's objects; the keys are content hashes known only at publish time")
		suppress(c, "AwsSolutions-L1", "aws-cdk-lib pins the BucketDeployment function's runtime; it runs only during a deploy of the org stack")
	}
}

// newCentralTopic is the org stack's topic that every member's function
// also publishes to. Only the members' kill-switch function role may
// publish, from the organization's accounts: the guard SCP keeps anyone
// in a member from changing that role or its function, so a report on
// this topic comes from a member's switch (the org quarantine relies on
// that).
func newCentralTopic(stack awscdk.Stack, org OrgConfig) awssns.Topic {
	topic := awssns.NewTopic(stack, jsii.String("CentralTopic"), &awssns.TopicProps{
		TopicName:   jsii.String(CentralTopicName),
		DisplayName: jsii.String("killswitch org"),
		EnforceSSL:  jsii.Bool(true),
	})
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("MembersKillSwitchFunctionsPublish"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:PrincipalOrgID": org.OrganizationID},
			"ArnLike":      map[string]any{"aws:PrincipalArn": resolvePseudo(guard.FunctionRolePattern)},
		},
	}))
	for _, email := range org.CentralEmails {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(email), nil))
	}
	return topic
}

// newStackSet is the service-managed StackSet of the member stack. Its
// instances: one per account of the target OUs, in us-east-1, with the
// overrides as parameter overrides of their own instance groups:
//
//   - an override of a target OU gets that OU's group;
//   - an override of accounts gets a group of those accounts within the
//     target OUs (INTERSECTION), and every other group leaves them out
//     (DIFFERENCE), so each account has one instance.
//
// Accounts that join a target OU later get the StackSet's own values.
func newStackSet(stack awscdk.Stack, props *OrgStackProps, member Member, template awss3assets.Asset,
	code awss3.Bucket, deployment awss3deployment.BucketDeployment, central awssns.Topic) awscloudformation.CfnStackSet {
	org := props.Org
	param := func(k string, v *string) *awscloudformation.CfnStackSet_ParameterProperty {
		return &awscloudformation.CfnStackSet_ParameterProperty{ParameterKey: jsii.String(k), ParameterValue: v}
	}
	params := []any{
		param(ParamCodeBucket, code.BucketName()),
		param(ParamCodeKey, awscdk.Fn_Select(jsii.Number(0), deployment.ObjectKeys())),
		param(ParamCentralTopicArn, central.TopicArn()),
	}
	for _, p := range member.Overrides {
		params = append(params, param(p.Param, jsii.String(p.Value(props.Member))))
	}
	overridesOf := func(c Config) []any {
		var out []any
		for _, p := range member.Overrides {
			out = append(out, param(p.Param, jsii.String(p.Value(c))))
		}
		return out
	}

	var overriddenAccounts []string
	overriddenOU := map[string]*OrgOverride{}
	for i := range org.Overrides {
		o := &org.Overrides[i]
		overriddenAccounts = append(overriddenAccounts, o.Accounts...)
		for _, ou := range o.OUs {
			overriddenOU[ou] = o
		}
	}
	targets := func(ous, accounts []string, filter string) *awscloudformation.CfnStackSet_DeploymentTargetsProperty {
		t := &awscloudformation.CfnStackSet_DeploymentTargetsProperty{OrganizationalUnitIds: jsii.Strings(ous...)}
		if len(accounts) > 0 {
			t.Accounts = jsii.Strings(accounts...)
			t.AccountFilterType = jsii.String(filter)
		}
		return t
	}
	group := func(t *awscloudformation.CfnStackSet_DeploymentTargetsProperty, overrides []any) *awscloudformation.CfnStackSet_StackInstancesProperty {
		g := &awscloudformation.CfnStackSet_StackInstancesProperty{DeploymentTargets: t, Regions: jsii.Strings(MemberRegion)}
		if len(overrides) > 0 {
			g.ParameterOverrides = overrides
		}
		return g
	}
	var plain []string
	for _, ou := range org.TargetOUIDs {
		if overriddenOU[ou] == nil {
			plain = append(plain, ou)
		}
	}
	var groups []any
	if len(plain) > 0 {
		groups = append(groups, group(targets(plain, overriddenAccounts, "DIFFERENCE"), nil))
	}
	for _, ou := range org.TargetOUIDs {
		if o := overriddenOU[ou]; o != nil {
			groups = append(groups, group(targets([]string{ou}, overriddenAccounts, "DIFFERENCE"), overridesOf(o.Config)))
		}
	}
	for _, o := range org.Overrides {
		if len(o.Accounts) > 0 {
			groups = append(groups, group(targets(org.TargetOUIDs, o.Accounts, "INTERSECTION"), overridesOf(o.Config)))
		}
	}

	ss := awscloudformation.NewCfnStackSet(stack, jsii.String("MemberStackSet"), &awscloudformation.CfnStackSetProps{
		StackSetName:    jsii.String(StackSetName),
		Description:     jsii.String("killswitch: the member stack in every account of the target OUs, and in every account that joins them"),
		PermissionModel: jsii.String("SERVICE_MANAGED"),
		CallAs:          jsii.String(org.CallAs),
		AutoDeployment: &awscloudformation.CfnStackSet_AutoDeploymentProperty{
			Enabled: jsii.Bool(true),
			// An account that leaves the OUs loses the switch's stack
			// with the rest: the guard SCP no longer protects it there.
			RetainStacksOnAccountRemoval: jsii.Bool(false),
		},
		Capabilities: jsii.Strings("CAPABILITY_NAMED_IAM"),
		// A map: the typed property renders as "active", which CloudFormation
		// rejects.
		ManagedExecution: map[string]any{"Active": true},
		OperationPreferences: &awscloudformation.CfnStackSet_OperationPreferencesProperty{
			FailureTolerancePercentage: jsii.Number(org.FailureTolerancePercentage),
			MaxConcurrentPercentage:    jsii.Number(org.MaxConcurrentPercentage),
			// Soft: the concurrency is not capped by the tolerance, so a
			// large OU rolls out at maxConcurrentPercentage.
			ConcurrencyMode:       jsii.String("SOFT_FAILURE_TOLERANCE"),
			RegionConcurrencyType: jsii.String("PARALLEL"),
		},
		TemplateUrl:         template.HttpUrl(),
		Parameters:          params,
		StackInstancesGroup: groups,
	})
	// The code is in the bucket before any member creates its function:
	// CodeKey is the deployment's output, so CloudFormation waits for it.
	return ss
}

// GuardSCPDocument is the guard SCP for org, from guard.GuardSCP, with the
// exceptions the org stack needs: the StackSet execution role (updates),
// the switch's own function and schedule roles (the function writes its
// latch and manifests; the schedule invokes it), and the org admins. It is
// refused when its JSON exceeds the 5,120-character SCP limit (measured
// with the longest partition name), naming orgAdminArns, the only part
// that grows.
func GuardSCPDocument(org OrgConfig) (guard.Document, error) {
	doc := guard.GuardSCP(SCPExceptions(org), guardedAdminRoles(org))
	if n := SCPSize(doc); n > MaxSCPSize {
		return doc, fmt.Errorf("%s.orgAdminArns: the guard SCP would be %d characters, over the %d-character limit of a service control policy; name fewer principals, or one wildcard pattern such as arn:aws:iam::*:role/OrgSecurityAdmin*",
			OrgContextKey, n, MaxSCPSize)
	}
	return doc, nil
}

// SCPExceptions are the principals both SCPs except.
func SCPExceptions(org OrgConfig) []string {
	return append([]string{guard.StackSetExecRolePattern, guard.FunctionRolePattern, guard.ScheduleRolePattern}, org.OrgAdminARNs...)
}

// guardedAdminRoles are the org admins' role ARNs: an attacker who could
// create a role of that name in a member account would be excepted.
func guardedAdminRoles(org OrgConfig) []string {
	var out []string
	for _, a := range org.OrgAdminARNs {
		if strings.Contains(a, ":role/") {
			out = append(out, a)
		}
	}
	return out
}

// SCPSize is the document's length as compact JSON with the longest
// partition name, which is what Organizations counts.
func SCPSize(doc guard.Document) int {
	b, _ := json.Marshal(doc.Resolve("aws-us-gov", "*", "*"))
	return len(b)
}

// cfnDocument turns a guard document into the template's JSON, with the
// ${Partition} placeholders as the stack's partition.
func cfnDocument(doc guard.Document) map[string]any {
	return cfnValue(doc).(map[string]any)
}
