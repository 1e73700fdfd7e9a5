package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
)

// QuarantinePolicyName is the customer-managed deny policy the function
// attaches to every IAM principal when it trips (quarantine: deny-launch).
const QuarantinePolicyName = guard.QuarantinePolicyName

// QuarantineEnabled says whether cfg creates the quarantine policy.
func QuarantineEnabled(cfg Config) bool { return cfg.Quarantine == settings.QuarantineDenyLaunch }

// newQuarantinePolicy creates the quarantine policy from
// guard.QuarantineDocument, the one definition the evaluator tests read
// too. It is attached to nothing at deploy; the function attaches it at
// trip time (as a managed policy, or as the permissions boundary of a
// principal whose policy slots are full). Its statements name the switch's
// resources by their fixed names, not by reference, so the function (whose
// environment names the policy) and the policy do not depend on each other.
func newQuarantinePolicy(stack awscdk.Stack, cfg Config) awsiam.ManagedPolicy {
	policy := awsiam.NewManagedPolicy(stack, jsii.String("QuarantinePolicy"), &awsiam.ManagedPolicyProps{
		ManagedPolicyName: jsii.String(QuarantinePolicyName),
		Description:       jsii.String("killswitch quarantine: attached by the kill switch when it trips (or set as the permissions boundary); denies everything but sts:GetCallerIdentity and assuming a break-glass role. Detach it as the root user or a break-glass principal."),
		Document:          awsiam.PolicyDocument_FromJson(cfnValue(guard.QuarantineDocument(cfg.BreakGlassARNs))),
	})
	// Its one Allow is sts:GetCallerIdentity (no resource-level
	// permissions) and sts:AssumeRole on *, which its own Deny narrows to
	// the break-glass roles; it allows them on * so that, as a permissions
	// boundary, it leaves those two open. Its Denies are on * by design.
	suppress(policy, iamWildcards, "quarantine (deny by default): its Allow is sts:GetCallerIdentity and sts:AssumeRole, which its own Deny limits to the break-glass roles; as a permissions boundary it must allow what it leaves open", "Resource::*")
	return policy
}

// guardConditions are a guard statement's conditions, placeholders
// resolved to the stack's pseudo parameters.
func guardConditions(c map[string]map[string][]string) *map[string]any {
	conds := map[string]any{}
	for op, kv := range c {
		m := map[string]any{}
		for k, vs := range kv {
			var values []any
			for _, v := range vs {
				values = append(values, resolvePseudo(v))
			}
			m[k] = values
		}
		conds[op] = m
	}
	return &conds
}
