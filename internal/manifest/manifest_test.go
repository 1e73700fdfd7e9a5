package manifest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/manifest"
)

// fakeS3 is an in-memory bucket. corrupt rewrites what GetObject returns;
// putErr fails PutObject; live makes Put fail on an ended context, as the
// SDK does.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	corrupt func([]byte) []byte
	putErr  error
}

func newFake() *fakeS3 { return &fakeS3{objects: map[string][]byte{}} }

func (f *fakeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.putErr != nil {
		return nil, f.putErr
	}
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[aws.ToString(in.Key)] = b
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	if f.corrupt != nil {
		b = f.corrupt(b)
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

func (f *fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prefix, delim := aws.ToString(in.Prefix), aws.ToString(in.Delimiter)
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := &s3.ListObjectsV2Output{}
	seen := map[string]bool{}
	for _, k := range keys {
		rest := strings.TrimPrefix(k, prefix)
		if i := strings.Index(rest, delim); delim != "" && i >= 0 {
			p := prefix + rest[:i+1]
			if !seen[p] {
				seen[p] = true
				out.CommonPrefixes = append(out.CommonPrefixes, types.CommonPrefix{Prefix: aws.String(p)})
			}
			continue
		}
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k)})
	}
	return out, nil
}

type sizes struct {
	Min, Max, Desired int
}

func (s sizes) Describe() string { return "sizes" }

var verbScale = engine.Verb{Past: "scaled to 0", Plan: "scale to 0"}

func decision(id string, prior engine.PriorState) engine.Decision {
	return engine.Act(engine.Resource{ID: id, State: "x", Attributes: map[string]string{"cluster": "c1"}, Prior: prior}, verbScale, "why")
}

func TestPlannedIsWrittenAndVerified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		fake    func(*fakeS3)
		wantErr string
	}{
		{name: "verified"},
		{name: "write refused", fake: func(f *fakeS3) { f.putErr = errors.New("AccessDenied") }, wantErr: "writing s3://bkt/trips/trip-20261129T100000Z/"},
		{name: "reads back different", fake: func(f *fakeS3) { f.corrupt = func(b []byte) []byte { return b[:len(b)/2] } }, wantErr: "reads back different"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			if tc.fake != nil {
				tc.fake(f)
			}
			j := manifest.NewStore(f, "bkt").Journal(manifest.TripID(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)), "s1")
			err := j.Planned(context.Background(), "eu-west-1", "Auto Scaling groups", []engine.Decision{decision("g1", sizes{1, 4, 2})})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Planned: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Planned error = %v, want it to contain %q", err, tc.wantErr)
			case tc.wantErr != "":
				return
			}
			key := "trips/trip-20261129T100000Z/s1/eu-west-1/auto-scaling-groups/plan.json"
			var p manifest.Plan
			if err := json.Unmarshal(f.objects[key], &p); err != nil {
				t.Fatalf("object %s: %v (have %v)", key, err, f.objects)
			}
			if len(p.Items) != 1 || string(p.Items[0].Prior) != `{"Min":1,"Max":4,"Desired":2}` || p.Items[0].Attributes["cluster"] != "c1" {
				t.Errorf("plan = %+v", p)
			}
		})
	}
}

// The outcomes are written even when the sweep's context has ended: the
// changes were made, and the restore needs their record.
func TestDoneIsWrittenAfterTheSweepContextEnds(t *testing.T) {
	t.Parallel()
	f := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	j := manifest.NewStore(f, "bkt").Journal("trip-1", "s1")
	if err := j.Done(ctx, "r1", "EC2 instances", []engine.Outcome{{ID: "i-1", Verb: verbScale, Status: engine.StatusDone}}); err != nil {
		t.Fatalf("Done on an ended context: %v", err)
	}
	if _, ok := f.objects["trips/trip-1/s1/r1/ec2-instances/done.json"]; !ok {
		t.Errorf("no done object; have %v", f.objects)
	}
}

