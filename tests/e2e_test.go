package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/chain"
	"github.com/killswitch/killswitch/tests/internal/lambdarun"
	"github.com/killswitch/killswitch/tests/internal/moto"
	"github.com/killswitch/killswitch/tests/internal/relay"
)

// TestE2EBudgetAlertThroughSNSContainsTheAccount runs the deployed path on
// emulators: an AWS Budgets ACTUAL alert published to the trip topic goes
// SNS -> relay (http subscription) -> runtime emulator -> the real bootstrap,
// which contains the origin-story attack in moto and reports to the notify
// topic. Then a billing alarm going back to OK, published to the same topic,
// goes the same way and contains nothing.
func TestE2EBudgetAlertThroughSNSContainsTheAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin, cfg := realChain(ctx, t)
	plan := attack.OriginStory()
	seeded, err := attack.Seed(ctx, cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	box, err := newInbox(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := chain.Start(ctx, chain.Options{
		Config: cfg, MotoURL: motoServer.URL, Bin: bin,
		NotifyTopicARN: box.topicARN,
		Exempt:         seeded.Exempt,
		Logf:           t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("emulator and bootstrap output (tail):\n%s", ch.Function.Logs())
		}
		ch.Close()
	})

	// 1. The budget alert trips the switch.
	alert := chain.BudgetActual(moto.Account, time.Now())
	msgID, err := ch.Publish(ctx, alert.Subject, alert.Message)
	if err != nil {
		t.Fatal(err)
	}
	invs := waitInvocations(ctx, t, ch.Relay, 1)
	inv := invs[0]
	if inv.MessageID != msgID {
		t.Errorf("relay invoked for message %s, want the published %s", inv.MessageID, msgID)
	}
	checkEventShape(t, inv.Event, ch, alert)
	res := decodeResult(t, inv)
	if !res.Tripped || res.Report == nil {
		t.Fatalf("budget ACTUAL alert did not trip through the chain: %s", inv.Result)
	}
	if !res.Notified || res.NotifyError != "" {
		t.Errorf("result: notified %v, notify error %q", res.Notified, res.NotifyError)
	}
	t.Logf("trip: the Lambda ran %v for %d attacker instances in %d regions",
		inv.Finished.Sub(inv.Started).Round(time.Millisecond), len(seeded.Attackers()), len(plan.Regions))

	states, err := attack.States(ctx, cfg, plan.Regions)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range seeded.Attackers() {
		// Spot too: stopped first; real EC2's refusal for one-time Spot
		// (then terminated) is covered by the unit tests.
		if want := "stopped"; states[id] != want {
			t.Errorf("attacker instance %s (%s): state %q, want %q", id, seeded.Region[id], states[id], want)
		}
	}
	for _, id := range seeded.Exempt {
		if states[id] != "running" {
			t.Errorf("exempt owner instance %s: state %q, want running", id, states[id])
		}
	}
	if got, want := count(res.Report, "EC2 instances", "stopped"), len(seeded.Attackers()); got != want {
		t.Errorf("report: stopped %d, want %d", got, want)
	}
	if got, want := count(res.Report, "Spot Instance requests", "cancelled"), len(seeded.Spot); got != want {
		t.Errorf("report: Spot requests cancelled %d, want %d", got, want)
	}

	msgs := box.receive(t, 1)
	wantSubject := fmt.Sprintf("killswitch: contained %d resource(s) in %d region(s)", len(seeded.Attackers())+len(seeded.Spot), len(plan.Regions))
	if msgs[0].Subject != wantSubject {
		t.Errorf("report subject %q, want %q", msgs[0].Subject, wantSubject)
	}
	for _, want := range append([]string{"KILLSWITCH TRIPPED", `AWS Budgets "killswitch-monthly"`, "$4,812.37", "ap-east-1", "me-south-1", "MFA"}, seeded.Exempt...) {
		if !strings.Contains(msgs[0].Body, want) {
			t.Errorf("report body lacks %q:\n%s", want, msgs[0].Body)
		}
	}

	// 2. The alarm going back to OK reaches the handler and does nothing.
	before := states
	ok := chain.AlarmChange(moto.Account, "ALARM", "OK", time.Now())
	if _, err := ch.Publish(ctx, ok.Subject, ok.Message); err != nil {
		t.Fatal(err)
	}
	invs = waitInvocations(ctx, t, ch.Relay, 2)
	okRes := decodeResult(t, invs[1])
	if okRes.Tripped || okRes.Report != nil {
		t.Errorf("alarm OK transition tripped: %s", invs[1].Result)
	}
	if len(okRes.Triggers) != 1 || okRes.Triggers[0].Source != "alarm" || okRes.Triggers[0].Trips {
		t.Errorf("alarm OK transition classified as %+v, want one non-tripping alarm", okRes.Triggers)
	}
	after, err := attack.States(ctx, cfg, plan.Regions)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, after) {
		for id, st := range after {
			if before[id] != st {
				t.Errorf("after the OK alarm, %s went %q -> %q", id, before[id], st)
			}
		}
	}
	// The handler publishes (if at all) before it returns, and moto hands
	// SNS -> SQS over synchronously, so one short poll is enough.
	msgs, _ = box.Receive(ctx, 1, 2*time.Second)
	for _, m := range msgs {
		t.Errorf("the OK alarm sent the owner a message: %q\n%s", m.Subject, m.Body)
	}
	if n := ch.Relay.Received(); n != 2 {
		t.Errorf("relay received %d notifications, want 2", n)
	}
}

