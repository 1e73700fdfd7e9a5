package resources_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// mutatingCalls counts the fake's calls from EC2's mutating buckets.
func (f *fakeEC2) mutatingCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stopCalls) + len(f.termCalls) + len(f.modifyCalls)
}

// An attacker can set both protections at launch for free. Wherever they
// are dense, the kind must not pay the halving search's four calls per
// protected instance: it inspects, turns off what is on, and acts again.
func TestContainDenseProtectionCostsAboutOneCallPerAttribute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		action      engine.Verb
		n           int
		protectedOf func(i int) bool
		// perProtected bounds the mutating calls per protected instance.
		perProtected float64
	}{
		{"300 all protected, stop", resources.VerbStopInstance, 300, func(int) bool { return true }, 2.2},
		{"1000 all protected, stop", resources.VerbStopInstance, 1000, func(int) bool { return true }, 2.2},
		// Terminating needs both attributes off: two modifies each.
		{"300 all protected, terminate", resources.VerbTerminateInstance, 300, func(int) bool { return true }, 2.2},
		{"1000 all protected, terminate", resources.VerbTerminateInstance, 1000, func(int) bool { return true }, 2.2},
		{"1000, every other protected, stop", resources.VerbStopInstance, 1000, func(i int) bool { return i%2 == 0 }, 2.2},
		{"2500 over three batches, all protected, stop", resources.VerbStopInstance, 2500, func(int) bool { return true }, 2.2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids := instanceIDs(7, tc.n)
			f := newFakeEC2()
			protected := map[string]bool{}
			for i, id := range ids {
				if tc.protectedOf(i) {
					protected[id] = true
					f.disableAPIStop[id] = true
					f.disableAPITermination[id] = true
				}
			}
			p := pol{Action: tc.action, OverrideProtection: true}

			m := byID(t, kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(tc.action, "running", ids)))

			if len(m) != len(ids) {
				t.Fatalf("%d outcomes, want %d", len(m), len(ids))
			}
			for _, id := range ids {
				o := m[id]
				contained := f.stopped[id] == 1
				if tc.action == resources.VerbTerminateInstance {
					contained = f.terminated[id] == 1
				}
				if o.Status != engine.StatusDone || o.Verb != tc.action || !contained {
					t.Fatalf("%s: %+v (stopped %d, terminated %d)", id, o, f.stopped[id], f.terminated[id])
				}
				wantAlso := 0
				if protected[id] {
					wantAlso = 1
					if tc.action == resources.VerbTerminateInstance {
						wantAlso = 2
					}
				}
				if len(o.Also) != wantAlso {
					t.Fatalf("%s: also %+v, want %d change(s)", id, o.Also, wantAlso)
				}
				for _, ch := range o.Also {
					if pp, ok := ch.Prior.(resources.ProtectionPrior); !ok || !pp.Enabled {
						t.Errorf("%s: change %+v does not record the protection as on before", id, ch)
					}
				}
			}
			per := float64(f.mutatingCalls()) / float64(len(protected))
			if per > tc.perProtected {
				t.Errorf("%d mutating calls for %d protected instances = %.2f each, want at most %.1f (stop %d, terminate %d, modify %d)",
					f.mutatingCalls(), len(protected), per, tc.perProtected, len(f.stopCalls), len(f.termCalls), len(f.modifyCalls))
			}
			// Only what was on is turned off: unprotected instances cost a
			// describe, never a mutating call.
			for _, in := range f.modifyCalls {
				if !protected[aws.ToString(in.InstanceId)] {
					t.Fatalf("ModifyInstanceAttribute on unprotected %s", aws.ToString(in.InstanceId))
				}
			}
			t.Logf("%d instances, %d protected: %d mutating calls (%.2f per protected), %d attribute describes",
				tc.n, len(protected), f.mutatingCalls(), per, len(f.attrCalls))
		})
	}
}

// Sparse protection keeps the halving search: inspecting 1,000 instances
// for one protected would cost 1,000 describes.
func TestContainSparseProtectionIsNotInspected(t *testing.T) {
	t.Parallel()
	ids := instanceIDs(8, 1000)
	f := newFakeEC2()
	f.disableAPIStop[ids[377]] = true
	p := pol{Action: resources.VerbStopInstance, OverrideProtection: true}

	m := byID(t, kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids)))

	for _, id := range ids {
		if o := m[id]; o.Status != engine.StatusDone || f.stopped[id] != 1 {
			t.Fatalf("%s: %+v", id, o)
		}
	}
	if len(f.attrCalls) != 0 {
		t.Errorf("%d DescribeInstanceAttribute calls for one protected instance in 1,000, want none", len(f.attrCalls))
	}
	if n := f.mutatingCalls(); n > 2*10+3 {
		t.Errorf("%d mutating calls, want about 2·log2(1000)+2", n)
	}
}

