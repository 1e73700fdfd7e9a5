package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// LatchParameterName is the SSM parameter that remembers the switch has
// tripped, so that the scheduled runs keep sweeping after the one budget
// alert of the month. Fixed, so that the operator can read and reset it.
const LatchParameterName = guard.LatchParameterName

// LatchInitialValue is the latch as the stack creates it: not tripped.
// CloudFormation writes it only on create (or if this value changes), so a
// stack update never resets a tripped latch.
const LatchInitialValue = `{"tripped":false}`

func newLatch(stack awscdk.Stack) awsssm.StringParameter {
	return awsssm.NewStringParameter(stack, jsii.String("Latch"), &awsssm.StringParameterProps{
		ParameterName: jsii.String(LatchParameterName),
		StringValue:   jsii.String(LatchInitialValue),
		Description:   jsii.String("killswitch latch: set by the function when it trips; while tripped, every scheduled run sweeps again. Reset it to " + LatchInitialValue + " once the account is clean."),
		Tier:          awsssm.ParameterTier_STANDARD,
	})
}
