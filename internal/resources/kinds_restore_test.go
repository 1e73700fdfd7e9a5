package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

func rawPrior(t *testing.T, p any) engine.RawPrior {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func resultsByID(rs []engine.RestoreResult) map[string]engine.RestoreResult {
	m := map[string]engine.RestoreResult{}
	for _, r := range rs {
		m[r.ID] = r
	}
	return m
}

// restoreEC2 is a fake of the calls the instance restore makes. Calls not
// faked panic through the nil embedded interface.
type restoreEC2 struct {
	resources.EC2InstancesAPI
	mu       sync.Mutex
	states   map[string]string
	badStart map[string]bool // StartInstances fails for any batch holding one
	starts   [][]string
	modified []string
}

func (f *restoreEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var insts []types.Instance
	for _, fl := range in.Filters {
		for _, id := range fl.Values {
			if st, ok := f.states[id]; ok {
				insts = append(insts, types.Instance{InstanceId: aws.String(id), State: &types.InstanceState{Name: types.InstanceStateName(st)}})
			}
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: insts}}}, nil
}

func (f *restoreEC2) StartInstances(_ context.Context, in *ec2.StartInstancesInput, _ ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, in.InstanceIds)
	for _, id := range in.InstanceIds {
		if f.badStart[id] {
			return nil, &smithy.GenericAPIError{Code: "IncorrectInstanceState", Message: "The instance '" + id + "' is not in a state from which it can be started."}
		}
	}
	for _, id := range in.InstanceIds {
		f.states[id] = "pending"
	}
	return &ec2.StartInstancesOutput{}, nil
}

func (f *restoreEC2) ModifyInstanceAttribute(_ context.Context, in *ec2.ModifyInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	what := aws.ToString(in.InstanceId)
	if in.DisableApiStop != nil {
		what += " disableApiStop"
	}
	if in.DisableApiTermination != nil {
		what += " disableApiTermination"
	}
	f.modified = append(f.modified, what)
	return &ec2.ModifyInstanceAttributeOutput{}, nil
}

func TestEC2InstancesRestore(t *testing.T) {
	t.Parallel()
	running := rawPrior(t, resources.InstancePrior{State: "running"})
	f := &restoreEC2{
		states: map[string]string{
			"i-stopped": "stopped", "i-protected": "stopped", "i-bad": "stopped", "i-running": "running",
			"i-gone": "terminated", "i-stopping": "stopping", "i-was-stopped": "stopped", "i-crashed": "stopped",
		},
		badStart: map[string]bool{"i-bad": true},
	}
	k := resources.NewEC2Instances(func(string) resources.EC2InstancesAPI { return f }, resources.EC2InstanceOptions{})
	stopped := engine.Verb{Past: "stopped", Plan: "stop"}
	protection := engine.Change{Verb: engine.Verb{Past: "stop protection off"}, Prior: rawPrior(t, resources.ProtectionPrior{Attribute: "disableApiStop", Enabled: true})}
	items := []engine.RestoreItem{
		{ID: "i-stopped", Prior: running, Verb: stopped, Status: engine.StatusDone},
		{ID: "i-protected", Prior: running, Verb: stopped, Status: engine.StatusDone, Also: []engine.Change{protection}},
		{ID: "i-bad", Prior: running, Verb: stopped, Status: engine.StatusDone},
		{ID: "i-running", Prior: running, Verb: stopped, Status: engine.StatusDone},
		{ID: "i-gone", Prior: running, Verb: stopped, Status: engine.StatusDone},
		{ID: "i-missing", Prior: running, Verb: stopped, Status: engine.StatusDone},
		{ID: "i-terminated-by-trip", Prior: running, Verb: resources.VerbTerminateInstance, Status: engine.StatusDone},
		{ID: "i-stopping", Prior: running, Verb: stopped, Status: engine.StatusDone},
		{ID: "i-was-stopped", Prior: rawPrior(t, resources.InstancePrior{State: "stopped"}), Verb: stopped, Status: engine.StatusDone},
		// The sweep died after the plan: no outcome, but it was stopped.
		{ID: "i-crashed", Prior: running, Verb: stopped},
	}

	dry := resultsByID(k.Restore(context.Background(), "r1", items, true))
	if len(f.starts) != 0 {
		t.Fatalf("a dry run started %v", f.starts)
	}
	if dry["i-stopped"].Status != engine.RestorePlanned || dry["i-protected"].Action != "start, turn disableApiStop back on" {
		t.Errorf("dry run: %+v", dry)
	}

	got := resultsByID(k.Restore(context.Background(), "r1", items, false))
	for id, want := range map[string]struct {
		status engine.RestoreStatus
		detail string
	}{
		"i-stopped":            {engine.RestoreDone, ""},
		"i-protected":          {engine.RestoreDone, ""},
		"i-crashed":            {engine.RestoreDone, ""},
		"i-bad":                {engine.RestoreFailed, "starting instance i-bad in r1: "},
		"i-running":            {engine.RestoreAlready, "already running"},
		"i-gone":               {engine.RestoreLeft, "not restorable: terminated"},
		"i-missing":            {engine.RestoreLeft, "not restorable: terminated"},
		"i-terminated-by-trip": {engine.RestoreLeft, "not restorable: terminated by the trip"},
		"i-stopping":           {engine.RestoreFailed, "still stopping"},
		"i-was-stopped":        {engine.RestoreLeft, "was stopped before the trip"},
	} {
		r := got[id]
		if r.Status != want.status || !strings.Contains(r.Detail, want.detail) {
			t.Errorf("%s: %s %q, want %s %q", id, r.Status, r.Detail, want.status, want.detail)
		}
	}
	if len(got) != len(items) {
		t.Errorf("%d results for %d items", len(got), len(items))
	}
	// One batch call failed for i-bad; then each instance alone, so the
	// others still started.
	if len(f.starts) < 2 || len(f.starts[0]) != 4 {
		t.Errorf("StartInstances calls %v, want one batch of 4 then one each", f.starts)
	}
	if !slices.Equal(f.modified, []string{"i-protected disableApiStop"}) {
		t.Errorf("protection turned back on for %v, want only i-protected's stop protection", f.modified)
	}
}

