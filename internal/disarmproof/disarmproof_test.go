package disarmproof_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/disarmproof"
)

const keyARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// fakeKMS computes real HMACs with a local secret, as KMS does with the key
// material; deny makes GenerateMac fail as the key policy would.
type fakeKMS struct {
	secret []byte
	deny   bool
	err    error
}

func (f *fakeKMS) mac(msg []byte) []byte {
	h := hmac.New(sha256.New, f.secret)
	h.Write(msg)
	return h.Sum(nil)
}

func (f *fakeKMS) GenerateMac(_ context.Context, in *kms.GenerateMacInput, _ ...func(*kms.Options)) (*kms.GenerateMacOutput, error) {
	if f.deny {
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "explicit deny in a resource-based policy"}
	}
	if in.MacAlgorithm != kmstypes.MacAlgorithmSpecHmacSha256 {
		return nil, errors.New("wrong algorithm")
	}
	return &kms.GenerateMacOutput{Mac: f.mac(in.Message), KeyId: in.KeyId, MacAlgorithm: in.MacAlgorithm}, nil
}

func (f *fakeKMS) VerifyMac(_ context.Context, in *kms.VerifyMacInput, _ ...func(*kms.Options)) (*kms.VerifyMacOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	if !hmac.Equal(f.mac(in.Message), in.Mac) {
		return nil, &kmstypes.KMSInvalidMacException{Message: aws.String("")}
	}
	return &kms.VerifyMacOutput{MacValid: true, KeyId: in.KeyId}, nil
}

var (
	trip   = time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	issued = time.Date(2026, 11, 29, 12, 30, 5, 0, time.UTC)
)

func TestMessageIsStable(t *testing.T) {
	t.Parallel()
	got := string(disarmproof.Message("111122223333", trip, issued.Add(999*time.Millisecond)))
	want := "killswitch-disarm/v1 account=111122223333 trip=2026-11-29T10:00:00.123456789Z issued=2026-11-29T12:30:05Z"
	if got != want {
		t.Errorf("Message =\n  %s\nwant\n  %s", got, want)
	}
	// Another zone writes the same bytes.
	cet := time.FixedZone("CET", 3600)
	if again := string(disarmproof.Message("111122223333", trip.In(cet), issued.In(cet))); again != want {
		t.Errorf("Message in CET = %s", again)
	}
}

func TestVerifyBindsAccountTripAndTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := &fakeKMS{secret: []byte("key material")}
	p, err := disarmproof.Make(ctx, k, keyARN, trip, issued)
	if err != nil {
		t.Fatal(err)
	}
	if err := disarmproof.Verify(ctx, k, keyARN, trip, p); err != nil {
		t.Fatalf("the proof as made: %v", err)
	}
	other := strings.Replace(keyARN, "111122223333", "444455556666", 1)
	for _, tc := range []struct {
		name  string
		key   string
		trip  time.Time
		proof disarmproof.Proof
	}{
		{"another account", other, trip, p},
		{"another trip", keyARN, trip.Add(time.Nanosecond), p},
		{"another issue time", keyARN, trip, disarmproof.Proof{Trip: trip, IssuedAt: issued.Add(time.Second), MAC: p.MAC}},
		{"no MAC", keyARN, trip, disarmproof.Proof{Trip: trip, IssuedAt: issued}},
		{"a forged MAC", keyARN, trip, disarmproof.Proof{Trip: trip, IssuedAt: issued, MAC: (&fakeKMS{secret: []byte("attacker")}).mac(disarmproof.Message("111122223333", trip, issued))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := disarmproof.Verify(ctx, k, tc.key, tc.trip, tc.proof); !errors.Is(err, disarmproof.ErrInvalidMAC) {
				t.Errorf("Verify = %v, want ErrInvalidMAC", err)
			}
		})
	}
}

func TestKMSErrorsAreNotInvalid(t *testing.T) {
	t.Parallel()
	k := &fakeKMS{secret: []byte("k"), err: &smithy.GenericAPIError{Code: "ThrottlingException"}}
	err := disarmproof.Verify(context.Background(), k, keyARN, trip, disarmproof.Proof{Trip: trip, IssuedAt: issued, MAC: []byte{1}})
	if err == nil || errors.Is(err, disarmproof.ErrInvalidMAC) || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Errorf("Verify with KMS throttling = %v, want a KMS error that is not ErrInvalidMAC", err)
	}
}

func TestMakeDeniedSaysWhoMay(t *testing.T) {
	t.Parallel()
	_, err := disarmproof.Make(context.Background(), &fakeKMS{deny: true}, keyARN, trip, issued)
	if !errors.Is(err, disarmproof.ErrNotAllowed) || !strings.Contains(err.Error(), "break-glass") {
		t.Errorf("Make denied = %v, want ErrNotAllowed naming break-glass", err)
	}
}

func TestParseRoundTrip(t *testing.T) {
	t.Parallel()
	p, err := disarmproof.Parse(disarmproof.Stamp(trip), disarmproof.Stamp(issued), disarmproof.EncodeMAC([]byte("mac")))
	if err != nil || !p.Trip.Equal(trip) || !p.IssuedAt.Equal(issued) || string(p.MAC) != "mac" {
		t.Errorf("Parse = %+v, %v", p, err)
	}
	for _, bad := range [][3]string{
		{"yesterday", disarmproof.Stamp(issued), "bWFj"},
		{disarmproof.Stamp(trip), "now", "bWFj"},
		{disarmproof.Stamp(trip), disarmproof.Stamp(issued), "not base64!"},
		{disarmproof.Stamp(trip), disarmproof.Stamp(issued), ""},
	} {
		if _, err := disarmproof.Parse(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("Parse(%q) = nil error", bad)
		}
	}
	if _, err := disarmproof.AccountOfKey("alias/killswitch-disarm"); err == nil {
		t.Error("AccountOfKey(alias) = nil error; the setting must be a key ARN")
	}
}
