package stack_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/infra/stack"
)

// A brand-new account's concurrency quota is often 10, and Lambda refuses
// any reservation that leaves fewer than 10 unreserved: by default the
// function reserves nothing, and a reservation the owner asks for comes
// with a warning at synth.
func TestReservedConcurrencyIsOptionalAndWarned(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reserved int
	}{
		{"default: none", 0},
		{"set by the owner", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := stack.DefaultConfig()
			cfg.ReservedConcurrency = tc.reserved
			b := build(t, cfg, "us-east-1")
			fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
			got, set := b.props(fn)["ReservedConcurrentExecutions"]
			switch {
			case tc.reserved == 0 && set:
				t.Errorf("ReservedConcurrentExecutions = %v by default, want none", got)
			case tc.reserved > 0 && got != float64(tc.reserved):
				t.Errorf("ReservedConcurrentExecutions = %v, want %d", got, tc.reserved)
			}
			warnings := assertions.Annotations_FromStack(b.stack).FindWarning(jsii.String("*"),
				assertions.Match_StringLikeRegexp(jsii.String("reservedConcurrency is set.*quota of 10")))
			if n := len(*warnings); (n > 0) != (tc.reserved > 0) {
				t.Errorf("%d quota warning(s) with reservedConcurrency %d", n, tc.reserved)
			}
		})
	}
}

func TestReservedConcurrencyMustNotBeNegative(t *testing.T) {
	_, err := stack.ParseConfig(map[string]any{"reservedConcurrency": -1}, nil)
	if err == nil {
		t.Fatal("a negative reservedConcurrency was accepted")
	}
}
