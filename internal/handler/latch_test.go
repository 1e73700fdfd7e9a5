package handler_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
)

// memLatch is a latch store in memory; failLoad and failSave make it break.
type memLatch struct {
	mu       sync.Mutex
	st       latch.State
	saves    int
	failLoad error
	failSave error
}

func (m *memLatch) Load(context.Context) (latch.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st, m.failLoad
}

func (m *memLatch) Save(_ context.Context, st latch.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failSave != nil {
		return m.failSave
	}
	m.st, m.saves = st, m.saves+1
	return nil
}

// clock is a settable time for the digest's daily rhythm.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

const scheduledEvent = `{"killswitch":"scheduled"}`

// emptySweeper finds nothing anywhere: the quiet re-sweep.
func emptySweeper() *fakeSweeper {
	return &fakeSweeper{report: func(_ context.Context, p engine.Policy) *engine.Report {
		rep := &engine.Report{DryRun: p.DryRun, Regions: []engine.RegionReport{{Region: "us-east-1",
			Kinds: []engine.KindReport{{Kind: "EC2 instances", Noun: "instance"}}}}}
		rep.Retally()
		return rep
	}}
}

func latchConfig(t *testing.T, store latch.Store, c *clock) handler.Config {
	cfg := defaults(t)
	cfg.Latch, cfg.ResweepMinutes, cfg.FunctionName, cfg.Now = store, 10, "killswitch", c.now
	cfg.Region, cfg.DisarmKeyARN, cfg.DisarmKMS = "eu-west-1", disarmKeyARN, newFakeKMS()
	return cfg
}

func TestTripSetsTheLatchAndSaysHowToDisarm(t *testing.T) {
	t.Parallel()
	store, c := &memLatch{}, &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	pub := &fakePublisher{}

	res, err := handler.New(&fakeSweeper{}, pub, latchConfig(t, store, c), quiet()).Handle(context.Background(), budgetActual(t))

	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if !store.st.Tripped || !store.st.Since.Equal(c.t) || !strings.Contains(store.st.Reason, "killswitch-monthly") {
		t.Errorf("latch = %+v, want tripped now by the budget", store.st)
	}
	if res.Latch == nil || !res.Latch.Tripped {
		t.Errorf("result latch = %+v", res.Latch)
	}
	body := pub.messages[0].Body
	for _, want := range []string{"THE SWITCH HOLDS", "every 10 minute(s)", `{"killswitch":"disarm"`, "--function-name killswitch"} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q:\n%s", want, body)
		}
	}
}

func TestDryRunTripLeavesTheLatchAlone(t *testing.T) {
	t.Parallel()
	store := &memLatch{}
	_, err := handler.New(&fakeSweeper{}, &fakePublisher{}, latchConfig(t, store, &clock{t: time.Now()}), quiet()).
		Handle(context.Background(), []byte(`{"killswitch":"trip","dryRun":true}`))
	if err != nil || store.saves != 0 {
		t.Errorf("err %v, %d latch saves: a dry run must not trip the latch", err, store.saves)
	}
}

func TestTripWhoseLatchCannotBeSetSaysSoAndFails(t *testing.T) {
	t.Parallel()
	store := &memLatch{failSave: errors.New("AccessDenied: ssm:PutParameter")}
	pub := &fakePublisher{}
	sw := &fakeSweeper{}

	_, err := handler.New(sw, pub, latchConfig(t, store, &clock{t: time.Now()}), quiet()).Handle(context.Background(), budgetActual(t))

	if len(sw.policies) != 1 {
		t.Fatalf("swept %d times: containment must not wait on the latch", len(sw.policies))
	}
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("Handle error = %v, want the latch failure", err)
	}
	if !strings.Contains(pub.messages[0].Body, "latch could NOT be set") {
		t.Errorf("report does not say the latch failed:\n%s", pub.messages[0].Body)
	}
}

