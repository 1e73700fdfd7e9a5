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

// newQuarantinePolicy creates the deny policy from guard.QuarantineDocument,
// the one definition the function's tests and the policy-content test read
// too. It is attached to nothing at deploy; the function attaches it at
// trip time. Its statements name the switch's resources by their fixed
// names, not by reference, so the function (whose environment names the
// policy) and the policy do not depend on each other.
func newQuarantinePolicy(stack awscdk.Stack, cfg Config) awsiam.ManagedPolicy {
	doc := guard.QuarantineDocument(cfg.BreakGlassARNs)
	var statements []awsiam.PolicyStatement
	for _, s := range doc.Statement {
		resources := make([]*string, len(s.Resource))
		for i, r := range s.Resource {
			resources[i] = jsii.String(resolvePseudo(r))
		}
		props := &awsiam.PolicyStatementProps{
			Sid:       jsii.String(s.Sid),
			Effect:    awsiam.Effect_DENY,
			Actions:   jsii.Strings(s.Action...),
			Resources: &resources,
		}
		if s.Condition != nil {
			conds := map[string]any{}
			for op, kv := range s.Condition {
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
			props.Conditions = &conds
		}
		statements = append(statements, awsiam.NewPolicyStatement(props))
	}
	return awsiam.NewManagedPolicy(stack, jsii.String("QuarantinePolicy"), &awsiam.ManagedPolicyProps{
		ManagedPolicyName: jsii.String(QuarantinePolicyName),
		Description:       jsii.String("killswitch quarantine: attached by the kill switch when it trips; denies launching compute, new users and keys, and changing the kill switch. Detach it as the root user or a break-glass principal."),
		Document:          awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements}),
	})
}
