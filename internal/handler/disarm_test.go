package handler_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/disarmproof"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
)

const disarmKeyARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// fakeKMS computes real HMACs with a local secret, as KMS does with the
// disarm key's material; err makes VerifyMac fail as an unreachable KMS.
type fakeKMS struct {
	secret []byte
	mu     sync.Mutex
	err    error
	calls  int
}

func newFakeKMS() *fakeKMS { return &fakeKMS{secret: []byte("disarm key material")} }

func (f *fakeKMS) mac(msg []byte) []byte {
	h := hmac.New(sha256.New, f.secret)
	h.Write(msg)
	return h.Sum(nil)
}

func (f *fakeKMS) GenerateMac(_ context.Context, in *kms.GenerateMacInput, _ ...func(*kms.Options)) (*kms.GenerateMacOutput, error) {
	return &kms.GenerateMacOutput{Mac: f.mac(in.Message), KeyId: in.KeyId}, nil
}

func (f *fakeKMS) VerifyMac(_ context.Context, in *kms.VerifyMacInput, _ ...func(*kms.Options)) (*kms.VerifyMacOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if aws.ToString(in.KeyId) != disarmKeyARN || !hmac.Equal(f.mac(in.Message), in.Mac) {
		return nil, &kmstypes.KMSInvalidMacException{Message: aws.String("")}
	}
	return &kms.VerifyMacOutput{MacValid: true, KeyId: in.KeyId}, nil
}

