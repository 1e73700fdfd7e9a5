package latch_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/killswitch/killswitch/internal/latch"
)

type fakeSSM struct {
	value  *string
	getErr error
	puts   []ssm.PutParameterInput
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	if f.value == nil {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: in.Name, Value: f.value}}, nil
}

func (f *fakeSSM) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	f.puts = append(f.puts, *in)
	f.value = in.Value
	return &ssm.PutParameterOutput{}, nil
}

func TestSSMStore(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		fake    *fakeSSM
		want    latch.State
		wantErr string
	}{
		{name: "the stack's initial value reads as armed", fake: &fakeSSM{value: aws.String(`{"tripped":false}`)}},
		{name: "a missing parameter reads as armed", fake: &fakeSSM{}},
		{name: "tripped", fake: &fakeSSM{value: aws.String(`{"tripped":true,"since":"2026-11-29T10:00:00Z","reason":"budget","resweeps":2,"relaunches":0}`)},
			want: latch.State{Tripped: true, Since: now, Reason: "budget", Resweeps: 2}},
		{name: "garbage is an error, never armed", fake: &fakeSSM{value: aws.String(`tripped`)}, wantErr: "valid JSON"},
		{name: "access denied is an error, never armed", fake: &fakeSSM{getErr: errors.New("AccessDeniedException")}, wantErr: "AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := latch.NewSSM(tc.fake, "/killswitch/latch").Load(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "/killswitch/latch") {
					t.Errorf("err = %v, want %q naming the parameter", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Load = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestStateTransitions(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	st := latch.State{}.Trip(t0, "budget")
	if !st.Tripped || !st.Since.Equal(t0) || st.Reason != "budget" {
		t.Fatalf("after trip: %+v", st)
	}
	// A second trip keeps the first's time and reason.
	st = st.Trip(t0.Add(time.Hour), "alarm")
	if !st.Since.Equal(t0) || st.Reason != "budget" {
		t.Errorf("after second trip: %+v", st)
	}
	st = st.Resweep(t0.Add(10*time.Minute), 3).Resweep(t0.Add(20*time.Minute), 0)
	if st.Resweeps != 2 || st.Relaunches != 3 {
		t.Errorf("after re-sweeps: %+v", st)
	}
	if st.DigestDue(t0.Add(23*time.Hour)) || !st.DigestDue(t0.Add(24*time.Hour)) {
		t.Error("the digest is due a day after the trip, not before")
	}
	st.LastDigest = t0.Add(24 * time.Hour)
	if st.DigestDue(t0.Add(47*time.Hour)) || !st.DigestDue(t0.Add(48*time.Hour)) {
		t.Error("the next digest is due a day after the last")
	}
	st = st.Disarm(t0.Add(50*time.Hour), "false alarm")
	if st.Tripped || st.DisarmReason != "false alarm" || st.Resweeps != 0 {
		t.Errorf("after disarm: %+v", st)
	}

	f := &fakeSSM{}
	if err := latch.NewSSM(f, "/killswitch/latch").Save(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if len(f.puts) != 1 || !aws.ToBool(f.puts[0].Overwrite) || f.puts[0].Type != ssmtypes.ParameterTypeString {
		t.Errorf("puts = %+v, want one overwriting String put", f.puts)
	}
}

// The self-test is daily, and neither a trip nor a disarm resets its day.
func TestSelfTestDue(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   latch.State
		at   time.Duration
		due  bool
	}{
		{"never run", latch.State{}, 0, true},
		{"just run", latch.State{LastSelfTest: t0}, 5 * time.Minute, false},
		{"a minute short of a day", latch.State{LastSelfTest: t0}, 24*time.Hour - time.Minute, false},
		{"a day later", latch.State{LastSelfTest: t0}, 24 * time.Hour, true},
		{"kept by a trip", latch.State{LastSelfTest: t0}.Trip(t0.Add(time.Hour), "budget"), 2 * time.Hour, false},
		{"kept by a disarm", latch.State{LastSelfTest: t0}.Trip(t0, "budget").Disarm(t0.Add(time.Hour), "ok"), 2 * time.Hour, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.st.SelfTestDue(t0.Add(tc.at)); got != tc.due {
				t.Errorf("SelfTestDue(+%v) = %v, want %v (state %+v)", tc.at, got, tc.due, tc.st)
			}
		})
	}
}
