package handler_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/selftest"
)

type fakeCensus struct {
	c     census.Census
	takes int
}

func (f *fakeCensus) Take(context.Context) *census.Census {
	f.takes++
	c := f.c
	return &c
}

// fakeCensusLog records what the handler saves for `killswitch status`.
type fakeCensusLog struct {
	saved []census.Census
	every []int
	err   error
}

func (f *fakeCensusLog) SaveCensus(_ context.Context, c *census.Census, every int) error {
	f.saved = append(f.saved, *c)
	f.every = append(f.every, every)
	return f.err
}

type fakeSelfTest struct {
	res  selftest.Result
	runs int
}

func (f *fakeSelfTest) Run(context.Context) selftest.Result { f.runs++; return f.res }

var hobbyCaps = census.Caps{MaxRunningInstances: 10, MaxVCPUs: 32, MaxGPUs: 0, MaxHourlyBurnUSD: 5, MaxRegionsInUse: 3}

func TestArmedScheduledRun(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	normal := census.Census{Instances: 2, VCPUs: 4, RegionsInUse: 1, RegionsRead: 17,
		Regions: []census.RegionCount{{Region: "us-east-1", Instances: 2, VCPUs: 4, Types: map[string]int{"t3.micro": 2}}}}
	gpus := census.Census{Instances: 3, VCPUs: 24, GPUs: 3, HourlyBurnUSD: 9.18, RegionsInUse: 1, RegionsRead: 17,
		Regions: []census.RegionCount{{Region: "ap-east-1", Instances: 3, VCPUs: 24, GPUs: 3, HourlyBurnUSD: 9.18, Types: map[string]int{"p3.2xlarge": 3}}}}
	blind := census.Census{RegionsRead: 17, RegionsFailed: 17, Gaps: []string{"us-east-1: denied"}}
	broken := selftest.Result{Checks: []selftest.Check{{Name: "stop instances in eu-west-1", Problem: "permission LOST in eu-west-1"}}}
	tests := []struct {
		name        string
		census      census.Census
		latch       latch.State
		selfTest    selftest.Result
		dryRun      bool
		wantTrip    bool
		wantSweeps  int
		wantSelf    int
		wantErr     string
		wantPublish []string // substrings of the subjects and bodies published, in order
		wantTripped bool     // the latch afterwards
	}{
		{name: "normal use, self-test done today: nothing", census: normal, latch: latch.State{LastSelfTest: t0.Add(-time.Hour)}},
		{name: "normal use, first run of the day: self-test passes quietly", census: normal, wantSelf: 1},
		{name: "self-test fails: a warning naming what broke", census: normal, selfTest: broken, wantSelf: 1,
			wantPublish: []string{"SELF-TEST FAILED", "permission LOST in eu-west-1"}},
		{name: "a GPU trips: sweep, latch and report naming the cap", census: gpus, latch: latch.State{LastSelfTest: t0},
			wantTrip: true, wantSweeps: 1, wantTripped: true,
			wantPublish: []string{"contained", "maxGPUs exceeded: 3 GPU(s) running, limit 0", "ap-east-1 (3)", "p3.2xlarge (3)", "THE SWITCH HOLDS"}},
		{name: "a dry run trips without setting the latch", census: gpus, dryRun: true, latch: latch.State{LastSelfTest: t0},
			wantTrip: true, wantSweeps: 1, wantPublish: []string{"DRY RUN", "maxGPUs"}},
		{name: "a dry run reported today only logs", census: gpus, dryRun: true, latch: latch.State{LastSelfTest: t0, LastDryRunCensus: t0.Add(-23 * time.Hour)}},
		{name: "a dry run reported yesterday reports again", census: gpus, dryRun: true, latch: latch.State{LastSelfTest: t0, LastDryRunCensus: t0.Add(-24 * time.Hour)},
			wantTrip: true, wantSweeps: 1, wantPublish: []string{"DRY RUN", "maxGPUs"}},
		{name: "a blind census fails loudly", census: blind, latch: latch.State{LastSelfTest: t0}, wantErr: "not one of 17 region(s) could be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, c := &memLatch{st: tc.latch}, &clock{t: t0}
			pub, sw := &fakePublisher{}, &fakeSweeper{}
			fc, ft, fl := &fakeCensus{c: tc.census}, &fakeSelfTest{res: tc.selfTest}, &fakeCensusLog{}
			cfg := latchConfig(t, store, c)
			cfg.Census, cfg.Caps, cfg.SelfTest, cfg.CensusLog = fc, hobbyCaps, ft, fl
			cfg.Policy.DryRun = tc.dryRun
			res, err := handler.New(sw, pub, cfg, quiet()).Handle(context.Background(), []byte(scheduledEvent))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if fc.takes != 1 || res.Census == nil {
				t.Errorf("census taken %d time(s), in result %v", fc.takes, res.Census != nil)
			}
			if len(fl.saved) != 1 || fl.saved[0].Summary() != tc.census.Summary() || fl.every[0] != cfg.ResweepMinutes {
				t.Errorf("census recorded %d time(s) (%v, every %v min), want once, every %d min: %s", len(fl.saved), fl.saved, fl.every, cfg.ResweepMinutes, tc.census.Summary())
			}
			if res.Tripped != tc.wantTrip || len(sw.policies) != tc.wantSweeps {
				t.Errorf("tripped %v after %d sweep(s), want %v after %d", res.Tripped, len(sw.policies), tc.wantTrip, tc.wantSweeps)
			}
			if ft.runs != tc.wantSelf {
				t.Errorf("self-test ran %d time(s), want %d", ft.runs, tc.wantSelf)
			}
			if store.st.Tripped != tc.wantTripped {
				t.Errorf("latch tripped = %v, want %v", store.st.Tripped, tc.wantTripped)
			}
			if tc.wantSelf > 0 && !store.st.LastSelfTest.Equal(t0) {
				t.Errorf("latch LastSelfTest = %v, want %v", store.st.LastSelfTest, t0)
			}
			if tc.wantSelf == 0 && !tc.wantTrip && store.saves != 0 {
				t.Errorf("a run without self-test or trip wrote the latch %d time(s)", store.saves)
			}
			if tc.dryRun && tc.wantTrip && !store.st.LastDryRunCensus.Equal(t0) {
				t.Errorf("a dry-run report was not recorded: %+v", store.st)
			}
			if len(tc.wantPublish) == 0 {
				if len(pub.messages) != 0 {
					t.Errorf("published %q, want nothing", pub.messages[0].Subject)
				}
				return
			}
			if len(pub.messages) != 1 {
				t.Fatalf("published %d message(s), want 1", len(pub.messages))
			}
			all := pub.messages[0].Subject + "\n" + pub.messages[0].Body
			for _, want := range tc.wantPublish {
				if !strings.Contains(all, want) {
					t.Errorf("message lacks %q:\n%s", want, all)
				}
			}
		})
	}
}