// A resource changed by two sweeps of one trip is restored to the FIRST
// sweep's prior state (the owner's, not what the attacker set between the
// sweeps), with the LAST outcome's verb and status.
func TestItemsTakeTheFirstPriorAndTheLastOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFake()
	store := manifest.NewStore(f, "bkt")
	verbStop := engine.Verb{Past: "stopped", Plan: "stop"}
	verbTerm := engine.Verb{Past: "terminated", Plan: "terminate"}
	for _, sw := range []struct {
		id    string
		prior sizes
		verb  engine.Verb
		also  bool
	}{
		{"20261129T100000.000Z-aaaaaa", sizes{1, 4, 2}, verbStop, true},
		{"20261129T101000.000Z-bbbbbb", sizes{10, 10, 10}, verbTerm, false},
	} {
		j := store.Journal("trip-1", sw.id)
		if err := j.Planned(ctx, "r1", "things", []engine.Decision{decision("g1", sw.prior)}); err != nil {
			t.Fatal(err)
		}
		o := engine.Outcome{ID: "g1", Verb: sw.verb, Status: engine.StatusDone, Prior: sw.prior}
		if sw.also {
			o.Also = []engine.Change{{Verb: engine.Verb{Past: "protection off"}, Prior: sizes{}}}
		}
		if err := j.Done(ctx, "r1", "things", []engine.Outcome{o}); err != nil {
			t.Fatal(err)
		}
	}
	// A third sweep died after its plan: an item with no outcome.
	if err := store.Journal("trip-1", "20261129T102000.000Z-cccccc").Planned(ctx, "r2", "things", []engine.Decision{decision("g2", sizes{3, 3, 3})}); err != nil {
		t.Fatal(err)
	}
	if err := store.Journal("trip-0", "x").Planned(ctx, "r1", "things", []engine.Decision{decision("old", sizes{})}); err != nil {
		t.Fatal(err)
	}

	trips, err := store.Trips(ctx)
	if err != nil || strings.Join(trips, ",") != "trip-0,trip-1" {
		t.Fatalf("Trips = %v, %v", trips, err)
	}
	if latest, err := store.Latest(ctx); err != nil || latest != "trip-1" {
		t.Fatalf("Latest = %q, %v", latest, err)
	}
	trip, err := store.Load(ctx, "trip-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(trip.Sweeps) != 3 || trip.Location != "s3://bkt/trips/trip-1/" {
		t.Errorf("trip sweeps %v, location %q", trip.Sweeps, trip.Location)
	}
	items := trip.Items()
	g1 := items["r1"]["things"]
	if len(g1) != 1 {
		t.Fatalf("r1 items = %+v, want one item for g1 however many sweeps", g1)
	}
	if got := string(g1[0].Prior); got != `{"Min":1,"Max":4,"Desired":2}` {
		t.Errorf("prior = %s, want the first sweep's", got)
	}
	if g1[0].Verb != verbTerm || g1[0].Status != engine.StatusDone || len(g1[0].Also) != 1 {
		t.Errorf("g1 = %+v, want the last outcome (terminated) and the first sweep's secondary change", g1[0])
	}
	g2 := items["r2"]["things"]
	if len(g2) != 1 || g2[0].Status != "" || g2[0].Attributes["cluster"] != "c1" {
		t.Errorf("g2 = %+v, want the planned item with no status", g2)
	}
	if trip.Count() != 2 {
		t.Errorf("Count = %d, want 2", trip.Count())
	}
	if _, err := store.Load(ctx, "trip-9"); err == nil {
		t.Errorf("Load of a trip that does not exist succeeded")
	}
}

func TestLatestWithNoTrips(t *testing.T) {
	t.Parallel()
	if _, err := manifest.NewStore(newFake(), "bkt").Latest(context.Background()); !errors.Is(err, manifest.ErrNoTrips) {
		t.Errorf("Latest on an empty bucket = %v, want ErrNoTrips", err)
	}
}

func TestSlugAndIDs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"EC2 instances":           "ec2-instances",
		"EKS managed node groups": "eks-managed-node-groups",
		"IAM principals":          "iam-principals",
		"  odd -- name!":          "odd-name",
	} {
		if got := manifest.Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
	at := time.Date(2026, 11, 29, 10, 0, 0, 123e6, time.FixedZone("x", 3600))
	if got := manifest.TripID(at); got != "trip-20261129T090000Z" {
		t.Errorf("TripID = %q", got)
	}
	a, b := manifest.SweepID(at), manifest.SweepID(at)
	if a == b || !strings.HasPrefix(a, "20261129T090000.123Z-") {
		t.Errorf("SweepIDs %q, %q: want the time and distinct suffixes", a, b)
	}
}
