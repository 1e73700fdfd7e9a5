package resources_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

func ecsTasksKind(f *fakeECS) *resources.ECSTasks {
	return resources.NewECSTasks(func(string) resources.ECSTasksAPI { return f })
}

func TestECSTasksStopsOnlyStandalone(t *testing.T) {
	t.Parallel()
	f := newFakeECS("c")
	f.addService("c", "web", 2, "ACTIVE")
	f.addTask("c", "svc1", "service:web", "ecs-svc/123")
	f.addTask("c", "run1", "family:miner", "")
	f.addTask("c", "run2", "family:miner", "")
	f.addTask("c", "run3", "family:miner", "")
	// RunTask takes any group: one naming a service that does not exist is
	// still standalone.
	f.addTask("c", "forged", "service:nothing-here", "ecs-svc/999")

	kr := sweepKind(t, ecsTasksKind(f), engine.Policy{})
	if kr.Error != "" {
		t.Fatalf("kind error: %s", kr.Error)
	}
	got := outcomesByID(kr)
	for _, id := range []string{"c/run1", "c/run2", "c/run3", "c/forged"} {
		o := wantOutcome(t, got, id, engine.StatusDone, resources.VerbStopTask, "")
		if p, ok := o.Prior.(resources.TaskPrior); !ok || p.LastStatus != "RUNNING" || p.TaskDefinition == "" {
			t.Errorf("%s prior = %#v", id, o.Prior)
		}
	}
	if _, ok := got["c/svc1"]; ok {
		t.Error("a service's task was stopped; the service kind contains it")
	}
	for _, s := range f.stops {
		if aws.ToString(s.Reason) == "" {
			t.Error("StopTask without a reason")
		}
	}

	before := len(f.stops)
	if kr := sweepKind(t, ecsTasksKind(f), engine.Policy{}); kr.Found != 0 || len(f.stops) != before {
		t.Errorf("second sweep found %d and stopped %d more", kr.Found, len(f.stops)-before)
	}
}

func TestECSTasksStopFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		status engine.Status
		code   string
	}{
		{"cluster gone", &types.ClusterNotFoundException{Message: aws.String("Cluster not found.")}, engine.StatusGone, ""},
		{"denied", apiErr("AccessDeniedException"), engine.StatusFailed, "AccessDeniedException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeECS("c")
			f.addTask("c", "t1", "family:x", "")
			f.stopErr["arn:aws:ecs:eu-west-1:123456789012:task/c/t1"] = tc.err
			wantOutcome(t, outcomesByID(sweepKind(t, ecsTasksKind(f), engine.Policy{})), "c/t1", tc.status, resources.VerbStopTask, tc.code)
		})
	}
}