func TestScheduledRun(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tripped := latch.State{Tripped: true, Since: since, Reason: "budget", LastSweep: since}
	tests := []struct {
		name        string
		state       latch.State
		now         time.Time
		sweeper     *fakeSweeper
		wantSweeps  int
		wantSubject string // "" means nothing published
		wantCaught  bool
	}{
		{name: "armed: nothing swept, nothing sent", state: latch.State{}, now: since,
			sweeper: &fakeSweeper{}},
		{name: "disarmed: nothing swept", state: latch.State{DisarmedAt: since}, now: since,
			sweeper: &fakeSweeper{}},
		{name: "tripped, something relaunched: contained and reported at once", state: tripped, now: since.Add(10 * time.Minute),
			sweeper: &fakeSweeper{}, wantSweeps: 1, wantSubject: "RELAUNCH CAUGHT", wantCaught: true},
		{name: "tripped, nothing new: silent", state: tripped, now: since.Add(10 * time.Minute),
			sweeper: emptySweeper(), wantSweeps: 1},
		{name: "tripped, nothing new for a day: the digest", state: tripped, now: since.Add(24 * time.Hour),
			sweeper: emptySweeper(), wantSweeps: 1, wantSubject: "still tripped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, pub := &memLatch{st: tc.state}, &fakePublisher{}

			res, err := handler.New(tc.sweeper, pub, latchConfig(t, store, &clock{t: tc.now}), quiet()).
				Handle(context.Background(), []byte(scheduledEvent))

			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(tc.sweeper.policies) != tc.wantSweeps {
				t.Errorf("swept %d times, want %d", len(tc.sweeper.policies), tc.wantSweeps)
			}
			switch {
			case tc.wantSubject == "" && len(pub.messages) != 0:
				t.Errorf("published %q, want nothing", pub.messages[0].Subject)
			case tc.wantSubject != "" && (len(pub.messages) != 1 || !strings.Contains(pub.messages[0].Subject, tc.wantSubject)):
				t.Errorf("messages = %+v, want one saying %q", pub.messages, tc.wantSubject)
			}
			if res.RelaunchCaught != tc.wantCaught {
				t.Errorf("RelaunchCaught = %v", res.RelaunchCaught)
			}
			if tc.wantSweeps > 0 && (store.st.Resweeps != 1 || !store.st.Tripped) {
				t.Errorf("latch after = %+v, want still tripped with one re-sweep", store.st)
			}
			if tc.wantSubject == "still tripped" && !store.st.LastDigest.Equal(tc.now) {
				t.Errorf("digest time not recorded: %+v", store.st)
			}
		})
	}
}

// A latch nobody can read fails the scheduled run loudly instead of
// reading as "not tripped".
func TestScheduledRunWithAnUnreadableLatchFails(t *testing.T) {
	t.Parallel()
	store := &memLatch{failLoad: errors.New("AccessDenied: ssm:GetParameter")}
	sw := &fakeSweeper{}
	_, err := handler.New(sw, &fakePublisher{}, latchConfig(t, store, &clock{t: time.Now()}), quiet()).
		Handle(context.Background(), []byte(scheduledEvent))
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("Handle error = %v", err)
	}
}

func TestDisarm(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	store := &memLatch{st: latch.State{Tripped: true, Since: since, Reason: "budget", Resweeps: 7, Relaunches: 3}}
	pub, sw := &fakePublisher{}, &fakeSweeper{}
	c := &clock{t: since.Add(time.Hour)}

	cfg := latchConfig(t, store, c)
	res, err := handler.New(sw, pub, cfg, quiet()).
		Handle(context.Background(), disarmEvent(t, cfg.DisarmKMS.(*fakeKMS), since, c.t, "false alarm"))

	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if store.st.Tripped || store.st.DisarmReason != "false alarm" || !store.st.DisarmedAt.Equal(c.t) {
		t.Errorf("latch = %+v, want disarmed now for the reason given", store.st)
	}
	if len(sw.policies) != 0 || res.Report != nil {
		t.Error("disarm swept")
	}
	if len(pub.messages) != 1 || !strings.Contains(pub.messages[0].Subject, "DISARMED") ||
		!strings.Contains(pub.messages[0].Body, "Nothing was undone") || !strings.Contains(pub.messages[0].Body, "7") {
		t.Errorf("messages = %+v", pub.messages)
	}

	// Without a latch there is nothing to disarm, and the owner must hear so.
	cfg = defaults(t)
	if _, err := handler.New(sw, pub, cfg, quiet()).Handle(context.Background(), []byte(`{"killswitch":"disarm"}`)); err == nil {
		t.Error("disarm without a latch succeeded silently")
	}
}
