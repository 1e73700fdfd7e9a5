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
	chatbot  bool
}

// Option adjusts an SNS publisher.
type Option func(*SNS)

// WithChatbot publishes every message for AWS Chatbot too (see Publish).
// Only when Slack is configured: otherwise the topic's subscribers are all
// people, and the message goes out exactly as plain text.
func WithChatbot() Option { return func(n *SNS) { n.chatbot = true } }

func NewSNS(api PublishAPI, topicARN string, opts ...Option) *SNS {
	n := &SNS{api: api, topicARN: topicARN}
	for _, o := range opts {
		o(n)
	}
	return n
}

// The protocols that get the plain text when a message also goes to
// Chatbot. SNS gives each subscription its protocol's entry, or "default"
// when there is none; Chatbot's subscription is an HTTPS endpoint of
// Chatbot's, so "default" (and "https") carry the card, and every protocol
// a person or a test reads carries the email's text. "http" is here for
// the test relay; an owner's own HTTPS webhook would get the card.
var plainProtocols = []string{"email", "email-json", "sqs", "http"}

// maxPublish keeps the JSON-structured message under SNS's 256 KiB limit
// on a published message, with room for the subject and the attributes.
const maxPublish = 250 * 1024

func (n *SNS) Publish(ctx context.Context, m Message) error {
	in := &sns.PublishInput{
		TopicArn: aws.String(n.topicARN),
		Subject:  aws.String(m.Subject),
		Message:  aws.String(m.Body),
	}
	if n.chatbot && !m.Card.Zero() {
		structured, err := chatbotStructure(m)
		if err != nil {
			return fmt.Errorf("rendering the report for Chatbot: %w", err)
		}
		in.Message = aws.String(structured)
		in.MessageStructure = aws.String("json")
	}
	_, err := n.api.Publish(ctx, in)
	if err != nil {
		return fmt.Errorf("publishing the report to %s: %w", n.topicARN, err)
	}
	return nil
}

// chatbotStructure is one SNS message with a body per protocol: the card
// for Chatbot, the email's text for the rest. The text is repeated once
// per plain protocol, so a body near its own cap is cut further to keep the
// whole under maxPublish; a normal report (a few KB) is never cut.
func chatbotStructure(m Message) (string, error) {
	card, err := m.Card.ChatbotJSON()
	if err != nil {
		return "", err
	}
	body := m.Body
	for {
		per := map[string]string{"default": string(card), "https": string(card)}
		for _, p := range plainProtocols {
			per[p] = body
		}
		out, err := marshal(per)
		if err != nil {
			return "", err
		}
		if len(out) <= maxPublish {
			return string(out), nil
		}
		body = cutBody(m.Body, len(body)*3/4)
	}
}
