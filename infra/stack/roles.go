package stack

import (
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// The stack's roles other than the function's, created before the
// function: the function's environment carries every own role's unique ID
// (KILLSWITCH_OWN_ROLE_IDS), by which the quarantine knows them, so the
// function depends on these roles but never on the schedule or the Slack
// channel that use them. Their permissions are added where they are used.

// newResweepScheduleRole is the scheduler's role: it may invoke the kill
// switch and nothing else (newResweepSchedule grants that), and only on
// behalf of schedules of this account.
func newResweepScheduleRole(stack awscdk.Stack) awsiam.Role {
	// Only for a schedule in the switch's group of this account
	// (guard.ScheduleRoleTrust, which the evaluator tests and the sweep's
	// drift check read too). Without the aws:SourceArn condition any
	// schedule of the account could pass the role and invoke the function
	// as the switch.
	trust := guard.ScheduleRoleTrust().Statement[0]
	return awsiam.NewRole(stack, jsii.String("ResweepScheduleRole"), &awsiam.RoleProps{
		RoleName: jsii.String(guard.ScheduleRoleName),
		Path:     jsii.String(guard.RolePath),
		AssumedBy: awsiam.NewServicePrincipal(jsii.String(trust.Principal["Service"][0]), &awsiam.ServicePrincipalOpts{
			Conditions: guardConditions(trust.Condition),
		}),
		Description: jsii.String("killswitch resweep schedule (EventBridge Scheduler, group " + guard.ScheduleGroupName + " only): invokes the killswitch function only"),
	})
}

// newSlackRole is AWS Chatbot's role for the Slack channel: no
// permissions (the guardrail is ReadOnlyAccess).
func newSlackRole(stack awscdk.Stack) awsiam.Role {
	return awsiam.NewRole(stack, jsii.String("SlackChannelRole"), &awsiam.RoleProps{
		RoleName:    jsii.String(guard.SlackRoleName),
		Path:        jsii.String(guard.RolePath),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("chatbot.amazonaws.com"), nil),
		Description: jsii.String("killswitch Slack channel (AWS Chatbot): relays notifications only, no permissions"),
	})
}

// roleIDs are the roles' unique IDs (tokens the deploy resolves).
func roleIDs(roles ...awsiam.Role) []string {
	ids := make([]string, 0, len(roles))
	for _, r := range roles {
		if r != nil {
			ids = append(ids, *r.RoleId())
		}
	}
	return ids
}

// overflowPolicies handles the managed policies the CDK splits off a role's
// inline policy (OverflowPolicyN, once the statements pass its estimate of
// IAM's 10,240-character limit for a role's inline policies). The CDK
// splits in an aspect at synth, after the role's cdk-nag suppressions were
// recorded (they reach only the children that existed then) and after the
// function was made to depend on the DefaultPolicy. So this aspect, added
// after the role's own, runs when the role is visited, before cdk-nag
// visits the new policies: it copies the DefaultPolicy's suppressions onto
// them, and makes dependents (the function: Lambda checks its on-failure
// destination's permission at creation) wait for them too.
func overflowPolicies(role awsiam.Role, dependents ...constructs.IConstruct) {
	awscdk.Aspects_Of(role).Add(&overflow{path: *role.Node().Path(), dependents: dependents}, nil)
}

type overflow struct {
	path       string
	dependents []constructs.IConstruct
}

func (o *overflow) Visit(node constructs.IConstruct) {
	if *node.Node().Path() != o.path {
		return
	}
	var meta any
	if def := node.Node().TryFindChild(jsii.String("DefaultPolicy")); def != nil {
		if from, ok := def.Node().DefaultChild().(awscdk.CfnResource); ok {
			meta = from.GetMetadata(jsii.String("cdk_nag"))
		}
	}
	for _, c := range *node.Node().Children() {
		if !strings.HasPrefix(*c.Node().Id(), "OverflowPolicy") {
			continue
		}
		if to, ok := c.Node().DefaultChild().(awscdk.CfnResource); ok && meta != nil && to.GetMetadata(jsii.String("cdk_nag")) == nil {
			to.AddMetadata(jsii.String("cdk_nag"), meta)
		}
		// A fixed name under the switch's path: the guard SCP and the
		// quarantine name it (guard.OwnPoliciesARN), so nobody but
		// break-glass can rewrite the function's rights it holds.
		if cfn, ok := c.Node().DefaultChild().(awsiam.CfnManagedPolicy); ok {
			n, _ := strconv.Atoi(strings.TrimPrefix(*c.Node().Id(), "OverflowPolicy"))
			cfn.SetManagedPolicyName(jsii.String(guard.FunctionOverflowPolicy(n)))
			cfn.SetPath(jsii.String(guard.RolePath))
		}
		for _, d := range o.dependents {
			d.Node().AddDependency(c)
		}
	}
}