// The recorded census is only for `killswitch status`: when it cannot be
// written, the run still evaluates the caps and trips.
func TestCensusRecordFailureFailsNothing(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	gpus := census.Census{Instances: 1, VCPUs: 8, GPUs: 1, RegionsInUse: 1, RegionsRead: 17}
	for _, tc := range []struct {
		name     string
		census   census.Census
		wantTrip bool
	}{
		{"normal use", census.Census{Instances: 1, VCPUs: 2, RegionsInUse: 1, RegionsRead: 17}, false},
		{"a GPU still trips", gpus, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &memLatch{st: latch.State{LastSelfTest: t0}}
			sw := &fakeSweeper{}
			fl := &fakeCensusLog{err: errors.New("AccessDenied: s3:PutObject")}
			cfg := latchConfig(t, store, &clock{t: t0})
			cfg.Census, cfg.Caps, cfg.CensusLog = &fakeCensus{c: tc.census}, hobbyCaps, fl
			res, err := handler.New(sw, &fakePublisher{}, cfg, quiet()).Handle(context.Background(), []byte(scheduledEvent))
			if err != nil {
				t.Fatalf("a census that could not be recorded failed the run: %v", err)
			}
			if len(fl.saved) != 1 || res.Tripped != tc.wantTrip {
				t.Errorf("recorded %d time(s), tripped %v; want 1 attempt, tripped %v", len(fl.saved), res.Tripped, tc.wantTrip)
			}
		})
	}
}

// The self-test runs once a day, on the first scheduled run at least 24
// hours after the last.
func TestSelfTestIsDaily(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	store, c := &memLatch{}, &clock{t: t0}
	ft := &fakeSelfTest{}
	cfg := latchConfig(t, store, c)
	cfg.Census, cfg.Caps, cfg.SelfTest = &fakeCensus{c: census.Census{RegionsRead: 1}}, hobbyCaps, ft
	h := handler.New(&fakeSweeper{}, &fakePublisher{}, cfg, quiet())
	for _, step := range []struct {
		after time.Duration
		runs  int
	}{{0, 1}, {5 * time.Minute, 1}, {23*time.Hour + 55*time.Minute, 1}, {24 * time.Hour, 2}, {24*time.Hour + 5*time.Minute, 2}} {
		c.t = t0.Add(step.after)
		if _, err := h.Handle(context.Background(), []byte(scheduledEvent)); err != nil {
			t.Fatal(err)
		}
		if ft.runs != step.runs {
			t.Errorf("at +%v: self-test ran %d time(s), want %d", step.after, ft.runs, step.runs)
		}
	}
}
