package resources_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/internal/settings"
)

// relPage serves items[from:from+max] for a NextToken "<from>", the way the
// relaunchers' fakes page; a bad token is an API error.
func relPage[T any](items []T, token *string, max int32) ([]T, *string, error) {
	from := 0
	if tok := aws.ToString(token); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n <= 0 || n >= len(items) {
			return nil, nil, apiErr("InvalidNextToken")
		}
		from = n
	}
	if max <= 0 {
		max = 50
	}
	to := min(from+int(max), len(items))
	var next *string
	if to < len(items) {
		next = aws.String(strconv.Itoa(to))
	}
	return items[from:to], next, nil
}

// fakeASG is a hand-written AutoScalingGroupsAPI over an in-memory set of
// groups, which its mutating calls change the way Auto Scaling does.
type fakeASG struct {
	mu     sync.Mutex
	names  []string // listing order
	groups map[string]*types.AutoScalingGroup

	describeErrAt int // page index whose describe fails; -1: never
	describeErr   error
	pageSizes     []int32
	// suspendErr and updateErr fail the call for that group.
	suspendErr, updateErr map[string]error
	// onSuspend runs at the start of every SuspendProcesses, outside the
	// lock, so calls can overlap in it.
	onSuspend func()

	suspendCalls []autoscaling.SuspendProcessesInput
	updateCalls  []autoscaling.UpdateAutoScalingGroupInput
	verifyCalls  int
}

var _ resources.AutoScalingGroupsAPI = (*fakeASG)(nil)

func newFakeASG(groups ...types.AutoScalingGroup) *fakeASG {
	f := &fakeASG{describeErrAt: -1, groups: map[string]*types.AutoScalingGroup{},
		suspendErr: map[string]error{}, updateErr: map[string]error{}}
	for _, g := range groups {
		f.names = append(f.names, aws.ToString(g.AutoScalingGroupName))
		f.groups[aws.ToString(g.AutoScalingGroupName)] = &g
	}
	return f
}

func group(name string, min, max, desired int32, suspended ...string) types.AutoScalingGroup {
	g := types.AutoScalingGroup{AutoScalingGroupName: aws.String(name),
		MinSize: aws.Int32(min), MaxSize: aws.Int32(max), DesiredCapacity: aws.Int32(desired)}
	for _, p := range suspended {
		g.SuspendedProcesses = append(g.SuspendedProcesses, types.SuspendedProcess{ProcessName: aws.String(p)})
	}
	return g
}

func (f *fakeASG) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(in.AutoScalingGroupNames) > 0 {
		f.verifyCalls++
		out := &autoscaling.DescribeAutoScalingGroupsOutput{}
		for _, n := range in.AutoScalingGroupNames {
			if g, ok := f.groups[n]; ok {
				out.AutoScalingGroups = append(out.AutoScalingGroups, *g)
			}
		}
		return out, nil
	}
	f.pageSizes = append(f.pageSizes, aws.ToInt32(in.MaxRecords))
	if f.describeErrAt == len(f.pageSizes)-1 {
		return nil, f.describeErr
	}
	var live []types.AutoScalingGroup
	for _, n := range f.names {
		if g, ok := f.groups[n]; ok {
			live = append(live, *g)
		}
	}
	page, next, err := relPage(live, in.NextToken, aws.ToInt32(in.MaxRecords))
	if err != nil {
		return nil, err
	}
	return &autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: page, NextToken: next}, nil
}

