package faultproxy

import (
	"net/url"
	"strings"
	"sync"
	"time"
)

// EC2's request throttling, as AWS documents it (see
// ../shared/reference/aws-facts.md): token buckets per account and region,
// one per action class, each refilled at a fixed rate up to its burst.
// A call takes one token from its class's bucket; StopInstances and
// TerminateInstances also take one token per instance ID from a resource
// bucket of their own. A call that finds too few tokens is answered
// RequestLimitExceeded and takes none, as EC2 does.
const (
	// ClassDescribe is a filtered or paginated non-mutating call (Describe*).
	ClassDescribe = "describe"
	// ClassUnfilteredDescribe is DescribeInstances with no filter, no
	// instance IDs and no pagination.
	ClassUnfilteredDescribe = "describe-unfiltered"
	// ClassMutating is every call that changes something, but terminate.
	ClassMutating = "mutating"
	// ClassTerminate is TerminateInstances, which has its own bucket.
	ClassTerminate = "terminate"
	// ClassStopResource and ClassTerminateResource count instance IDs.
	ClassStopResource      = "stop-instances-resource"
	ClassTerminateResource = "terminate-instances-resource"
)

// Bucket is one token bucket's capacity and refill rate per second.
type Bucket struct {
	Burst  float64
	Refill float64
}

// EC2Buckets are EC2's documented capacities, by class.
var EC2Buckets = map[string]Bucket{
	ClassDescribe:           {Burst: 100, Refill: 20},
	ClassUnfilteredDescribe: {Burst: 50, Refill: 10},
	ClassMutating:           {Burst: 50, Refill: 5},
	ClassTerminate:          {Burst: 100, Refill: 5},
	ClassStopResource:       {Burst: 1000, Refill: 20},
	ClassTerminateResource:  {Burst: 1000, Refill: 20},
}

// Classify names the bucket of one EC2 call and, for stop and terminate,
// the resource bucket and how many tokens it takes from it (the instance
// IDs it names).
func Classify(op string, form url.Values) (class, resource string, ids int) {
	for k := range form {
		if strings.HasPrefix(k, "InstanceId.") {
			ids++
		}
	}
	switch {
	case op == "TerminateInstances":
		return ClassTerminate, ClassTerminateResource, ids
	case op == "StopInstances":
		return ClassMutating, ClassStopResource, ids
	case op == "DescribeInstances" && unfiltered(form):
		return ClassUnfilteredDescribe, "", 0
	case strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "List"):
		return ClassDescribe, "", 0
	}
	return ClassMutating, "", 0
}

func unfiltered(form url.Values) bool {
	for k := range form {
		if strings.HasPrefix(k, "Filter.") || strings.HasPrefix(k, "InstanceId.") || k == "MaxResults" || k == "NextToken" {
			return false
		}
	}
	return true
}

// limiter holds every region's buckets. Its clock is injected, so a unit
// test can step time instead of sleeping.
type limiter struct {
	now   func() time.Time
	specs map[string]Bucket

	mu      sync.Mutex
	buckets map[[2]string]*bucket // region, class
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(specs map[string]Bucket, now func() time.Time) *limiter {
	if specs == nil {
		specs = EC2Buckets
	}
	if now == nil {
		now = time.Now
	}
	return &limiter{now: now, specs: specs, buckets: map[[2]string]*bucket{}}
}

// take takes n tokens from every named bucket of one region, or none at
// all: it reports false when any of them is short.
func (l *limiter) take(region string, want map[string]float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	type draw struct {
		b *bucket
		n float64
	}
	var draws []draw
	for class, n := range want {
		spec, ok := l.specs[class]
		if !ok || n == 0 {
			continue
		}
		b := l.buckets[[2]string{region, class}]
		if b == nil {
			b = &bucket{tokens: spec.Burst, at: now}
			l.buckets[[2]string{region, class}] = b
		}
		b.tokens = min(spec.Burst, b.tokens+now.Sub(b.at).Seconds()*spec.Refill)
		b.at = now
		if b.tokens < n {
			return false
		}
		draws = append(draws, draw{b, n})
	}
	for _, d := range draws {
		d.b.tokens -= d.n
	}
	return true
}

// allow decides one EC2 call: true if EC2 would serve it now.
func (l *limiter) allow(region, op string, form url.Values) bool {
	class, resource, ids := Classify(op, form)
	want := map[string]float64{class: 1}
	if resource != "" {
		want[resource] = float64(ids)
	}
	return l.take(region, want)
}
