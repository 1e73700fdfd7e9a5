package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/guard"
)

// CensusKey is the one object where the schedule leaves its newest census,
// overwritten on every run, so `killswitch status` can say when the census
// last ran and what it saw. It is not the latch: a census that wrote the
// latch could overwrite a trip written a moment before it.
const CensusKey = guard.CensusRecordKey

// ErrNoCensus is LatestCensus's answer when no census was recorded yet.
var ErrNoCensus = errors.New("no census recorded yet")

// CensusLocation is the S3 URL of the newest census.
func (s *Store) CensusLocation() string { return "s3://" + s.bucket + "/" + CensusKey }

// CensusRecord is the object: the census, and how often the schedule
// takes one, so a reader can tell when the census has stopped coming.
type CensusRecord struct {
	census.Census
	EveryMinutes int `json:"everyMinutes"`
}

// OverdueAfter is how many missed runs make the census overdue: the same
// three intervals the stack's "no scheduled run" alarm waits.
const OverdueAfter = 3

// Overdue says whether, at now, the census has missed OverdueAfter runs of
// its schedule (never when the interval is unknown).
func (r CensusRecord) Overdue(now time.Time) bool {
	return r.EveryMinutes > 0 && now.Sub(r.At) > time.Duration(OverdueAfter*r.EveryMinutes)*time.Minute
}

// SaveCensus records c as the newest census, taken every everyMinutes. It
// is not read back: it is a heartbeat for the operator, not a record
// anything is restored from.
func (s *Store) SaveCensus(ctx context.Context, c *census.Census, everyMinutes int) error {
	body, err := json.Marshal(CensusRecord{Census: *c, EveryMinutes: everyMinutes})
	if err != nil {
		return fmt.Errorf("encoding the census for %s: %w", s.CensusLocation(), err)
	}
	if _, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(CensusKey), Body: bytes.NewReader(body),
		ContentType: aws.String("application/json"),
	}); err != nil {
		return fmt.Errorf("writing the census to %s: %w", s.CensusLocation(), err)
	}
	return nil
}

// LatestCensus reads the newest census back; ErrNoCensus when there is none.
func (s *Store) LatestCensus(ctx context.Context) (*CensusRecord, error) {
	b, err := s.get(ctx, CensusKey)
	var missing *s3types.NoSuchKey
	if errors.As(err, &missing) {
		return nil, ErrNoCensus
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.CensusLocation(), err)
	}
	var c CensusRecord
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s does not hold a census: %w", s.CensusLocation(), err)
	}
	return &c, nil
}
