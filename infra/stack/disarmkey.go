package stack

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// DisarmKeyOutput is the stack output naming the disarm key, which the
// CLI reads to make a disarm proof.
const DisarmKeyOutput = "DisarmKeyArn"

// newDisarmKey creates the KMS HMAC key whose MAC proves a disarm
// (internal/disarmproof), with its alias and its policy from
// guard.DisarmKeyPolicy: only break-glass principals and the root user may
// generate a MAC; only they and the deploy may change the key.
//
// An L1 key, so the template's key policy is exactly the guard document:
// the L2 construct may add statements of its own. HMAC keys cannot rotate
// automatically (AWS::KMS::Key EnableKeyRotation: only SYMMETRIC_DEFAULT
// keys; https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html).
func newDisarmKey(stack awscdk.Stack, cfg Config) awskms.CfnKey {
	key := awskms.NewCfnKey(stack, jsii.String("DisarmKey"), &awskms.CfnKeyProps{
		Description: jsii.String("killswitch disarm key: a disarm carries an HMAC of it over the account and the trip; only break-glass principals and the root user may make one, the function may only verify it"),
		KeySpec:     jsii.String(guard.DisarmKeySpec),
		KeyUsage:    jsii.String(guard.DisarmKeyUsage),
		KeyPolicy:   cfnValue(guard.DisarmKeyPolicy(cfg.BreakGlassARNs)),
	})
	suppress(key, "AwsSolutions-KMS5", "An HMAC_256 key cannot rotate automatically: KMS rotates only SYMMETRIC_DEFAULT keys. It only authenticates disarms, whose messages are bound to one trip and a 15-minute window.")
	awskms.NewCfnAlias(stack, jsii.String("DisarmKeyAlias"), &awskms.CfnAliasProps{
		AliasName:   jsii.String(guard.DisarmKeyAlias),
		TargetKeyId: key.AttrKeyId(),
	})
	awscdk.NewCfnOutput(stack, jsii.String(DisarmKeyOutput), &awscdk.CfnOutputProps{
		Value:       key.AttrArn(),
		Description: jsii.String("The KMS HMAC key a disarm proves itself with; `killswitch disarm`, as a break-glass principal or the root user, makes the proof"),
	})
	return key
}

// grantVerifyDisarm lets the function verify disarm proofs, and nothing
// else with the key: it can never make one.
func grantVerifyDisarm(role awsiam.Role, key awskms.CfnKey) {
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("VerifyDisarmProofs"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("kms:VerifyMac"),
		Resources: &[]*string{key.AttrArn()},
	}))
}

// cfnValue is v as plain JSON values, every string with the guard's
// ${Partition}, ${Region} and ${Account} as the stack's pseudo-parameters.
func cfnValue(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err) // guard's documents always marshal
	}
	var plain any
	if err := json.Unmarshal(raw, &plain); err != nil {
		panic(err)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case string:
			return resolvePseudo(x)
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
		}
		return x
	}
	return walk(plain)
}
