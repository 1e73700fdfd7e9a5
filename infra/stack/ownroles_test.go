package stack_test

import (
	"reflect"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
)

// ownRoleIDsValue is the environment value the stack writes for its roles:
// their RoleId attributes, comma-joined, in this order.
func ownRoleIDsValue(roles ...string) any {
	parts := []any{}
	for i, r := range roles {
		if i > 0 {
			parts = append(parts, ",")
		}
		parts = append(parts, map[string]any{"Fn::GetAtt": []any{r, "RoleId"}})
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return map[string]any{"Fn::Join": []any{"", parts}}
}

// TestFunctionEnvironmentCarriesOwnRoleIDs: the function knows the stack's
// roles by their unique IDs, read from the roles themselves: the
// function's, the scheduler's and, only with Slack, Chatbot's. Every role
// of the template is listed, and the function does not wait for the
// schedule or the Slack channel.
func TestFunctionEnvironmentCarriesOwnRoleIDs(t *testing.T) {
	for _, slack := range []bool{false, true} {
		name := "without Slack"
		if slack {
			name = "with Slack"
		}
		t.Run(name, func(t *testing.T) {
			cfg := stack.DefaultConfig()
			if slack {
				cfg.SlackWorkspaceID, cfg.SlackChannelID = "T0123ABCD", "C0123ABCD"
			}
			b := build(t, cfg, "us-east-1")
			roles := []string{b.functionRole(t), b.one(t, "AWS::IAM::Role", "RoleName", guard.ScheduleRoleName)}
			if slack {
				roles = append(roles, b.one(t, "AWS::IAM::Role", "RoleName", guard.SlackRoleName))
			}
			if n := len(b.ofType("AWS::IAM::Role")); n != len(roles) {
				t.Errorf("the template has %d roles, the environment names %d", n, len(roles))
			}
			got := b.functionEnv(t)[settings.EnvOwnRoleIDs]
			if want := ownRoleIDsValue(roles...); !reflect.DeepEqual(got, want) {
				t.Errorf("%s = %v, want %v", settings.EnvOwnRoleIDs, got, want)
			}
			fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
			deps, _ := b.resources()[fn]["DependsOn"].([]any)
			for _, d := range deps {
				if typ := b.resources()[d.(string)]["Type"]; typ == "AWS::Scheduler::Schedule" || typ == "AWS::Chatbot::SlackChannelConfiguration" {
					t.Errorf("the function depends on %s (%v)", d, typ)
				}
			}
		})
	}
}
