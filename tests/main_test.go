// Package tests holds the integration and end-to-end tests, run against a
// real moto_server that TestMain starts on a free loopback port and stops.
package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

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

// inbox is a notify topic with an SQS queue subscribed, as an owner's
// email would be.
type inbox struct {
	topicARN string
	queueURL string
	sqs      *sqs.Client
}

// The SNS notification envelope that SQS receives.
type snsEnvelope struct {
	Subject string
	Message string
}

type received struct{ Subject, Body string }

func newInbox(ctx context.Context, cfg aws.Config) (*inbox, error) {
	snsClient := sns.NewFromConfig(cfg)
	topic, err := snsClient.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("killswitch-notify")})
	if err != nil {
		return nil, fmt.Errorf("creating the notify topic: %w", err)
	}
	sqsClient := sqs.NewFromConfig(cfg)
	q, err := sqsClient.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("owner-inbox")})
	if err != nil {
		return nil, fmt.Errorf("creating the inbox queue: %w", err)
	}
	attrs, err := sqsClient.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("reading the inbox queue ARN: %w", err)
	}
	if _, err := snsClient.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		return nil, fmt.Errorf("subscribing the inbox to the notify topic: %w", err)
	}
	return &inbox{topicARN: aws.ToString(topic.TopicArn), queueURL: aws.ToString(q.QueueUrl), sqs: sqsClient}, nil
}

// receive waits for exactly n notifications.
func (b *inbox) receive(t *testing.T, n int) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []received
	for len(got) < n {
		out, err := b.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("reading the inbox after %d of %d notifications: %v", len(got), n, err)
		}
		for _, m := range out.Messages {
			var env snsEnvelope
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				t.Fatalf("inbox message is not an SNS envelope: %v", err)
			}
			got = append(got, received{Subject: env.Subject, Body: env.Message})
			_, _ = b.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(b.queueURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(got) != n {
		t.Fatalf("inbox got %d notifications, want %d", len(got), n)
	}
	return got
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
