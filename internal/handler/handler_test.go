package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/notify"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/internal/trigger"
)

// fakeSweeper records each Run and returns a set report.
type fakeSweeper struct {
	mu        sync.Mutex
	policies  []engine.Policy
	deadlines []time.Time // zero: no deadline
	report    func(ctx context.Context, p engine.Policy) *engine.Report
}

func (f *fakeSweeper) Run(ctx context.Context, p engine.Policy) *engine.Report {
	dl, _ := ctx.Deadline()
	f.mu.Lock()
	f.policies = append(f.policies, p)
	f.deadlines = append(f.deadlines, dl)
	f.mu.Unlock()
	if f.report != nil {
		return f.report(ctx, p)
	}
	now := time.Now().UTC()
	rep := &engine.Report{
		DryRun: p.DryRun, StartedAt: now, FinishedAt: now,
		Regions: []engine.RegionReport{{Region: "us-east-1", Kinds: []engine.KindReport{{Kind: "EC2 instances", Noun: "instance", Found: 1,
			Outcomes: []engine.Outcome{{ID: "i-0123456789abcdef0", Verb: stopVerb, Status: status(p)}}}}}},
	}
	rep.Retally()
	return rep
}

var stopVerb = engine.Verb{Past: "stopped", Plan: "stop"}

func status(p engine.Policy) engine.Status {
	if p.DryRun {
		return engine.StatusPlanned
	}
	return engine.StatusDone
}

// fakePublisher records each message; err fails every publish.
type fakePublisher struct {
	mu       sync.Mutex
	messages []notify.Message
	ctxErrs  []error // the context's state at publish time
	err      error
}

func (f *fakePublisher) Publish(ctx context.Context, m notify.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.messages = append(f.messages, m)
	f.ctxErrs = append(f.ctxErrs, ctx.Err())
	return f.err
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "trigger", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editMessage rewrites the SNS message of the event's first record.
func editMessage(t *testing.T, event []byte, edit func(string) string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	sns := ev["Records"].([]any)[0].(map[string]any)["Sns"].(map[string]any)
	sns["Message"] = edit(sns["Message"].(string))
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func budgetActual(t *testing.T) []byte { return testdata(t, "budget-actual.json") }

func budgetForecast(t *testing.T) []byte {
	return editMessage(t, budgetActual(t), func(m string) string {
		return strings.NewReplacer("Alert Type: ACTUAL", "Alert Type: FORECASTED",
			"ACTUAL Amount: $4,812.37", "FORECASTED Amount: $12.50").Replace(m)
	})
}

func alarmState(t *testing.T, state string) []byte {
	return editMessage(t, testdata(t, "cloudwatch-billing-alarm.json"), func(m string) string {
		var msg map[string]any
		if err := json.Unmarshal([]byte(m), &msg); err != nil {
			t.Fatal(err)
		}
		if state == "OK" {
			msg["OldStateValue"], msg["NewStateValue"], msg["NewStateReason"] = "ALARM", "OK", "back to normal"
		}
		out, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	})
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func defaults(t *testing.T) handler.Config {
	t.Helper()
	return handler.Config{DeadlineReserve: settings.Default().DeadlineReserve, PolicyLine: "EC2 action: stop"}
}

func TestHandleEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		event       func(t *testing.T) []byte
		wantSweep   bool
		wantPublish bool
		wantSubject string // substring of the published subject
		wantBody    string // substring of the published body
		wantSource  trigger.Source
	}{
		{"budget ACTUAL trips", budgetActual, true, true, "contained 1", "killswitch-monthly", trigger.SourceBudget},
		{"billing alarm ALARM trips", func(t *testing.T) []byte { return alarmState(t, "ALARM") }, true, true, "contained 1", "WHAT TO DO NEXT", trigger.SourceAlarm},
		{"billing alarm OK is routine", func(t *testing.T) []byte { return alarmState(t, "OK") }, false, false, "", "", trigger.SourceAlarm},
		{"budget FORECASTED only reports", budgetForecast, false, true, "no action", "NO action", trigger.SourceBudget},
		{"unrecognised only reports", func(*testing.T) []byte { return []byte(`{"hello":"world"}`) }, false, true, "unrecognised", "NO action", trigger.SourceUnrecognised},
		{"manual trip", func(*testing.T) []byte { return []byte(`{"killswitch":"trip","reason":"drill"}`) }, true, true, "contained 1", "manual invoke", trigger.SourceManual},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sw, pub := &fakeSweeper{}, &fakePublisher{}
			h := handler.New(sw, pub, defaults(t), quiet())

			res, err := h.Handle(context.Background(), tc.event(t))

			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if got := len(sw.policies); got != map[bool]int{true: 1}[tc.wantSweep] {
				t.Errorf("swept %d times, want sweep=%v", got, tc.wantSweep)
			}
			if res.Tripped != tc.wantSweep || (res.Report != nil) != tc.wantSweep {
				t.Errorf("Tripped=%v Report=%v, want %v", res.Tripped, res.Report != nil, tc.wantSweep)
			}
			if len(res.Triggers) != 1 || res.Triggers[0].Source != tc.wantSource {
				t.Errorf("triggers = %+v, want one from %s", res.Triggers, tc.wantSource)
			}
			if got := len(pub.messages); got != map[bool]int{true: 1}[tc.wantPublish] {
				t.Fatalf("published %d times, want publish=%v", got, tc.wantPublish)
			}
			if res.Notified != tc.wantPublish {
				t.Errorf("Notified = %v", res.Notified)
			}
			if tc.wantPublish {
				m := pub.messages[0]
				if !strings.Contains(m.Subject, tc.wantSubject) || !strings.Contains(m.Body, tc.wantBody) {
					t.Errorf("message %q / %q, want %q / %q", m.Subject, m.Body, tc.wantSubject, tc.wantBody)
				}
			}
		})
	}
}

func TestHandleDryRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		deployDryRun bool
		event        string
		want         bool
	}{
		{"manual dry run asks for one", false, `{"killswitch":"trip","dryRun":true}`, true},
		{"manual without dryRun keeps the deploy-time dry run", true, `{"killswitch":"trip"}`, true},
		{"manual dryRun false cannot lift the deploy-time dry run", true, `{"killswitch":"trip","dryRun":false}`, true},
		{"manual without dryRun acts", false, `{"killswitch":"trip"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := defaults(t)
			s.Policy.DryRun = tc.deployDryRun
			sw, pub := &fakeSweeper{}, &fakePublisher{}

			if _, err := handler.New(sw, pub, s, quiet()).Handle(context.Background(), []byte(tc.event)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(sw.policies) != 1 || sw.policies[0].DryRun != tc.want {
				t.Fatalf("policies = %+v, want one with DryRun=%v", sw.policies, tc.want)
			}
			if tc.want && !strings.Contains(pub.messages[0].Subject, "DRY RUN") {
				t.Errorf("subject %q does not say DRY RUN", pub.messages[0].Subject)
			}
		})
	}
}

func TestHandlePassesThePolicy(t *testing.T) {
	t.Parallel()
	s := defaults(t)
	s.Policy.Exempt = map[string]string{"i-0123456789abcdef0": settings.EnvExemptInstanceIDs}
	sw := &fakeSweeper{}

	if _, err := handler.New(sw, &fakePublisher{}, s, quiet()).Handle(context.Background(), budgetActual(t)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	p := sw.policies[0]
	if p.Exempt["i-0123456789abcdef0"] != settings.EnvExemptInstanceIDs || p.DryRun {
		t.Errorf("policy = %+v", p)
	}
}

func TestHandleSweepFailureStillPublishes(t *testing.T) {
	t.Parallel()
	sw := &fakeSweeper{report: func(_ context.Context, p engine.Policy) *engine.Report {
		rep := &engine.Report{
			Regions: []engine.RegionReport{{Region: "eu-west-1", Kinds: []engine.KindReport{{
				Kind: "EC2 instances", Noun: "instance", Found: 1,
				Outcomes: []engine.Outcome{{ID: "i-0123456789abcdef0", Verb: stopVerb, Status: engine.StatusFailed,
					Code: "UnauthorizedOperation", Message: "api error UnauthorizedOperation: denied"}},
			}}}},
		}
		rep.Retally()
		return rep
	}}
	pub := &fakePublisher{}

	res, err := handler.New(sw, pub, defaults(t), quiet()).Handle(context.Background(), budgetActual(t))

	if err == nil || !strings.Contains(err.Error(), "could not be contained") {
		t.Errorf("Handle error = %v, want the incomplete containment", err)
	}
	if len(pub.messages) != 1 || !strings.Contains(pub.messages[0].Subject, "ACTION NEEDED") {
		t.Fatalf("messages = %+v, want one saying ACTION NEEDED", pub.messages)
	}
	if !strings.Contains(pub.messages[0].Body, "i-0123456789abcdef0") {
		t.Error("body does not name the failed instance")
	}
	if res == nil || !res.Notified || res.Report == nil {
		t.Errorf("result = %+v", res)
	}
}

func TestHandlePublishFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		event func(t *testing.T) []byte
	}{
		{"after a sweep", budgetActual},
		{"for a no-action message", budgetForecast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cause := errors.New("AuthorizationError: publish denied")
			res, err := handler.New(&fakeSweeper{}, &fakePublisher{err: cause}, defaults(t), quiet()).Handle(context.Background(), tc.event(t))
			if !errors.Is(err, cause) {
				t.Errorf("Handle error = %v, want the publish error", err)
			}
			if res == nil || res.Notified || !strings.Contains(res.NotifyError, "publish denied") {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestHandleWithoutPublisher(t *testing.T) {
	t.Parallel()
	sw := &fakeSweeper{}
	h := handler.New(sw, nil, defaults(t), quiet())
	for _, ev := range [][]byte{budgetActual(t), budgetForecast(t), []byte(`"nonsense"`)} {
		res, err := h.Handle(context.Background(), ev)
		if err != nil || res == nil || res.Notified {
			t.Errorf("Handle = %+v, %v", res, err)
		}
	}
	if len(sw.policies) != 1 {
		t.Errorf("swept %d times, want 1", len(sw.policies))
	}
}

func TestHandleKeepsDeadlineReserve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		timeout  time.Duration // 0: no deadline
		reserve  time.Duration
		wantLead time.Duration // how much earlier the sweep must end
	}{
		{"short deadline caps the reserve to a quarter", 2 * time.Second, 10 * time.Second, 500 * time.Millisecond},
		{"long deadline keeps the whole reserve", 15 * time.Minute, 10 * time.Second, 10 * time.Second},
		{"no deadline", 0, 10 * time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := defaults(t)
			s.DeadlineReserve = tc.reserve
			sw := &fakeSweeper{}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.timeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
			}
			defer cancel()
			handlerDeadline, hasDeadline := ctx.Deadline()

			if _, err := handler.New(sw, &fakePublisher{}, s, quiet()).Handle(ctx, budgetActual(t)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got := sw.deadlines[0]
			if !hasDeadline {
				if !got.IsZero() {
					t.Errorf("sweep deadline %v, want none", got)
				}
				return
			}
			lead := handlerDeadline.Sub(got)
			// time.Until runs a little after the deadline was set, so the
			// quarter can come out a little short.
			if lead < tc.wantLead-250*time.Millisecond || lead > tc.wantLead {
				t.Errorf("sweep ends %v before the handler's deadline, want about %v", lead, tc.wantLead)
			}
		})
	}
}

// A sweep cut short by its own deadline still leaves the handler time to
// publish the partial report.
func TestHandlePublishesAfterTheSweepDeadline(t *testing.T) {
	t.Parallel()
	s := defaults(t)
	s.DeadlineReserve = 10 * time.Second
	sw := &fakeSweeper{report: func(ctx context.Context, p engine.Policy) *engine.Report {
		<-ctx.Done()
		return &engine.Report{
			Regions: []engine.RegionReport{{Region: "us-east-1", Error: "not reached: " + ctx.Err().Error(), NotReached: true}},
			Totals:  engine.Totals{Regions: 1, RegionsFailed: 1}}
	}}
	pub := &fakePublisher{}
	// The reserve is capped to a quarter of the time left: the sweep is cut
	// 1 s before this deadline, ample for the fake publish on a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()

	_, err := handler.New(sw, pub, s, quiet()).Handle(ctx, budgetActual(t))

	if err == nil {
		t.Error("Handle = nil error for a sweep cut short")
	}
	if len(pub.messages) != 1 || pub.ctxErrs[0] != nil {
		t.Fatalf("published %d message(s), context state %v: the reserve was not kept for publishing", len(pub.messages), pub.ctxErrs)
	}
}

func TestHandleNamesTheAccount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"from the function ARN", lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
			InvokedFunctionArn: "arn:aws:lambda:us-east-1:444455556666:function:killswitch"}), "Account: 444455556666"},
		{"from the trigger", context.Background(), "Account: 111122223333"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{}
			if _, err := handler.New(&fakeSweeper{}, pub, defaults(t), quiet()).Handle(tc.ctx, budgetActual(t)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if !strings.Contains(pub.messages[0].Body, tc.want) {
				t.Errorf("body lacks %q:\n%s", tc.want, pub.messages[0].Body)
			}
		})
	}
}

func TestRefuse(t *testing.T) {
	t.Parallel()
	cause := errors.New("invalid killswitch settings: KILLSWITCH_ACTION: unknown action")
	res, err := handler.Refuse(cause, quiet())(context.Background(), []byte(`{"killswitch":"trip"}`))
	if !errors.Is(err, handler.ErrInvalidSettings) || !errors.Is(err, cause) {
		t.Errorf("error %v, want it to wrap ErrInvalidSettings and the cause", err)
	}
	if res != nil {
		t.Errorf("result = %+v, want nil", res)
	}
}
