// Package latch holds the switch's durable "tripped" state. A budget alert
// arrives once a month and an alarm acts only on its transition to ALARM,
// while the attacker keeps the credentials: once tripped, the switch must
// keep re-sweeping on the stack's schedule until the owner disarms it.
package latch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// State is the latch as stored.
type State struct {
	Tripped bool `json:"tripped"`
	// Since is when the switch tripped, and Reason what tripped it.
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// Resweeps counts the scheduled sweeps since the trip, and Relaunches
	// the resources they caught.
	Resweeps   int       `json:"resweeps"`
	Relaunches int       `json:"relaunches"`
	LastSweep  time.Time `json:"lastSweep,omitzero"`
	// LastDigest is when the daily "still tripped" digest was last sent.
	LastDigest time.Time `json:"lastDigest,omitzero"`
	// DisarmedAt and DisarmReason record the owner's last disarm.
	DisarmedAt   time.Time `json:"disarmedAt,omitzero"`
	DisarmReason string    `json:"disarmReason,omitempty"`
	// LastSelfTest is when the daily self-test last ran; a trip and a
	// disarm keep it, so the self-test stays daily.
	LastSelfTest time.Time `json:"lastSelfTest,omitzero"`
	// LastDryRunCensus is when a census last crossed a cap under a
	// deploy-time dry run: reported once a day, not on every run.
	LastDryRunCensus time.Time `json:"lastDryRunCensus,omitzero"`
}

// SelfTestDue says whether the daily self-test is due at now.
func (st State) SelfTestDue(now time.Time) bool {
	return st.LastSelfTest.IsZero() || now.Sub(st.LastSelfTest) >= 24*time.Hour
}

// Store reads and writes the latch.
type Store interface {
	Load(ctx context.Context) (State, error)
	Save(ctx context.Context, s State) error
}

// SSMAPI is the slice of the SSM client the latch uses.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// SSM keeps the latch in one SSM String parameter, created by the stack.
// A standard parameter is free, and the quarantine can deny changing it.
type SSM struct {
	api  SSMAPI
	name string
}

var _ Store = (*SSM)(nil)

func NewSSM(api SSMAPI, name string) *SSM { return &SSM{api: api, name: name} }

// Load reads the latch. A parameter that does not exist reads as armed and
// not tripped, so a first trip can create it; any other failure is an error,
// never "not tripped".
func (s *SSM) Load(ctx context.Context) (State, error) {
	out, err := s.api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.name)})
	if err != nil {
		var nf *ssmtypes.ParameterNotFound
		if errors.As(err, &nf) {
			return State{}, nil
		}
		return State{}, fmt.Errorf("reading the latch (SSM parameter %s): %w", s.name, err)
	}
	var st State
	if out.Parameter == nil || json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &st) != nil {
		return State{}, fmt.Errorf("the latch (SSM parameter %s) does not hold valid JSON", s.name)
	}
	return st, nil
}

func (s *SSM) Save(ctx context.Context, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = s.api.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(s.name), Value: aws.String(string(b)),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("writing the latch (SSM parameter %s): %w", s.name, err)
	}
	return nil
}

// Trip records a trip at now. A trip while already tripped keeps the first
// trip's time and reason and counts on.
func (st State) Trip(now time.Time, reason string) State {
	if !st.Tripped {
		st = State{Tripped: true, Since: now, Reason: reason, DisarmedAt: st.DisarmedAt, DisarmReason: st.DisarmReason, LastSelfTest: st.LastSelfTest}
	}
	st.LastSweep = now
	return st
}

// Resweep records a scheduled sweep that caught caught resources.
func (st State) Resweep(now time.Time, caught int) State {
	st.Resweeps++
	st.Relaunches += caught
	st.LastSweep = now
	return st
}

// DigestDue says whether the daily "still tripped" digest is due.
func (st State) DigestDue(now time.Time) bool {
	last := st.LastDigest
	if last.IsZero() {
		last = st.Since
	}
	return now.Sub(last) >= 24*time.Hour
}

// Disarm clears the latch, remembering when and why.
func (st State) Disarm(now time.Time, reason string) State {
	return State{DisarmedAt: now, DisarmReason: reason, LastSelfTest: st.LastSelfTest}
}
