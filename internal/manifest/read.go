package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/killswitch/killswitch/internal/engine"
)

// ErrNoTrips is returned by Latest when the bucket holds no trip.
var ErrNoTrips = errors.New("the manifest bucket holds no trip: the switch has not tripped since it was deployed (or the manifest could not be written)")

// Trips lists the bucket's trip IDs, oldest first.
func (s *Store) Trips(ctx context.Context) ([]string, error) {
	var trips []string
	pages := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(Prefix), Delimiter: aws.String("/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the trips in s3://%s/%s: %w", s.bucket, Prefix, err)
		}
		for _, p := range page.CommonPrefixes {
			if id := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(p.Prefix), Prefix), "/"); id != "" {
				trips = append(trips, id)
			}
		}
	}
	sort.Strings(trips)
	return trips, nil
}

// Latest is the most recent trip's ID.
func (s *Store) Latest(ctx context.Context) (string, error) {
	trips, err := s.Trips(ctx)
	if err != nil {
		return "", err
	}
	if len(trips) == 0 {
		return "", ErrNoTrips
	}
	return trips[len(trips)-1], nil
}

// Trip is every object of one trip, read back.
type Trip struct {
	ID       string
	Location string
	Sweeps   []string
	Plans    []Plan
	Dones    []Done
}

// Load reads every object of one trip. An object that cannot be read or
// parsed fails the load: a restore from half a manifest would silently
// leave things contained.
func (s *Store) Load(ctx context.Context, trip string) (*Trip, error) {
	t := &Trip{ID: trip, Location: s.Location(trip)}
	prefix := Prefix + trip + "/"
	sweeps := map[string]bool{}
	pages := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			parts := strings.Split(strings.TrimPrefix(key, prefix), "/")
			if len(parts) != 4 {
				continue // not one of ours: ignore rather than guess
			}
			body, err := s.get(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("reading s3://%s/%s: %w", s.bucket, key, err)
			}
			sweeps[parts[0]] = true
			switch parts[3] {
			case "plan.json":
				var p Plan
				if err := decode(body, &p, &p.Format); err != nil {
					return nil, fmt.Errorf("s3://%s/%s: %w", s.bucket, key, err)
				}
				t.Plans = append(t.Plans, p)
			case "done.json":
				var d Done
				if err := decode(body, &d, &d.Format); err != nil {
					return nil, fmt.Errorf("s3://%s/%s: %w", s.bucket, key, err)
				}
				t.Dones = append(t.Dones, d)
			}
		}
	}
	if len(t.Plans) == 0 {
		return nil, fmt.Errorf("no trip %q in s3://%s/%s (see `killswitch status` for the trips recorded)", trip, s.bucket, Prefix)
	}
	for sw := range sweeps {
		t.Sweeps = append(t.Sweeps, sw)
	}
	sort.Strings(t.Sweeps)
	sort.SliceStable(t.Plans, func(i, j int) bool { return t.Plans[i].Sweep < t.Plans[j].Sweep })
	sort.SliceStable(t.Dones, func(i, j int) bool { return t.Dones[i].Sweep < t.Dones[j].Sweep })
	return t, nil
}

func decode(body []byte, v any, format *int) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("not a manifest object: %w", err)
	}
	if *format != Format {
		return fmt.Errorf("manifest format %d, this build reads %d", *format, Format)
	}
	return nil
}

// Items are a trip's changes to restore, per region and kind, one item per
// resource however many sweeps changed it:
//   - its prior state is the one the FIRST sweep recorded: a re-sweep finds
//     what the attacker set in between (an Auto Scaling group raised to 10),
//     and the restore must go back to the owner's state, not the attacker's;
//   - its verb and status are the LAST recorded outcome's: the latest
//     change made (a stop may have become a terminate);
//   - its secondary changes are every sweep's, each change once, with its
//     first prior state.
//
// A planned item with no outcome (a sweep that died halfway) is included
// with an empty status: the kind checks the resource's current state anyway.
func (t *Trip) Items() map[string]map[string][]engine.RestoreItem {
	type key struct{ region, kind, id string }
	items := map[key]*engine.RestoreItem{}
	var order []key
	for _, p := range t.Plans {
		for _, it := range p.Items {
			k := key{p.Region, p.Kind, it.ID}
			if _, seen := items[k]; seen {
				continue
			}
			items[k] = &engine.RestoreItem{ID: it.ID, Attributes: it.Attributes, Prior: engine.RawPrior(it.Prior), Verb: it.Verb}
			order = append(order, k)
		}
	}
	for _, d := range t.Dones {
		for _, o := range d.Outcomes {
			k := key{d.Region, d.Kind, o.ID}
			it, ok := items[k]
			if !ok {
				// An outcome without a plan: the plan could not be written.
				// The outcome still carries the prior state.
				it = &engine.RestoreItem{ID: o.ID}
				if raw, ok := o.Prior.(engine.RawPrior); ok {
					it.Prior = raw
				}
				items[k] = it
				order = append(order, k)
			}
			it.Verb, it.Status = o.Verb, o.Status
			for _, c := range o.Also {
				if !hasChange(it.Also, c.Verb) {
					it.Also = append(it.Also, c)
				}
			}
		}
	}
	out := map[string]map[string][]engine.RestoreItem{}
	for _, k := range order {
		if out[k.region] == nil {
			out[k.region] = map[string][]engine.RestoreItem{}
		}
		out[k.region][k.kind] = append(out[k.region][k.kind], *items[k])
	}
	for _, kinds := range out {
		for _, its := range kinds {
			sort.Slice(its, func(i, j int) bool { return its[i].ID < its[j].ID })
		}
	}
	return out
}

func hasChange(cs []engine.Change, v engine.Verb) bool {
	for _, c := range cs {
		if c.Verb == v {
			return true
		}
	}
	return false
}

// Count is the number of distinct resources the trip recorded.
func (t *Trip) Count() int {
	n := 0
	for _, kinds := range t.Items() {
		for _, its := range kinds {
			n += len(its)
		}
	}
	return n
}