func (f *fakeASG) SuspendProcesses(_ context.Context, in *autoscaling.SuspendProcessesInput, _ ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error) {
	if f.onSuspend != nil {
		f.onSuspend()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.suspendCalls = append(f.suspendCalls, *in)
	name := aws.ToString(in.AutoScalingGroupName)
	if err := f.suspendErr[name]; err != nil {
		return nil, err
	}
	g, ok := f.groups[name]
	if !ok {
		return nil, apiErr("ValidationError")
	}
	for _, p := range in.ScalingProcesses {
		g.SuspendedProcesses = append(g.SuspendedProcesses, types.SuspendedProcess{ProcessName: aws.String(p)})
	}
	return &autoscaling.SuspendProcessesOutput{}, nil
}

func (f *fakeASG) UpdateAutoScalingGroup(_ context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updateCalls = append(f.updateCalls, *in)
	name := aws.ToString(in.AutoScalingGroupName)
	if err := f.updateErr[name]; err != nil {
		return nil, err
	}
	g, ok := f.groups[name]
	if !ok {
		return nil, apiErr("ValidationError")
	}
	g.MinSize, g.MaxSize, g.DesiredCapacity = in.MinSize, in.MaxSize, in.DesiredCapacity
	return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
}

func asgKind(f *fakeASG) *resources.AutoScalingGroups {
	return resources.NewAutoScalingGroups(func(string) resources.AutoScalingGroupsAPI { return f })
}

// findAndDecide runs a kind's Find and Decide as the engine would, failing
// the test on a listing error or a Leave.
func findAndDecide(t *testing.T, k engine.Kind) []engine.Decision {
	t.Helper()
	found, err := k.Find(context.Background(), "us-east-1")
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	var todo []engine.Decision
	for _, r := range found {
		d := k.Decide(r)
		if d.Leave {
			t.Fatalf("%s left alone: %s", r.ID, d.Reason)
		}
		todo = append(todo, d)
	}
	return todo
}

func TestAutoScalingGroupsFind(t *testing.T) {
	t.Parallel()
	all := resources.GroupLaunchProcesses
	deleting := group("deleting", 1, 5, 3)
	deleting.Status = aws.String("Delete in progress")
	tests := []struct {
		name      string
		group     types.AutoScalingGroup
		wantFound bool
		wantPrior resources.AutoScalingGroupPrior
	}{
		{"running group", group("attack", 1, 30, 20), true,
			resources.AutoScalingGroupPrior{MinSize: 1, MaxSize: 30, DesiredCapacity: 20, Suspends: all}},
		{"already contained, with the owner's own suspension", group("done", 0, 0, 0, append([]string{"AlarmNotification"}, all...)...), false,
			resources.AutoScalingGroupPrior{}},
		{"at zero but still launching", group("zero", 0, 0, 0, "Launch"), true,
			resources.AutoScalingGroupPrior{AlreadySuspended: []string{"Launch"}, Suspends: []string{"AZRebalance", "ReplaceUnhealthy", "ScheduledActions"}}},
		{"suspended but sized", group("sized", 2, 4, 2, all...), true,
			resources.AutoScalingGroupPrior{MinSize: 2, MaxSize: 4, DesiredCapacity: 2, AlreadySuspended: slices.Sorted(slices.Values(all))}},
		{"being deleted", deleting, false, resources.AutoScalingGroupPrior{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			found, err := asgKind(newFakeASG(tc.group)).Find(context.Background(), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			if (len(found) == 1) != tc.wantFound || len(found) > 1 {
				t.Fatalf("found %+v, want found=%v", found, tc.wantFound)
			}
			if !tc.wantFound {
				return
			}
			r := found[0]
			if r.ID != aws.ToString(tc.group.AutoScalingGroupName) {
				t.Errorf("ID = %q, want the group name", r.ID)
			}
			p, ok := r.Prior.(resources.AutoScalingGroupPrior)
			if !ok {
				t.Fatalf("prior %T, want AutoScalingGroupPrior", r.Prior)
			}
			if p.MinSize != tc.wantPrior.MinSize || p.MaxSize != tc.wantPrior.MaxSize || p.DesiredCapacity != tc.wantPrior.DesiredCapacity ||
				!slices.Equal(p.AlreadySuspended, tc.wantPrior.AlreadySuspended) || !slices.Equal(p.Suspends, tc.wantPrior.Suspends) {
				t.Errorf("prior = %+v, want %+v", p, tc.wantPrior)
			}
			if !strings.Contains(p.Describe(), fmt.Sprintf("desired %d", p.DesiredCapacity)) {
				t.Errorf("Describe() = %q", p.Describe())
			}
		})
	}
}

func TestAutoScalingGroupsFindPagesAndWrapsErrors(t *testing.T) {
	t.Parallel()
	var groups []types.AutoScalingGroup
	for i := range 250 {
		groups = append(groups, group(fmt.Sprintf("g-%03d", i), 1, 10, 5))
	}
	t.Run("every page at the maximum size", func(t *testing.T) {
		t.Parallel()
		f := newFakeASG(groups...)
		found, err := asgKind(f).Find(context.Background(), "us-east-1")
		if err != nil || len(found) != 250 {
			t.Fatalf("found %d, %v; want 250", len(found), err)
		}
		if !slices.Equal(f.pageSizes, []int32{100, 100, 100}) {
			t.Errorf("MaxRecords per call = %v, want 100 on each of 3", f.pageSizes)
		}
	})
	t.Run("a failed page keeps the earlier ones", func(t *testing.T) {
		t.Parallel()
		f := newFakeASG(groups...)
		f.describeErrAt, f.describeErr = 1, apiErr("AccessDenied")
		found, err := asgKind(f).Find(context.Background(), "ap-east-1")
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" || !strings.Contains(err.Error(), "ap-east-1") ||
			!strings.Contains(err.Error(), "Auto Scaling groups") {
			t.Errorf("error %v: want the API error wrapped, naming region and resource", err)
		}
		if len(found) != 100 {
			t.Errorf("found %d before the failure, want 100", len(found))
		}
	})
}

func TestAutoScalingGroupsContain(t *testing.T) {
	t.Parallel()
	all := resources.GroupLaunchProcesses
	tests := []struct {
		name        string
		group       types.AutoScalingGroup
		suspendErr  error
		updateErr   error
		deleteFirst bool // the group vanishes before it is changed
		wantStatus  engine.Status
		wantCode    string
		wantSuspend []string // processes of the one SuspendProcesses call; nil: no call
		wantUpdate  bool
		wantAlso    bool
	}{
		{name: "suspends then scales to 0", group: group("a", 1, 30, 20),
			wantStatus: engine.StatusDone, wantSuspend: all, wantUpdate: true},
		{name: "suspends only what is missing", group: group("b", 0, 0, 0, "Launch", "ScheduledActions"),
			wantStatus: engine.StatusDone, wantSuspend: []string{"AZRebalance", "ReplaceUnhealthy"}},
		{name: "resizes only when already suspended", group: group("c", 3, 3, 3, all...),
			wantStatus: engine.StatusDone, wantUpdate: true},
		{name: "suspend refused: nothing else tried", group: group("d", 1, 2, 2), suspendErr: apiErr("AccessDenied"),
			wantStatus: engine.StatusFailed, wantCode: "AccessDenied", wantSuspend: all},
		{name: "resize fails after the suspension: it is still reported", group: group("e", 1, 2, 2), updateErr: apiErr("ScalingActivityInProgress"),
			wantStatus: engine.StatusFailed, wantCode: "ScalingActivityInProgress", wantSuspend: all, wantUpdate: true, wantAlso: true},
		{name: "ValidationError for a group that is gone", group: group("f", 1, 2, 2), deleteFirst: true,
			wantStatus: engine.StatusGone, wantSuspend: all},
		{name: "ValidationError for a group still there is a failure", group: group("g", 1, 2, 2), updateErr: apiErr("ValidationError"),
			wantStatus: engine.StatusFailed, wantCode: "ValidationError", wantSuspend: all, wantUpdate: true, wantAlso: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeASG(tc.group)
			name := aws.ToString(tc.group.AutoScalingGroupName)
			f.suspendErr[name], f.updateErr[name] = tc.suspendErr, tc.updateErr
			k := asgKind(f)
			todo := findAndDecide(t, k)
			if tc.deleteFirst {
				delete(f.groups, name)
			}

			outs := k.Contain(context.Background(), "eu-west-1", todo)

			if len(outs) != 1 {
				t.Fatalf("outcomes = %+v, want one", outs)
			}
			o := outs[0]
			if o.ID != name || o.Verb != resources.VerbScaleGroupToZero || o.Status != tc.wantStatus || o.Code != tc.wantCode {
				t.Errorf("outcome = %+v, want status %q code %q", o, tc.wantStatus, tc.wantCode)
			}
			if _, ok := o.Prior.(resources.AutoScalingGroupPrior); !ok {
				t.Errorf("prior %T, want AutoScalingGroupPrior", o.Prior)
			}
			if o.Status == engine.StatusFailed && !strings.Contains(o.Message, "eu-west-1") {
				t.Errorf("message %q does not name the region", o.Message)
			}
			if (len(o.Also) == 1) != tc.wantAlso {
				t.Errorf("also = %+v, want the suspension listed: %v", o.Also, tc.wantAlso)
			}
			var gotSuspend []string
			if len(f.suspendCalls) > 1 {
				t.Fatalf("%d SuspendProcesses calls", len(f.suspendCalls))
			}
			if len(f.suspendCalls) == 1 {
				gotSuspend = f.suspendCalls[0].ScalingProcesses
			}
			if !slices.Equal(gotSuspend, tc.wantSuspend) {
				t.Errorf("suspended %v, want %v", gotSuspend, tc.wantSuspend)
			}
			if (len(f.updateCalls) == 1) != tc.wantUpdate || len(f.updateCalls) > 1 {
				t.Fatalf("%d UpdateAutoScalingGroup calls, want update=%v", len(f.updateCalls), tc.wantUpdate)
			}
			if tc.wantUpdate {
				u := f.updateCalls[0]
				if aws.ToInt32(u.MinSize) != 0 || aws.ToInt32(u.MaxSize) != 0 || aws.ToInt32(u.DesiredCapacity) != 0 ||
					u.MinSize == nil || u.MaxSize == nil || u.DesiredCapacity == nil {
					t.Errorf("update = min %v max %v desired %v, want all 0", u.MinSize, u.MaxSize, u.DesiredCapacity)
				}
			}
		})
	}
}

// A contained group is found no more, so a second run makes no call that
// changes anything.
func TestAutoScalingGroupsSecondRunIsQuiet(t *testing.T) {
	t.Parallel()
	f := newFakeASG(group("a", 1, 30, 20), group("b", 0, 2, 1, "Launch"), group("c", 0, 0, 0, "AZRebalance"))
	k := asgKind(f)
	for _, o := range k.Contain(context.Background(), "us-east-1", findAndDecide(t, k)) {
		if o.Status != engine.StatusDone {
			t.Fatalf("first run: %+v", o)
		}
	}
	calls := len(f.suspendCalls) + len(f.updateCalls)
	if found, err := k.Find(context.Background(), "us-east-1"); err != nil || len(found) != 0 {
		t.Fatalf("second Find = %+v, %v; want nothing", found, err)
	}
	if len(f.suspendCalls)+len(f.updateCalls) != calls {
		t.Errorf("second Find made mutating calls")
	}
}

// Groups are changed a few at a time: never more than the bound in
// flight, and more than one when there is work for several.
func TestAutoScalingGroupsContainBoundsConcurrency(t *testing.T) {
	t.Parallel()
	var groups []types.AutoScalingGroup
	for i := range 12 {
		groups = append(groups, group(fmt.Sprintf("g-%02d", i), 1, 4, 2))
	}
	f := newFakeASG(groups...)
	entered, release := make(chan struct{}, len(groups)), make(chan struct{})
	var mu sync.Mutex
	inFlight, peak := 0, 0
	f.onSuspend = func() {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	k := asgKind(f)
	todo := findAndDecide(t, k)
	done := make(chan []engine.Outcome)
	go func() { done <- k.Contain(context.Background(), "us-east-1", todo) }()

	// Four calls are held at once before any is let go.
	for range 4 {
		<-entered
	}
	close(release)
	outs := <-done

	if len(outs) != len(groups) {
		t.Fatalf("%d outcomes, want %d", len(outs), len(groups))
	}
	if peak != 4 {
		t.Errorf("peak of %d calls in flight, want 4", peak)
	}
}

// The relaunchers come before the instances in the table, in the order
// that stops each from refilling the next.
func TestKindsContainRelaunchersBeforeInstances(t *testing.T) {
	t.Parallel()
	var names []string
	for _, k := range resources.Kinds(aws.Config{Region: "us-east-1"}, settings.Default(), resources.Self{}) {
		names = append(names, k.Name())
	}
	want := []string{"Auto Scaling groups", "Spot Fleet requests", "EC2 Fleets", "Spot Instance requests", "EC2 instances"}
	last := -1
	for _, w := range want {
		i := slices.Index(names, w)
		if i < 0 || i < last {
			t.Fatalf("kinds = %v, want %v in that order", names, want)
		}
		last = i
	}
}
