package iamsim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/iamsim"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	allowAll := iamsim.Policy{Name: "admin", Policy: map[string]any{
		"Version":   "2012-10-17",
		"Statement": []any{map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}},
	}}
	denyEC2 := iamsim.Policy{Name: "deny", Policy: map[string]any{
		"Version":   "2012-10-17",
		"Statement": []any{map[string]any{"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}},
	}}
	const user = "arn:aws:iam::111122223333:user/alice"
	const instance = "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0"
	sims := []iamsim.Simulation{
		{Principal: user, Action: "ec2:StopInstances", Resource: instance, ResourceAccount: "111122223333", Identity: []iamsim.Policy{allowAll}},
		{Principal: user, Action: "ec2:StopInstances", Resource: instance, ResourceAccount: "111122223333", Identity: []iamsim.Policy{allowAll, denyEC2}},
		{Principal: user, Action: "ec2:StopInstances", Resource: instance, ResourceAccount: "111122223333"},
		{Principal: user, Action: "ec2:StopInstances", Resource: instance, ResourceAccount: "111122223333", Identity: []iamsim.Policy{allowAll}, Boundaries: []iamsim.Policy{denyEC2}},
	}
	got, err := iamsim.Evaluate(context.Background(), sims)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{iamsim.Allowed, iamsim.ExplicitlyDenied, iamsim.ImplicitlyDenied, iamsim.ExplicitlyDenied}
	for i, w := range want {
		if got[i].Answer != w {
			t.Errorf("simulation %d: %s, want %s", i, got[i].Answer, w)
		}
	}
}

// An evaluator error is an error, never a deny.
func TestEvaluateErrors(t *testing.T) {
	t.Parallel()
	for name, sim := range map[string]iamsim.Simulation{
		"unknown action":      {Principal: "arn:aws:iam::111122223333:user/a", Action: "ec2:LaunchRockets", Resource: "*", ResourceAccount: "111122223333"},
		"wrong resource type": {Principal: "arn:aws:iam::111122223333:user/a", Action: "ec2:StopInstances", Resource: "arn:aws:s3:::bucket", ResourceAccount: "111122223333"},
	} {
		if _, err := iamsim.Evaluate(context.Background(), []iamsim.Simulation{sim}); err == nil || !strings.Contains(err.Error(), "evaluator error") {
			t.Errorf("%s: err %v, want an evaluator error", name, err)
		}
	}
}
