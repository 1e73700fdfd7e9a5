// Package proc holds what the test harnesses share about the servers they
// start: waiting until one is ready.
package proc

import (
	"context"
	"fmt"
	"time"
)

// WaitReady polls ready every interval until it returns true, the process
// exits (exited closes), ctx ends, or timeout passes. The error names what
// and quotes logs, so a failed start explains itself.
func WaitReady(ctx context.Context, what string, ready func() bool, exited <-chan struct{}, logs fmt.Stringer, interval, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready: %s", what, logs)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %s", what, timeout, logs)
		}
	}
}