// restoreLambda fakes the concurrency calls.
type restoreLambda struct {
	resources.LambdaFunctionsAPI
	mu       sync.Mutex
	reserved map[string]*int32 // missing key: no such function
	calls    []string
}

func (f *restoreLambda) GetFunctionConcurrency(_ context.Context, in *lambda.GetFunctionConcurrencyInput, _ ...func(*lambda.Options)) (*lambda.GetFunctionConcurrencyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reserved[aws.ToString(in.FunctionName)]
	if !ok {
		return nil, &lambdatypes.ResourceNotFoundException{Message: aws.String("Function not found")}
	}
	return &lambda.GetFunctionConcurrencyOutput{ReservedConcurrentExecutions: r}, nil
}

func (f *restoreLambda) PutFunctionConcurrency(_ context.Context, in *lambda.PutFunctionConcurrencyInput, _ ...func(*lambda.Options)) (*lambda.PutFunctionConcurrencyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("put %s %d", aws.ToString(in.FunctionName), aws.ToInt32(in.ReservedConcurrentExecutions)))
	return &lambda.PutFunctionConcurrencyOutput{}, nil
}

func (f *restoreLambda) DeleteFunctionConcurrency(_ context.Context, in *lambda.DeleteFunctionConcurrencyInput, _ ...func(*lambda.Options)) (*lambda.DeleteFunctionConcurrencyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "delete "+aws.ToString(in.FunctionName))
	return &lambda.DeleteFunctionConcurrencyOutput{}, nil
}

// "Unreserved" is not a number: a function that had no reservation gets
// none back (DeleteFunctionConcurrency), not some reservation.
func TestLambdaFunctionsRestore(t *testing.T) {
	t.Parallel()
	f := &restoreLambda{reserved: map[string]*int32{
		"unreserved": aws.Int32(0), "reserved": aws.Int32(0), "changed": aws.Int32(5), "back": aws.Int32(7),
	}}
	k := resources.NewLambdaFunctions(func(string) resources.LambdaFunctionsAPI { return f }, resources.LambdaFunctionOptions{})
	items := []engine.RestoreItem{
		{ID: "unreserved", Prior: rawPrior(t, resources.FunctionConcurrencyPrior{Unreserved: true}), Status: engine.StatusDone},
		{ID: "reserved", Prior: rawPrior(t, resources.FunctionConcurrencyPrior{Reserved: aws.Int32(3)}), Status: engine.StatusDone},
		{ID: "changed", Prior: rawPrior(t, resources.FunctionConcurrencyPrior{Reserved: aws.Int32(3)}), Status: engine.StatusDone},
		{ID: "back", Prior: rawPrior(t, resources.FunctionConcurrencyPrior{Reserved: aws.Int32(7)}), Status: engine.StatusDone},
		{ID: "deleted", Prior: rawPrior(t, resources.FunctionConcurrencyPrior{Unreserved: true}), Status: engine.StatusDone},
		{ID: "unknown", Prior: rawPrior(t, resources.FunctionConcurrencyPrior{Unknown: true}), Status: engine.StatusDone},
	}
	got := resultsByID(k.Restore(context.Background(), "r1", items, false))
	for id, want := range map[string]engine.RestoreStatus{
		"unreserved": engine.RestoreDone, "reserved": engine.RestoreDone, "changed": engine.RestoreLeft,
		"back": engine.RestoreAlready, "deleted": engine.RestoreLeft, "unknown": engine.RestoreLeft,
	} {
		if got[id].Status != want {
			t.Errorf("%s: %+v, want %s", id, got[id], want)
		}
	}
	if !strings.Contains(got["changed"].Detail, "changed since: reserved concurrency 5 now") {
		t.Errorf("changed: %q", got["changed"].Detail)
	}
	slices.Sort(f.calls)
	if !slices.Equal(f.calls, []string{"delete unreserved", "put reserved 3"}) {
		t.Errorf("calls %v", f.calls)
	}
}

