package manifest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/manifest"
)

func TestCensusIsOverwrittenAndReadBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake()
	s := manifest.NewStore(f, "bucket")

	if _, err := s.LatestCensus(ctx); !errors.Is(err, manifest.ErrNoCensus) {
		t.Fatalf("LatestCensus before any = %v, want ErrNoCensus", err)
	}
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for i, c := range []census.Census{
		{At: t0, Instances: 2, VCPUs: 4, RegionsRead: 17},
		{At: t0.Add(5 * time.Minute), Instances: 3, VCPUs: 6, HourlyBurnUSD: 0.06, RegionsInUse: 1, RegionsRead: 17,
			Regions: []census.RegionCount{{Region: "us-east-1", Instances: 3, VCPUs: 6, Types: map[string]int{"t3.small": 3}}}},
	} {
		if err := s.SaveCensus(ctx, &c, 5); err != nil {
			t.Fatalf("SaveCensus %d: %v", i, err)
		}
		got, err := s.LatestCensus(ctx)
		if err != nil {
			t.Fatalf("LatestCensus %d: %v", i, err)
		}
		if !got.At.Equal(c.At) || got.Summary() != c.Summary() || got.EveryMinutes != 5 {
			t.Errorf("read back %v %q every %d min, want %v %q every 5", got.At, got.Summary(), got.EveryMinutes, c.At, c.Summary())
		}
	}
	if len(f.objects) != 1 {
		t.Errorf("%d objects in the bucket, want the one %s", len(f.objects), manifest.CensusKey)
	}

	f.corrupt = func([]byte) []byte { return []byte("not json") }
	if _, err := s.LatestCensus(ctx); err == nil || !strings.Contains(err.Error(), "does not hold a census") {
		t.Errorf("LatestCensus of a corrupt object = %v, want an error naming it", err)
	}
	f.putErr = errors.New("AccessDenied")
	if err := s.SaveCensus(ctx, &census.Census{}, 5); err == nil || !strings.Contains(err.Error(), "s3://bucket/census/latest.json") {
		t.Errorf("SaveCensus that cannot write = %v, want an error naming the object", err)
	}
}

func TestCensusOverdue(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		every int
		age   time.Duration
		want  bool
	}{
		{"just taken", 5, time.Minute, false},
		{"two runs missed", 5, 14 * time.Minute, false},
		{"exactly three intervals", 5, 15 * time.Minute, false},
		{"three runs missed", 5, 16 * time.Minute, true},
		{"hourly schedule, two hours", 60, 2 * time.Hour, false},
		{"interval unknown", 0, 48 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := manifest.CensusRecord{Census: census.Census{At: at}, EveryMinutes: tc.every}
			if got := r.Overdue(at.Add(tc.age)); got != tc.want {
				t.Errorf("Overdue after %v at every %d min = %v, want %v", tc.age, tc.every, got, tc.want)
			}
		})
	}
}
