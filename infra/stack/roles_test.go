package stack_test

import (
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/guard"
)

// The managed policies the CDK splits off the function role's full inline
// policy hold part of the function's rights: each gets a fixed name under
// the switch's path, which the guard SCP and the quarantine cover
// (guard.OwnPoliciesARN). With every kind on the role overflows.
func TestFunctionOverflowPoliciesAreNamedAndGuarded(t *testing.T) {
	cfg := stack.DefaultConfig()
	cfg.StopDatabases = true
	b := build(t, cfg, "us-east-1")
	role := b.functionRole(t)
	var overflow int
	for _, id := range b.ofType("AWS::IAM::ManagedPolicy") {
		p := b.props(id)
		roles, _ := p["Roles"].([]any)
		if !containsAny(roles, ref(role)) {
			continue
		}
		overflow++
		if p["Path"] != guard.RolePath || p["ManagedPolicyName"] != guard.FunctionOverflowPolicy(overflow) {
			t.Errorf("%s: path %v, name %v; want %s%s", id, p["Path"], p["ManagedPolicyName"], guard.RolePath, guard.FunctionOverflowPolicy(overflow))
		}
	}
	if overflow == 0 {
		t.Skip("the function role's inline policy no longer overflows; nothing to name")
	}
}