func waitInvocations(ctx context.Context, t *testing.T, r *relay.Relay, n int) []relay.Invocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	invs, err := r.Wait(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != n {
		t.Fatalf("relay made %d invocations, want %d", len(invs), n)
	}
	return invs
}

func decodeResult(t *testing.T, inv relay.Invocation) *handler.Result {
	t.Helper()
	if inv.Err != nil {
		t.Fatalf("the Lambda failed on %q: %v", inv.Subject, inv.Err)
	}
	var res handler.Result
	if err := json.Unmarshal(inv.Result, &res); err != nil {
		t.Fatalf("the Lambda's result is not a handler.Result: %v: %s", err, inv.Result)
	}
	return &res
}

// checkEventShape holds the relay's event to the shape of the sample that
// SNS delivers to Lambda (tests/testdata/budget-actual.json): same keys at
// every level, and the values that came from the publish.
func checkEventShape(t *testing.T, raw []byte, ch *chain.Chain, alert chain.Alert) {
	t.Helper()
	type record struct {
		EventSource, EventVersion, EventSubscriptionArn string
		Sns                                             map[string]any
	}
	var got, sample struct{ Records []map[string]json.RawMessage }
	sampleRaw, err := os.ReadFile(budgetActual)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sampleRaw, &sample); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &got); err != nil || len(got.Records) != 1 {
		t.Fatalf("relay event is not one SNS record (%v): %s", err, raw)
	}
	if g, w := slices.Sorted(maps.Keys(got.Records[0])), slices.Sorted(maps.Keys(sample.Records[0])); !slices.Equal(g, w) {
		t.Errorf("record keys %v, want %v as in the sample", g, w)
	}
	var rec, sampleRec record
	_ = json.Unmarshal(raw, &struct{ Records []*record }{Records: []*record{&rec}})
	_ = json.Unmarshal(sampleRaw, &struct{ Records []*record }{Records: []*record{&sampleRec}})
	if g, w := slices.Sorted(maps.Keys(rec.Sns)), slices.Sorted(maps.Keys(sampleRec.Sns)); !slices.Equal(g, w) {
		t.Errorf("Sns keys %v, want %v as in the sample", g, w)
	}
	if rec.EventSource != "aws:sns" || rec.EventVersion != "1.0" || rec.EventSubscriptionArn != ch.SubscriptionARN {
		t.Errorf("record header %q %q %q, want aws:sns 1.0 %s", rec.EventSource, rec.EventVersion, rec.EventSubscriptionArn, ch.SubscriptionARN)
	}
	for k, want := range map[string]any{"Type": "Notification", "TopicArn": ch.TripTopicARN, "Subject": alert.Subject, "Message": alert.Message} {
		if rec.Sns[k] != want {
			t.Errorf("Sns.%s = %q, want %q", k, rec.Sns[k], want)
		}
	}
	for _, k := range []string{"MessageId", "Timestamp", "Signature", "SigningCertUrl", "UnsubscribeUrl"} {
		if s, _ := rec.Sns[k].(string); s == "" {
			t.Errorf("Sns.%s is empty", k)
		}
	}
}

// realChain builds the real bootstrap and the runtime interface emulator
// and resets moto, for the tests that run the function as Lambda does.
func realChain(ctx context.Context, t *testing.T) (chain.Binaries, aws.Config) {
	t.Helper()
	root, err := lambdarun.RepoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := chain.Build(ctx, root, "e2e", func(s string) { t.Log(s) })
	if err != nil {
		t.Fatalf("building the Lambda and the emulator: %v", err)
	}
	if err := motoServer.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := moto.Config(ctx, motoServer.URL, awsconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return bin, cfg
}
