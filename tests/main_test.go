// Package tests holds the integration and end-to-end tests, run against a
// real moto_server that TestMain starts on a free loopback port and stops.
package tests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/killswitch/killswitch/tests/internal/chain"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

var motoServer *moto.Server

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	srv, err := moto.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration tests need moto_server:", err)
		os.Exit(1)
	}
	motoServer = srv
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

// inbox is the chain's notify topic and SQS queue, with test-friendly
// helpers.
type inbox struct {
	*chain.Inbox
	topicARN string
}

func newInbox(ctx context.Context, cfg aws.Config) (*inbox, error) {
	b, err := chain.NewInbox(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &inbox{Inbox: b, topicARN: b.TopicARN}, nil
}

// receive waits for exactly n notifications.
func (b *inbox) receive(t *testing.T, n int) []chain.Mail {
	t.Helper()
	msgs, err := b.Receive(context.Background(), n, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("inbox got %d notifications, want %d", len(msgs), n)
	}
	return msgs
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
