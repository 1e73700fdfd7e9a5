// Package disarmproof makes and checks the proof a disarm carries: a KMS
// HMAC (the stack's disarm key, guard.DisarmKeyAlias) over a message that
// names the account and the trip the latch holds. Only break-glass
// principals and the root user may generate such a MAC (guard.DisarmKeyPolicy);
// the function may only verify one. So an invoke, a schedule or a function
// made with stolen credentials, even one running as the switch's own role,
// cannot disarm, and a proof made for one trip cannot disarm another.
package disarmproof

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/killswitch/killswitch/internal/awserr"
)

// Version starts every message; a new message format gets a new version,
// so that no MAC over one format verifies as another.
const Version = "killswitch-disarm/v1"

// Algorithm is the MAC algorithm of the HMAC_256 disarm key.
const Algorithm = kmstypes.MacAlgorithmSpecHmacSha256

// Window is how far issuedAt may be from the function's clock, either way.
// Long enough for an operator's clock skew and for pasting the two AWS CLI
// commands by hand; short enough that a proof left in a shell history or a
// log is soon useless. (A proof is also bound to its trip: once that trip
// is disarmed, replaying it changes nothing.)
const Window = 15 * time.Minute

// Proof is what a disarm event carries: the trip it was made for, when it
// was made, and the MAC over Message(account, Trip, IssuedAt).
type Proof struct {
	Trip     time.Time
	IssuedAt time.Time
	MAC      []byte
}

// Stamp writes a time as the message and the event carry it: UTC,
// RFC 3339, with the latch's sub-second digits (the trip) kept exactly.
func Stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Message is the exact bytes the MAC covers. issued is whole seconds, as
// an operator types it (date -u +%Y-%m-%dT%H:%M:%SZ).
func Message(account string, trip, issued time.Time) []byte {
	return fmt.Appendf(nil, "%s account=%s trip=%s issued=%s",
		Version, account, Stamp(trip), Stamp(issued.Truncate(time.Second)))
}

// AccountOfKey is the account in a KMS key ARN
// (arn:aws:kms:REGION:ACCOUNT:key/ID): the message names the account the
// key, and so the switch, belongs to.
func AccountOfKey(keyARN string) (string, error) {
	parts := strings.Split(keyARN, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" || len(parts[4]) != 12 || !strings.HasPrefix(parts[5], "key/") {
		return "", fmt.Errorf("disarm key %q is not a KMS key ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID)", keyARN)
	}
	return parts[4], nil
}

// Generator is the slice of the KMS client that makes a proof (the CLI,
// with the operator's credentials).
type Generator interface {
	GenerateMac(ctx context.Context, in *kms.GenerateMacInput, optFns ...func(*kms.Options)) (*kms.GenerateMacOutput, error)
}

// Verifier is the slice of the KMS client that checks one (the function).
type Verifier interface {
	VerifyMac(ctx context.Context, in *kms.VerifyMacInput, optFns ...func(*kms.Options)) (*kms.VerifyMacOutput, error)
}

// ErrNotAllowed is a GenerateMac the key policy refused.
var ErrNotAllowed = errors.New("only a break-glass principal or the root user can disarm: the disarm key's policy lets no one else make a disarm proof")

// Make generates the proof for the trip with the caller's credentials.
func Make(ctx context.Context, api Generator, keyARN string, trip, issued time.Time) (Proof, error) {
	account, err := AccountOfKey(keyARN)
	if err != nil {
		return Proof{}, err
	}
	issued = issued.UTC().Truncate(time.Second)
	out, err := api.GenerateMac(ctx, &kms.GenerateMacInput{
		KeyId: aws.String(keyARN), MacAlgorithm: Algorithm, Message: Message(account, trip, issued),
	})
	if err != nil {
		if code := awserr.Code(err); code == "AccessDeniedException" || code == "AccessDenied" {
			return Proof{}, fmt.Errorf("making the disarm proof with key %s: %w (%v)", keyARN, ErrNotAllowed, err)
		}
		return Proof{}, fmt.Errorf("making the disarm proof with key %s: %w", keyARN, err)
	}
	return Proof{Trip: trip, IssuedAt: issued, MAC: out.Mac}, nil
}

// ErrInvalidMAC is a MAC that KMS says does not verify.
var ErrInvalidMAC = errors.New("the MAC does not verify with the disarm key")

// Verify asks KMS whether p's MAC is valid for the account and trip. It
// returns ErrInvalidMAC when KMS says invalid; any other error is KMS's
// own (unreachable, throttled, key disabled, access denied), which says
// nothing about the proof.
func Verify(ctx context.Context, api Verifier, keyARN string, trip time.Time, p Proof) error {
	account, err := AccountOfKey(keyARN)
	if err != nil {
		return err
	}
	if len(p.MAC) == 0 {
		return ErrInvalidMAC
	}
	out, err := api.VerifyMac(ctx, &kms.VerifyMacInput{
		KeyId: aws.String(keyARN), MacAlgorithm: Algorithm, Message: Message(account, trip, p.IssuedAt), Mac: p.MAC,
	})
	var invalid *kmstypes.KMSInvalidMacException
	switch {
	case errors.As(err, &invalid) || awserr.Code(err) == "KMSInvalidMacException":
		return ErrInvalidMAC
	case err != nil:
		return fmt.Errorf("verifying the disarm proof with key %s: %w", keyARN, err)
	case !out.MacValid:
		// VerifyMac fails rather than answering false, but never trust a
		// false answer as a pass.
		return ErrInvalidMAC
	}
	return nil
}

// EncodeMAC and DecodeMAC are how the event carries the MAC: standard
// base64, as the AWS CLI prints it.
func EncodeMAC(mac []byte) string { return base64.StdEncoding.EncodeToString(mac) }

func DecodeMAC(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// Parse reads a proof as the event carries it.
func Parse(trip, issuedAt, mac string) (Proof, error) {
	t, err := time.Parse(time.RFC3339Nano, trip)
	if err != nil {
		return Proof{}, fmt.Errorf(`"trip" is not an RFC 3339 time: %q`, trip)
	}
	at, err := time.Parse(time.RFC3339, issuedAt)
	if err != nil {
		return Proof{}, fmt.Errorf(`"issuedAt" is not an RFC 3339 time: %q`, issuedAt)
	}
	m, err := DecodeMAC(mac)
	if err != nil || len(m) == 0 {
		return Proof{}, errors.New(`"mac" is not base64`)
	}
	return Proof{Trip: t, IssuedAt: at, MAC: m}, nil
}
