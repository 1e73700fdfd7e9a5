package notify

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/killswitch/killswitch/internal/guard"
)

// Publisher sends one message.
type Publisher interface {
	Publish(ctx context.Context, m Message) error
}

// Central sends every message to the owner's publisher and, in an AWS
// Organization, also to the org stack's central topic. The copy carries
// the account and whether the switch tripped as message attributes, which
// the org quarantine reads instead of the text.
type Central struct {
	owner    Publisher
	api      PublishAPI
	topicARN string
}

// NewCentral wraps owner (nil: the owner gets nothing, the central topic
// still does).
func NewCentral(owner Publisher, api PublishAPI, topicARN string) *Central {
	return &Central{owner: owner, api: api, topicARN: topicARN}
}

// Publish sends m to the owner, then to the central topic. Both are
// tried; a failure of either is returned, so that a broken central topic
// is as loud as a broken notify topic.
func (c *Central) Publish(ctx context.Context, m Message) error {
	var ownerErr error
	if c.owner != nil {
		ownerErr = c.owner.Publish(ctx, m)
	}
	attrs := map[string]types.MessageAttributeValue{
		guard.AttrEvent: {DataType: aws.String("String"), StringValue: aws.String(EventOf(m))},
	}
	if account := AccountOf(ctx, m); account != "" {
		attrs[guard.AttrAccount] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(account)}
	}
	_, err := c.api.Publish(ctx, &sns.PublishInput{
		TopicArn:          aws.String(c.topicARN),
		Subject:           aws.String(m.Subject),
		Message:           aws.String(m.Body),
		MessageAttributes: attrs,
	})
	if err != nil {
		err = fmt.Errorf("publishing the report to the central topic %s: %w", c.topicARN, err)
	}
	return errors.Join(ownerErr, err)
}

// trippedSubjects start the subjects of a report that means the switch is
// tripped: a trip (budget, alarm, census), a re-sweep, and the daily note
// that it is still tripped. A dry run, a warning, a disarm, a self-test or
// a message that did not trip are not. Tested against the message
// builders, so a changed subject cannot slip past.
var trippedSubjects = []string{
	"killswitch: contained ",
	"killswitch: ACTION NEEDED",
	"killswitch: RELAUNCH CAUGHT",
	"killswitch tripped:",
	"killswitch: still tripped",
}

// EventOf says whether m reports a tripped switch (guard.EventTripped) or
// anything else (guard.EventInfo). When in doubt it says info: the org
// quarantine acts on tripped only, and a member's own quarantine and
// sweep do not depend on it.
func EventOf(m Message) string {
	for _, p := range trippedSubjects {
		if strings.HasPrefix(m.Subject, p) {
			return guard.EventTripped
		}
	}
	return guard.EventInfo
}

var accountLine = regexp.MustCompile(`(?m)^Account: (\d{12})\s*$`)

// AccountOf is the account the message is about: the running function's
// account, or else the "Account:" line of the message.
func AccountOf(ctx context.Context, m Message) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		if parts := strings.Split(lc.InvokedFunctionArn, ":"); len(parts) > 4 && len(parts[4]) == 12 {
			return parts[4]
		}
	}
	if sub := accountLine.FindStringSubmatch(m.Body); sub != nil {
		return sub[1]
	}
	return ""
}