// restoreASG fakes the group calls.
type restoreASG struct {
	resources.AutoScalingGroupsAPI
	mu      sync.Mutex
	groups  map[string]astypes.AutoScalingGroup
	resumed map[string][]string
	updated []string
}

func (f *restoreASG) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	for _, n := range in.AutoScalingGroupNames {
		if g, ok := f.groups[n]; ok {
			out.AutoScalingGroups = append(out.AutoScalingGroups, g)
		}
	}
	return out, nil
}

func (f *restoreASG) UpdateAutoScalingGroup(_ context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updated = append(f.updated, fmt.Sprintf("%s %d/%d/%d", aws.ToString(in.AutoScalingGroupName), aws.ToInt32(in.MinSize), aws.ToInt32(in.MaxSize), aws.ToInt32(in.DesiredCapacity)))
	return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
}

func (f *restoreASG) ResumeProcesses(_ context.Context, in *autoscaling.ResumeProcessesInput, _ ...func(*autoscaling.Options)) (*autoscaling.ResumeProcessesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resumed == nil {
		f.resumed = map[string][]string{}
	}
	f.resumed[aws.ToString(in.AutoScalingGroupName)] = in.ScalingProcesses
	return &autoscaling.ResumeProcessesOutput{}, nil
}

func restoreGroup(name string, min, max, desired int32, suspended ...string) astypes.AutoScalingGroup {
	g := astypes.AutoScalingGroup{AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(min), MaxSize: aws.Int32(max), DesiredCapacity: aws.Int32(desired)}
	for _, p := range suspended {
		g.SuspendedProcesses = append(g.SuspendedProcesses, astypes.SuspendedProcess{ProcessName: aws.String(p)})
	}
	return g
}

// Only the processes the trip suspended are resumed; a group resized since
// is left alone; one only half contained (suspended, not resized) gets its
// processes back.
func TestAutoScalingGroupsRestore(t *testing.T) {
	t.Parallel()
	all := []string{"AZRebalance", "Launch", "ReplaceUnhealthy", "ScheduledActions"}
	f := &restoreASG{groups: map[string]astypes.AutoScalingGroup{
		"zeroed":  restoreGroup("zeroed", 0, 0, 0, all...),
		"resized": restoreGroup("resized", 3, 3, 3, all...),
		"half":    restoreGroup("half", 1, 4, 2, all...),
		"done":    restoreGroup("done", 1, 4, 2, "AZRebalance"),
	}}
	k := resources.NewAutoScalingGroups(func(string) resources.AutoScalingGroupsAPI { return f })
	prior := rawPrior(t, resources.AutoScalingGroupPrior{MinSize: 1, MaxSize: 4, DesiredCapacity: 2,
		AlreadySuspended: []string{"AZRebalance"}, Suspends: []string{"Launch", "ReplaceUnhealthy", "ScheduledActions"}})
	var items []engine.RestoreItem
	for _, n := range []string{"zeroed", "resized", "half", "done", "deleted"} {
		items = append(items, engine.RestoreItem{ID: n, Prior: prior, Status: engine.StatusDone})
	}
	got := resultsByID(k.Restore(context.Background(), "r1", items, false))
	for id, want := range map[string]engine.RestoreStatus{
		"zeroed": engine.RestoreDone, "resized": engine.RestoreLeft, "half": engine.RestoreDone,
		"done": engine.RestoreAlready, "deleted": engine.RestoreLeft,
	} {
		if got[id].Status != want {
			t.Errorf("%s: %+v, want %s", id, got[id], want)
		}
	}
	if !strings.Contains(got["resized"].Detail, "changed since: now min 3, max 3, desired 3") {
		t.Errorf("resized: %q", got["resized"].Detail)
	}
	if !slices.Equal(f.updated, []string{"zeroed 1/4/2"}) {
		t.Errorf("updated %v, want only the zeroed group", f.updated)
	}
	for _, n := range []string{"zeroed", "half"} {
		if got := f.resumed[n]; !slices.Equal(got, []string{"Launch", "ReplaceUnhealthy", "ScheduledActions"}) {
			t.Errorf("%s resumed %v, want the trip's three and not the owner's AZRebalance", n, got)
		}
	}
}

func TestCancelledRequestsAreNotRestorable(t *testing.T) {
	t.Parallel()
	items := []engine.RestoreItem{{ID: "sir-1"}}
	for _, k := range []engine.Restorer{
		resources.NewSpotInstanceRequests(nil), resources.NewSpotFleetRequests(nil), resources.NewEC2Fleets(nil),
	} {
		got := k.Restore(context.Background(), "r1", items, false)
		if len(got) != 1 || got[0].Status != engine.RestoreLeft || !strings.HasPrefix(got[0].Detail, "not restorable: ") {
			t.Errorf("%T: %+v", k, got)
		}
	}
}
