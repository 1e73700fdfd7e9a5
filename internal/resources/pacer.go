package resources

import (
	"context"
	"sync"
	"time"
)

// Rate is a token bucket: Burst calls at once, then PerSecond a second.
// The zero Rate paces nothing.
type Rate struct {
	Burst     float64
	PerSecond float64
}

// Clock is the time a pacer waits on; tests give a fake one, so that no
// test waits on the wall clock.
type Clock interface {
	Now() time.Time
	// SleepUntil waits until t or until ctx ends.
	SleepUntil(ctx context.Context, t time.Time) error
}

// Pacing paces one region's EC2 instance calls to EC2's own buckets, so a
// sweep of many protected instances spends its time waiting for tokens,
// not being refused RequestLimitExceeded until the retries run out.
type Pacing struct {
	// Mutating paces StopInstances and ModifyInstanceAttribute, Terminate
	// paces TerminateInstances (a bucket of its own), Describe paces
	// DescribeInstanceAttribute and re-describes.
	Mutating, Terminate, Describe Rate
	// Clock is nil for the wall clock.
	Clock Clock
}

// EC2Pacing is EC2's documented request buckets per account and region
// (../shared/reference/aws-facts.md). Calls other kinds made in the region
// before may have taken some tokens; the SDK's retryer covers that rest.
var EC2Pacing = Pacing{
	Mutating:  Rate{Burst: 50, PerSecond: 5},
	Terminate: Rate{Burst: 100, PerSecond: 5},
	Describe:  Rate{Burst: 100, PerSecond: 20},
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) SleepUntil(ctx context.Context, until time.Time) error {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacer hands out one token per call. A caller that finds none reserves
// the next one (the balance goes negative) and sleeps until it is due, so
// waiting callers are served in order and never all wake at once.
type pacer struct {
	rate  Rate
	clock Clock

	mu     sync.Mutex
	tokens float64
	at     time.Time
}

// newPacer returns nil, which paces nothing, for the zero Rate.
func newPacer(r Rate, clock Clock) *pacer {
	if r.PerSecond <= 0 {
		return nil
	}
	if clock == nil {
		clock = wallClock{}
	}
	return &pacer{rate: r, clock: clock, tokens: r.Burst, at: clock.Now()}
}

func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	p.mu.Lock()
	now := p.clock.Now()
	p.tokens = min(p.rate.Burst, p.tokens+now.Sub(p.at).Seconds()*p.rate.PerSecond)
	p.at = now
	p.tokens--
	var d time.Duration
	if p.tokens < 0 {
		d = time.Duration(-p.tokens / p.rate.PerSecond * float64(time.Second))
	}
	p.mu.Unlock()
	if d == 0 {
		return ctx.Err()
	}
	return p.clock.SleepUntil(ctx, now.Add(d))
}
