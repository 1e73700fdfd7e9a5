// Package notify turns a sweep into the message a frightened owner reads on
// a phone, and publishes it.
package notify

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// PublishAPI is the one SNS call the notifier needs.
type PublishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS publishes messages to the notify topic. It must never be pointed at
// the trip topic, or the kill switch would trigger itself.
type SNS struct {
	api      PublishAPI
	topicARN string
}

func NewSNS(api PublishAPI, topicARN string) *SNS { return &SNS{api: api, topicARN: topicARN} }

func (n *SNS) Publish(ctx context.Context, m Message) error {
	_, err := n.api.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(n.topicARN),
		Subject:  aws.String(m.Subject),
		Message:  aws.String(m.Body),
	})
	if err != nil {
		return fmt.Errorf("publishing the report to %s: %w", n.topicARN, err)
	}
	return nil
}
