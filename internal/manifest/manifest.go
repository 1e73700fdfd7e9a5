// Package manifest is the restore manifest: before the kill switch changes
// anything in a region, it writes to S3 what it is about to change and the
// prior state of each resource, reads it back to verify it, and after the
// change adds what happened. The CLI's restore reads it back.
//
// Layout, chosen to survive a crash halfway: objects are written once and
// never updated, one per trip, sweep, region and kind, and per stage:
//
//	trips/<trip>/<sweep>/<region>/<kind>/plan.json   before the first mutating call
//	trips/<trip>/<sweep>/<region>/<kind>/done.json   after the kind's Contain
//
// A sweep that dies halfway leaves every plan it wrote (each one written
// before its changes began) and the outcomes it got to; a re-sweep of the
// same trip adds a sweep of its own next to the first. Nothing is ever
// read-modify-written, so two writers cannot lose each other's records.
package manifest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/killswitch/killswitch/internal/engine"
)

// Format is the version of the objects' JSON; a reader refuses others.
const Format = 1

// Prefix is where every trip's objects live in the bucket.
const Prefix = "trips/"

// S3API is the slice of the S3 client the manifest uses. The function
// needs only PutObject and GetObject; the CLI lists too.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	s3.ListObjectsV2APIClient
}

// Store is one manifest bucket.
type Store struct {
	api    S3API
	bucket string
}

func NewStore(api S3API, bucket string) *Store { return &Store{api: api, bucket: bucket} }

// Bucket is the store's bucket name.
func (s *Store) Bucket() string { return s.bucket }

// TripID names a trip by the time the switch tripped (the latch's Since),
// so every re-sweep of one trip lands in the same trip.
func TripID(since time.Time) string {
	return "trip-" + since.UTC().Format("20060102T150405Z")
}

// SweepID names one sweep of a trip: its start, to the millisecond, and a
// random suffix so that two sweeps started in the same millisecond (the CLI
// and the function) cannot share objects. IDs sort by time.
func SweepID(start time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return start.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// Location is the S3 URL of a trip's objects.
func (s *Store) Location(trip string) string {
	return "s3://" + s.bucket + "/" + Prefix + trip + "/"
}

// Journal is the engine.Journal of one sweep of one trip.
type Journal struct {
	store       *Store
	trip, sweep string
	now         func() time.Time
}

var _ engine.Journal = (*Journal)(nil)

// Journal returns the journal of one sweep of trip.
func (s *Store) Journal(trip, sweep string) *Journal {
	return &Journal{store: s, trip: trip, sweep: sweep, now: time.Now}
}

func (j *Journal) Location() string { return j.store.Location(j.trip) }

// Plan is what one sweep was about to change of one kind in one region.
type Plan struct {
	Format    int        `json:"format"`
	Trip      string     `json:"trip"`
	Sweep     string     `json:"sweep"`
	Region    string     `json:"region"`
	Kind      string     `json:"kind"`
	WrittenAt time.Time  `json:"writtenAt"`
	Items     []PlanItem `json:"items"`
}

// PlanItem is one resource about to be changed, as it was found.
type PlanItem struct {
	ID         string            `json:"id"`
	Verb       engine.Verb       `json:"verb"`
	Reason     string            `json:"reason,omitempty"`
	State      string            `json:"state,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Parent     string            `json:"parent,omitempty"`
	// Prior is the kind's own prior-state type, kept as JSON.
	Prior json.RawMessage `json:"prior,omitempty"`
}

// Done is what one sweep did to one kind in one region.
type Done struct {
	Format    int              `json:"format"`
	Trip      string           `json:"trip"`
	Sweep     string           `json:"sweep"`
	Region    string           `json:"region"`
	Kind      string           `json:"kind"`
	WrittenAt time.Time        `json:"writtenAt"`
	Outcomes  []engine.Outcome `json:"outcomes"`
}

// planTimeout bounds writing and verifying one plan: containment waits for
// it, and a slow or failing S3 must cost seconds, not the SDK's full retry
// budget, before the engine contains anyway.
const planTimeout = 5 * time.Second

// Planned writes the plan and reads it back: it returns nil only once the
// object in S3 holds exactly these bytes.
func (j *Journal) Planned(ctx context.Context, region, kind string, todo []engine.Decision) error {
	ctx, cancel := context.WithTimeout(ctx, planTimeout)
	defer cancel()
	p := Plan{Format: Format, Trip: j.trip, Sweep: j.sweep, Region: region, Kind: kind, WrittenAt: j.now().UTC()}
	for _, d := range todo {
		item := PlanItem{ID: d.Resource.ID, Verb: d.Verb, Reason: d.Reason, State: d.Resource.State,
			Attributes: d.Resource.Attributes, Parent: d.Resource.Parent}
		if d.Resource.Prior != nil {
			b, err := json.Marshal(d.Resource.Prior)
			if err != nil {
				return fmt.Errorf("encoding the prior state of %s %s in %s: %w", kind, d.Resource.ID, region, err)
			}
			item.Prior = b
		}
		p.Items = append(p.Items, item)
	}
	return j.store.putVerified(ctx, j.key(region, kind, "plan.json"), p)
}

// doneTimeout bounds the outcome write, which runs even after the sweep's
// context has ended: the changes were made, so their record is worth the
// few seconds.
const doneTimeout = 10 * time.Second

// Done writes the outcomes. It runs under its own deadline, detached from
// ctx: a sweep cut short by its deadline has still made changes.
func (j *Journal) Done(ctx context.Context, region, kind string, outs []engine.Outcome) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), doneTimeout)
	defer cancel()
	d := Done{Format: Format, Trip: j.trip, Sweep: j.sweep, Region: region, Kind: kind, WrittenAt: j.now().UTC(), Outcomes: outs}
	return j.store.putVerified(ctx, j.key(region, kind, "done.json"), d)
}

func (j *Journal) key(region, kind, stage string) string {
	return Prefix + j.trip + "/" + j.sweep + "/" + region + "/" + Slug(kind) + "/" + stage
}

// Slug is a kind's name as a key segment: "EC2 instances" is
// "ec2-instances".
func Slug(kind string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(kind) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// putVerified writes v as JSON to key and reads it back. The read-back is
// what makes the manifest trustworthy: a write S3 acknowledged but that
// reads back different (a proxy, a bucket policy rewriting it, a wrong
// bucket) is caught before anything is changed.
func (s *Store) putVerified(ctx context.Context, key string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding s3://%s/%s: %w", s.bucket, key, err)
	}
	_, err = s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("writing s3://%s/%s: %w", s.bucket, key, err)
	}
	got, err := s.get(ctx, key)
	if err != nil {
		return fmt.Errorf("reading back s3://%s/%s: %w", s.bucket, key, err)
	}
	if !bytes.Equal(got, body) {
		return fmt.Errorf("s3://%s/%s reads back different from what was written (%d bytes, not %d)", s.bucket, key, len(got), len(body))
	}
	return nil
}

func (s *Store) get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(out.Body); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
