// Package apicount counts AWS API calls per service, region and operation
// through SDK middleware, so tests can hold the engine to its call floor.
package apicount

import (
	"context"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Key names one operation in one region of one service.
type Key struct{ Service, Region, Operation string }

// Counter counts calls (one per SDK operation, however many retries) and
// attempts (every HTTP request, retries included).
type Counter struct {
	mu       sync.Mutex
	calls    map[Key]int
	attempts map[Key]int
}

func New() *Counter { return &Counter{calls: map[Key]int{}, attempts: map[Key]int{}} }

// Attach adds the counting middleware to cfg; clients built from cfg
// afterwards are counted.
func (c *Counter) Attach(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		// Serialize runs once per operation, before the retry loop, and
		// after every service has registered its metadata (some do so in
		// Initialize, after a middleware added there would run).
		err := stack.Serialize.Add(middleware.SerializeMiddlewareFunc("apicount.calls",
			func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
				c.inc(c.calls, key(ctx))
				return next.HandleSerialize(ctx, in)
			}), middleware.After)
		if err != nil {
			return err
		}
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("apicount.attempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				c.inc(c.attempts, key(ctx))
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}

func key(ctx context.Context) Key {
	return Key{Service: awsmiddleware.GetServiceID(ctx), Region: awsmiddleware.GetRegion(ctx), Operation: awsmiddleware.GetOperationName(ctx)}
}

func (c *Counter) inc(m map[Key]int, k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m[k]++
}

// Reset forgets every count.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.attempts = map[Key]int{}, map[Key]int{}
}

// Calls sums the calls that match service, region and operation; an empty
// field matches any.
func (c *Counter) Calls(service, region, op string) int { return c.sum(c.calls, service, region, op) }

// Attempts is Calls with every retry counted.
func (c *Counter) Attempts(service, region, op string) int {
	return c.sum(c.attempts, service, region, op)
}

func (c *Counter) sum(m map[Key]int, service, region, op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range m {
		if (service == "" || k.Service == service) && (region == "" || k.Region == region) && (op == "" || k.Operation == op) {
			n += v
		}
	}
	return n
}

// ByRegion is the calls of one service per region and operation.
func (c *Counter) ByRegion(service string) map[string]map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]int{}
	for k, v := range c.calls {
		if k.Service != service {
			continue
		}
		if out[k.Region] == nil {
			out[k.Region] = map[string]int{}
		}
		out[k.Region][k.Operation] += v
	}
	return out
}

// Regions lists the regions seen for a service, sorted.
func (c *Counter) Regions(service string) []string {
	var out []string
	for r := range c.ByRegion(service) {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// readOnlyPrefixes start the names of operations that change nothing.
var readOnlyPrefixes = []string{"Describe", "List", "Get"}

// Mutating lists the calls, over every service, whose operation may change
// something (anything but Describe*, List* and Get*), by key.
func (c *Counter) Mutating() map[Key]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[Key]int{}
	for k, n := range c.calls {
		readOnly := false
		for _, p := range readOnlyPrefixes {
			if len(k.Operation) >= len(p) && k.Operation[:len(p)] == p {
				readOnly = true
			}
		}
		if !readOnly {
			out[k] = n
		}
	}
	return out
}