// disarmEvent is a disarm whose proof k made for trip at issued; a nil k
// sends no proof.
func disarmEvent(t *testing.T, k *fakeKMS, trip, issued time.Time, reason string) []byte {
	t.Helper()
	ev := map[string]any{"killswitch": "disarm", "reason": reason}
	if k != nil {
		p, err := disarmproof.Make(context.Background(), k, disarmKeyARN, trip, issued)
		if err != nil {
			t.Fatal(err)
		}
		ev["proof"] = map[string]string{"trip": disarmproof.Stamp(p.Trip), "issuedAt": disarmproof.Stamp(p.IssuedAt), "mac": disarmproof.EncodeMAC(p.MAC)}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDisarmNeedsItsProof(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 29, 10, 0, 0, 250_000_000, time.UTC)
	now := since.Add(2 * time.Hour)
	tripped := latch.State{Tripped: true, Since: since, Reason: "budget", Resweeps: 7, Relaunches: 3}
	forger := &fakeKMS{secret: []byte("attacker's own key")}
	tests := []struct {
		name    string
		event   func(k *fakeKMS) []byte
		noKey   bool
		kmsErr  error
		refused []string // what the refusal must name; nil: accepted
		wantErr bool
	}{
		{name: "a valid proof disarms", event: func(k *fakeKMS) []byte { return disarmEvent(t, k, since, now, "clean") }},
		{name: "a proof issued a few minutes ahead (a fast clock) disarms",
			event: func(k *fakeKMS) []byte { return disarmEvent(t, k, since, now.Add(10*time.Minute), "clean") }},
		{name: "a plain disarm is refused", event: func(*fakeKMS) []byte { return []byte(`{"killswitch":"disarm","reason":"clean"}`) },
			refused: []string{"no proof", "break-glass"}},
		{name: "an expired proof is refused", event: func(k *fakeKMS) []byte { return disarmEvent(t, k, since, now.Add(-16*time.Minute), "clean") },
			refused: []string{"expired"}},
		{name: "a proof from the future is refused", event: func(k *fakeKMS) []byte { return disarmEvent(t, k, since, now.Add(16*time.Minute), "clean") },
			refused: []string{"expired"}},
		{name: "a proof for another trip is refused", event: func(k *fakeKMS) []byte { return disarmEvent(t, k, since.Add(-time.Hour), now, "clean") },
			refused: []string{"another trip"}},
		{name: "a proof issued before the trip is refused",
			event:   func(k *fakeKMS) []byte { return disarmEvent(t, k, since, since.Add(-time.Minute), "clean") },
			refused: []string{"before the trip"}},
		{name: "a forged MAC is refused", event: func(*fakeKMS) []byte { return disarmEvent(t, forger, since, now, "clean") },
			refused: []string{"MAC is invalid"}},
		{name: "a malformed proof is refused",
			event: func(*fakeKMS) []byte {
				return []byte(`{"killswitch":"disarm","proof":{"trip":"` + disarmproof.Stamp(since) + `","issuedAt":"soon","mac":"bWFj"}}`)
			},
			refused: []string{"malformed"}},
		{name: "without a key every disarm is refused", noKey: true, event: func(k *fakeKMS) []byte { return disarmEvent(t, k, since, now, "clean") },
			refused: []string{"no disarm key is configured"}},
		{name: "a KMS failure refuses and fails, so it is retried",
			kmsErr: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"},
			event:  func(k *fakeKMS) []byte { return disarmEvent(t, k, since, now, "clean") }, refused: []string{"KMS failed", "ThrottlingException"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := newFakeKMS()
			k.err = tc.kmsErr
			store, pub, sw := &memLatch{st: tripped}, &fakePublisher{}, &fakeSweeper{}
			cfg := latchConfig(t, store, &clock{t: now})
			if tc.noKey {
				cfg.DisarmKeyARN, cfg.DisarmKMS = "", nil
			} else {
				cfg.DisarmKMS = k
			}
			res, err := handler.New(sw, pub, cfg, quiet()).Handle(context.Background(), tc.event(k))

			if (err != nil) != tc.wantErr {
				t.Fatalf("Handle error = %v, want error %v", err, tc.wantErr)
			}
			if len(sw.policies) != 0 {
				t.Error("a disarm swept")
			}
			if len(pub.messages) != 1 {
				t.Fatalf("%d messages, want 1", len(pub.messages))
			}
			msg := pub.messages[0]
			if tc.refused == nil {
				if store.st.Tripped || store.st.DisarmReason != "clean" || !store.st.DisarmedAt.Equal(now) {
					t.Errorf("latch = %+v, want disarmed now", store.st)
				}
				if res.DisarmRefused != "" || !strings.Contains(msg.Subject, "DISARMED") || !strings.Contains(msg.Body, "7") {
					t.Errorf("refused %q, message %q\n%s", res.DisarmRefused, msg.Subject, msg.Body)
				}
				return
			}
			if store.saves != 0 || store.st != tripped {
				t.Errorf("a refused disarm touched the latch: %d saves, %+v", store.saves, store.st)
			}
			if !strings.Contains(msg.Subject, "DISARM REFUSED") || !strings.Contains(msg.Body, "stays TRIPPED") ||
				!strings.Contains(msg.Body, "disarm by direct invoke: clean") && !strings.Contains(msg.Body, "disarm by direct invoke: no reason") {
				t.Errorf("refusal notice %q:\n%s", msg.Subject, msg.Body)
			}
			// How to disarm properly, in the function's region.
			for _, want := range append(tc.refused, "killswitch disarm --region eu-west-1", "break-glass principal or the root user") {
				if !strings.Contains(msg.Body, want) && !strings.Contains(res.DisarmRefused, want) {
					t.Errorf("refusal lacks %q: %q\n%s", want, res.DisarmRefused, msg.Body)
				}
			}
			if msg.Card.EventType != "killswitch-disarm-refused" {
				t.Errorf("card event %q", msg.Card.EventType)
			}
		})
	}
}

// A disarm while the switch is not tripped writes nothing and says so,
// with or without a proof.
func TestDisarmWhileNotTrippedChangesNothing(t *testing.T) {
	t.Parallel()
	armed := latch.State{DisarmedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), DisarmReason: "last month"}
	store, pub := &memLatch{st: armed}, &fakePublisher{}
	k := newFakeKMS()
	cfg := latchConfig(t, store, &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)})
	cfg.DisarmKMS = k
	if _, err := handler.New(&fakeSweeper{}, pub, cfg, quiet()).Handle(context.Background(), []byte(`{"killswitch":"disarm","reason":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if store.saves != 0 || store.st != armed {
		t.Errorf("latch written: %d saves, %+v", store.saves, store.st)
	}
	if k.calls != 0 {
		t.Errorf("%d VerifyMac calls for a switch that was not tripped", k.calls)
	}
	if len(pub.messages) != 1 || !strings.Contains(pub.messages[0].Body, "not tripped") {
		t.Errorf("messages = %+v", pub.messages)
	}
}

// The raw commands in every trip report make a proof the handler accepts:
// the message they MAC is the one disarmproof builds.
func TestLatchLinesCarryTheExactMessage(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 29, 10, 0, 0, 123_000_000, time.UTC)
	store := &memLatch{st: latch.State{Tripped: true, Since: since, Reason: "budget"}}
	cfg := latchConfig(t, store, &clock{t: since.Add(10 * time.Minute)})
	issued := time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC)
	want := strings.Replace(string(disarmproof.Message("111122223333", since, issued)), "issued=2026-11-29T10:30:00Z", "issued=$ISSUED", 1)
	lines := strings.Join(handlerLatchLines(t, cfg, store.st), "\n")
	for _, w := range []string{want, "--key-id " + disarmKeyARN, "--region eu-west-1", `"trip":"` + disarmproof.Stamp(since) + `"`, "HMAC_SHA_256"} {
		if !strings.Contains(lines, w) {
			t.Errorf("disarm lines lack %q:\n%s", w, lines)
		}
	}
}

// handlerLatchLines reads the "to disarm" lines as a trip report prints them.
func handlerLatchLines(t *testing.T, cfg handler.Config, st latch.State) []string {
	t.Helper()
	pub := &fakePublisher{}
	store := &memLatch{st: st}
	cfg.Latch = store
	if _, err := handler.New(&fakeSweeper{}, pub, cfg, quiet()).Handle(context.Background(), budgetActual(t)); err != nil {
		t.Fatal(err)
	}
	return strings.Split(pub.messages[0].Body, "\n")
}
