package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/notify"
)

type fakePublishAPI struct {
	in  []*sns.PublishInput
	err error
}

func (f *fakePublishAPI) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.in = append(f.in, in)
	if f.err != nil {
		return nil, f.err
	}
	return &sns.PublishOutput{MessageId: aws.String("m-1")}, nil
}

const topic = "arn:aws:sns:us-east-1:111122223333:killswitch-notify"

func TestSNSPublish(t *testing.T) {
	t.Parallel()
	api := &fakePublishAPI{}
	m := notify.Message{Subject: "killswitch: contained 3 instance(s) in 1 region(s)", Body: "KILLSWITCH TRIPPED\n..."}

	if err := notify.NewSNS(api, topic).Publish(context.Background(), m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(api.in) != 1 {
		t.Fatalf("%d Publish calls, want 1", len(api.in))
	}
	in := api.in[0]
	if aws.ToString(in.TopicArn) != topic || aws.ToString(in.Subject) != m.Subject || aws.ToString(in.Message) != m.Body {
		t.Errorf("PublishInput = topic %q subject %q message %q", aws.ToString(in.TopicArn), aws.ToString(in.Subject), aws.ToString(in.Message))
	}
}

func TestSNSPublishWrapsErrors(t *testing.T) {
	t.Parallel()
	cause := errors.New("AuthorizationError: not allowed")
	err := notify.NewSNS(&fakePublishAPI{err: cause}, topic).Publish(context.Background(), notify.Message{Subject: "s", Body: "b"})
	if !errors.Is(err, cause) {
		t.Errorf("error %v does not wrap the cause", err)
	}
	if err == nil || !strings.Contains(err.Error(), topic) {
		t.Errorf("error %v does not name the topic", err)
	}
}