// The retry after an inspection is the API's confirmation, never skipped:
// when it is still refused (here a stop that also needs termination
// protection off), the part is halved as any batch, and every change made
// on the way is still reported.
func TestContainInspectionRefusedAgainFallsBackToHalving(t *testing.T) {
	t.Parallel()
	ids := instanceIDs(9, 64)
	f := newFakeEC2()
	f.stopNeedsBothOff = true
	for _, id := range ids {
		f.disableAPIStop[id] = true
		f.disableAPITermination[id] = true
	}
	p := pol{Action: resources.VerbStopInstance, OverrideProtection: true}

	m := byID(t, kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids)))

	for _, id := range ids {
		o := m[id]
		if o.Status != engine.StatusDone || f.stopped[id] != 1 {
			t.Fatalf("%s: %+v", id, o)
		}
		var attrs []string
		for _, ch := range o.Also {
			attrs = append(attrs, ch.Prior.(resources.ProtectionPrior).Attribute)
		}
		if strings.Join(attrs, ",") != "disableApiStop,disableApiTermination" {
			t.Errorf("%s: changes %v, want stop then termination protection", id, attrs)
		}
	}
}

// An instance whose attributes cannot be read is not trusted either way:
// it goes alone, where the refusal itself decides.
func TestContainInspectionDescribeFailureGoesAlone(t *testing.T) {
	t.Parallel()
	ids := instanceIDs(10, 100)
	f := newFakeEC2()
	for _, id := range ids {
		f.disableAPIStop[id] = true
	}
	f.attrErr[ids[42]] = apiErr("UnauthorizedOperation")
	p := pol{Action: resources.VerbStopInstance, OverrideProtection: true}

	m := byID(t, kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids)))

	for _, id := range ids {
		if o := m[id]; o.Status != engine.StatusDone || len(o.Also) != 1 || f.stopped[id] != 1 {
			t.Fatalf("%s: %+v", id, o)
		}
	}
}

// A panic while a split batch is in flight (a bad answer the SDK did not
// expect) becomes that batch's failure: the region still gets a report.
func TestContainPanicInSplitBatchIsThatBatchsFailure(t *testing.T) {
	t.Parallel()
	ids := instanceIDs(11, 16)
	f := newFakeEC2()
	f.disableAPIStop[ids[0]] = true  // fails the batch, so it is split
	f.disableAPIStop[ids[15]] = true // and both halves
	poisoned := ids[8]
	f.onStop = func(in []string) {
		if len(in) < len(ids) {
			for _, id := range in {
				if id == poisoned {
					panic("malformed answer")
				}
			}
		}
	}
	p := pol{Action: resources.VerbStopInstance, OverrideProtection: true}

	outs := kindWith(f, p).Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids))

	m := byID(t, outs)
	if len(m) != len(ids) {
		t.Fatalf("%d outcomes, want %d", len(m), len(ids))
	}
	o := m[poisoned]
	if o.Status != engine.StatusFailed || o.Code != "InternalError" || !strings.Contains(o.Message, "malformed answer") {
		t.Errorf("poisoned instance: %+v, want failed with the panic", o)
	}
	if o := m[ids[0]]; o.Status != engine.StatusDone {
		t.Errorf("the other half: %+v, want it contained", o)
	}
}

// fakeClock moves only when a pacer sleeps: time is what the pacer asked
// for, never the wall clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

// stampedEC2 records the fake clock's time of every mutating call.
type stampedEC2 struct {
	*fakeEC2
	clock *fakeClock
	mu    sync.Mutex
	at    []time.Time
}

func (s *stampedEC2) stamp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = append(s.at, s.clock.Now())
}

func (s *stampedEC2) StopInstances(ctx context.Context, in *ec2.StopInstancesInput, o ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	s.stamp()
	return s.fakeEC2.StopInstances(ctx, in, o...)
}

func (s *stampedEC2) ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, o ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	s.stamp()
	return s.fakeEC2.ModifyInstanceAttribute(ctx, in, o...)
}

// The pacer keeps the mutating calls inside EC2's bucket (50 at once, 5 a
// second), and the sweep takes about the floor that bucket sets.
func TestContainPacesMutatingCallsToEC2Bucket(t *testing.T) {
	t.Parallel()
	ids := instanceIDs(12, 300)
	f := newFakeEC2()
	for _, id := range ids {
		f.disableAPIStop[id] = true
	}
	start := time.Date(2026, 11, 29, 13, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	api := &stampedEC2{fakeEC2: f, clock: clock}
	pacing := resources.EC2Pacing
	pacing.Clock = clock
	k := resources.NewEC2Instances(func(string) resources.EC2InstancesAPI { return api },
		resources.EC2InstanceOptions{OverrideProtection: true, Pacing: pacing})

	m := byID(t, k.Contain(context.Background(), "us-east-1", decisions(resources.VerbStopInstance, "running", ids)))

	for _, id := range ids {
		if o := m[id]; o.Status != engine.StatusDone {
			t.Fatalf("%s: %+v", id, o)
		}
	}
	for i, at := range api.at {
		if allowed := 50 + 5*at.Sub(start).Seconds(); float64(i+1) > allowed+1e-9 {
			t.Fatalf("mutating call %d at +%v: over the bucket (%v allowed by then)", i+1, at.Sub(start), allowed)
		}
	}
	floor := time.Duration(float64(len(api.at)-50) / 5 * float64(time.Second))
	took := clock.Now().Sub(start)
	if took < floor || took > floor+time.Second {
		t.Errorf("paced sweep took %v of the fake clock, want the bucket's floor %v", took, floor)
	}
	t.Logf("%d mutating calls paced over %v (floor %v)", len(api.at), took, floor)
}
