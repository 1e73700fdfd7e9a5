// Package proc holds what the test harnesses share about the servers they
// start: a free port to listen on, and waiting until one is ready.
package proc

import (
	"context"
	"fmt"
	"net"
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

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
