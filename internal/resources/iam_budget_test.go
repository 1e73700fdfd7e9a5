package resources_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// slowIAM holds one IAM operation: it answers the first free calls of op,
// then signals held and blocks every further one until its context ends,
// as a throttled or slow IAM would until the budget is cut.
type slowIAM struct {
	*fakeCredIAM
	op   string
	free int

	mu       sync.Mutex
	answered int
	held     chan struct{}
	once     sync.Once
}

func (s *slowIAM) gateOp(ctx context.Context, op string) error {
	if op != s.op {
		return ctx.Err()
	}
	s.mu.Lock()
	if s.answered < s.free {
		s.answered++
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	s.once.Do(func() { close(s.held) })
	<-ctx.Done()
	return ctx.Err()
}

func (s *slowIAM) AttachUserPolicy(ctx context.Context, in *iam.AttachUserPolicyInput, o ...func(*iam.Options)) (*iam.AttachUserPolicyOutput, error) {
	if err := s.gateOp(ctx, "AttachUserPolicy"); err != nil {
		return nil, err
	}
	return s.fakeIAM.AttachUserPolicy(ctx, in, o...)
}

func (s *slowIAM) ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, o ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	if err := s.gateOp(ctx, "ListAccessKeys"); err != nil {
		return nil, err
	}
	return s.fakeIAM.ListAccessKeys(ctx, in, o...)
}

func (s *slowIAM) ListServiceSpecificCredentials(ctx context.Context, in *iam.ListServiceSpecificCredentialsInput, o ...func(*iam.Options)) (*iam.ListServiceSpecificCredentialsOutput, error) {
	if in.AllUsers == nil { // the one AllUsers listing is refused at once
		if err := s.gateOp(ctx, "ListServiceSpecificCredentials"); err != nil {
			return nil, err
		}
	}
	return s.fakeCredIAM.ListServiceSpecificCredentials(ctx, in, o...)
}

// threeRegions lists three regions.
type threeRegions struct{}

var budgetRegions = []string{"eu-west-1", "us-east-1", "us-west-2"}

func (threeRegions) EnabledRegions(context.Context) ([]string, error) { return budgetRegions, nil }

// regionalThings is a regional kind with one thing to stop per region.
type regionalThings struct{}

func (regionalThings) Name() string { return "things" }
func (regionalThings) Noun() string { return "thing" }
func (regionalThings) Find(_ context.Context, region string) ([]engine.Resource, error) {
	return []engine.Resource{{ID: "thing-" + region, State: "running"}}, nil
}
func (regionalThings) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, engine.Verb{Past: "stopped", Plan: "stop"}, "test")
}
func (regionalThings) Contain(_ context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	var out []engine.Outcome
	for _, d := range todo {
		out = append(out, engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone})
	}
	return out
}

// 5,000 IAM users over a slow IAM do not delay the regions: every region's
// sweep finishes while IAM is held, and when the test ends the global
// budget (through the engine's timer seam, no wall clock), the IAM kind
// that was cut says how many users it did not reach, the kinds after it
// say they were not reached, and the report fails so the re-sweep retries.
func TestIAMKindsOverASlowIAMDoNotDelayTheRegions(t *testing.T) {
	t.Parallel()
	const users, free = 5000, 100
	tests := []struct {
		name, op    string
		allUsersErr bool
		cut         string   // the kind the budget ends in
		after       []string // the kinds never reached
	}{
		{"cut while quarantining", "AttachUserPolicy", false, "IAM principals", []string{"IAM service credentials", "IAM trail"}},
		{"cut while listing service credentials", "ListServiceSpecificCredentials", true, "IAM service credentials", []string{"IAM trail"}},
		{"cut while examining the trail", "ListAccessKeys", false, "IAM trail", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeCredIAM{fakeIAM: newFakeIAM()}
			for i := range users {
				f.addUser(fmt.Sprintf("user-%04d", i), trailNow.AddDate(-1, 0, 0))
			}
			if tc.allUsersErr {
				f.allUsersErr = apiErr("ValidationError")
			}
			slow := &slowIAM{fakeCredIAM: f, op: tc.op, free: free, held: make(chan struct{})}
			kinds := []engine.Kind{
				resources.NewQuarantine(slow, resources.QuarantineOptions{PolicyARN: quarantineARN}),
				resources.NewIAMServiceCredentials(slow, resources.ServiceCredentialOptions{}),
				resources.NewIAMTrail(slow, resources.IAMTrailOptions{Lookback: 7 * 24 * time.Hour, Now: func() time.Time { return trailNow }, Recheck: resources.TrailRecheck}),
				regionalThings{},
			}
			var endGlobal func()
			timerSet := make(chan struct{})
			timer := func(region string, _ time.Duration, end func()) func() bool {
				if region == engine.GlobalRegion {
					endGlobal = end
					close(timerSet)
				}
				return func() bool { return true }
			}
			done := make(chan string, len(budgetRegions)+1)
			e := engine.New(threeRegions{}, kinds, engine.Options{Concurrency: 1, RegionTimer: timer,
				OnRegion: func(rr engine.RegionReport) { done <- rr.Region }})
			repc := make(chan *engine.Report)
			go func() { repc <- e.Run(context.Background(), engine.Policy{}) }()

			<-timerSet
			<-slow.held // IAM is now stuck until the budget ends
			for range budgetRegions {
				select {
				case r := <-done:
					if r == engine.GlobalRegion {
						t.Fatal("the global sweep finished while IAM was held")
					}
				case <-time.After(2 * time.Minute): // a hang guard, not a deadline
					t.Fatal("the regions did not finish while IAM was held")
				}
			}
			endGlobal()
			rep := <-repc

			if rep.Regions[0].Region != engine.GlobalRegion {
				t.Fatalf("regions = %v, want global first", rep.FailedRegions())
			}
			for _, rr := range rep.Regions[1:] {
				if rr.Failed() || rr.Kinds[0].Changed() != 1 {
					t.Errorf("%s: %+v", rr.Region, rr)
				}
			}
			byKind := map[string]engine.KindReport{}
			for _, kr := range rep.Regions[0].Kinds {
				byKind[kr.Kind] = kr
			}
			cut := byKind[tc.cut]
			wantMissed := users - free
			if cut.NotReached != wantMissed || !strings.Contains(cut.Error, fmt.Sprint(wantMissed)) || !strings.Contains(cut.Error, "5000") {
				t.Errorf("%s: not reached %d, error %q; want %d of %d", tc.cut, cut.NotReached, cut.Error, wantMissed, users)
			}
			for _, name := range tc.after {
				if kr := byKind[name]; !strings.HasPrefix(kr.Error, "not reached") {
					t.Errorf("%s: error %q, want not reached", name, kr.Error)
				}
			}
			if rep.Totals.NotReached != wantMissed {
				t.Errorf("totals %+v", rep.Totals)
			}
			err := rep.Err()
			if err == nil || !strings.Contains(err.Error(), "global") || !strings.Contains(err.Error(), fmt.Sprintf("%d resource(s) found but not reached", wantMissed)) {
				t.Errorf("Err = %v, want the global sweep and its %d unreached", err, wantMissed)
			}
		})
	}
}
