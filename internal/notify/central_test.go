package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/notify"
)

// The org quarantine acts on EventTripped only, so each message builder's
// output is classified here: a changed subject that would silently stop
// (or start) the org quarantine fails this test.
func TestEventOfClassifiesEveryMessageBuilder(t *testing.T) {
	t.Parallel()
	k := &scriptedKind{script: map[string][]planned{"us-east-1": instances("a", 3, stop, engine.StatusDone)}}
	failing := &scriptedKind{script: map[string][]planned{
		"us-east-1": {{id: "i-0badbadbadbadbad1", action: stop, status: engine.StatusFailed, code: "UnauthorizedOperation"}},
	}}
	resweep := tripContext
	resweep.Resweep = true
	digest := notify.Digest{Since: time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC), Reason: "budget", Resweeps: 4}
	cases := []struct {
		name string
		m    notify.Message
		want string
	}{
		{"trip", notify.ForReport(tripContext, sweep(t, []string{"us-east-1"}, k, engine.Policy{})), guard.EventTripped},
		{"incomplete trip", notify.ForReport(tripContext, sweep(t, []string{"us-east-1"}, failing, engine.Policy{})), guard.EventTripped},
		{"trip with nothing running", notify.ForReport(tripContext, sweep(t, []string{"us-east-1"}, &scriptedKind{}, engine.Policy{})), guard.EventTripped},
		{"re-sweep", notify.ForReport(resweep, sweep(t, []string{"us-east-1"}, k, engine.Policy{})), guard.EventTripped},
		{"still tripped", notify.ForDigest(tripContext, digest, nil), guard.EventTripped},
		{"dry run", notify.ForReport(tripContext, sweep(t, []string{"us-east-1"}, k, engine.Policy{DryRun: true})), guard.EventInfo},
		{"disarm", notify.ForDisarm(tripContext, digest, true, "clean"), guard.EventInfo},
		{"no action", notify.ForNoAction(tripContext, "budget alert received, no action taken"), guard.EventInfo},
		{"refused disarm", notify.ForRefusedDisarm(tripContext, digest, "clean", "it carried no proof", nil), guard.EventInfo},
	}
	for _, c := range cases {
		if got := notify.EventOf(c.m); got != c.want {
			t.Errorf("%s (subject %q): EventOf = %q, want %q", c.name, c.m.Subject, got, c.want)
		}
	}
}

type recordingSNS struct {
	in  []*sns.PublishInput
	err error
}

func (r *recordingSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	r.in = append(r.in, in)
	return &sns.PublishOutput{}, r.err
}

func TestCentralPublishesToOwnerAndCentralTopicWithAttributes(t *testing.T) {
	t.Parallel()
	ownerAPI := &recordingSNS{}
	centralAPI := &recordingSNS{}
	const central = "arn:aws:sns:us-east-1:999988887777:killswitch-central"
	c := notify.NewCentral(notify.NewSNS(ownerAPI, "arn:aws:sns:us-east-1:111122223333:killswitch-notify"), centralAPI, central)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:444455556666:function:killswitch",
	})
	m := notify.Message{Subject: "killswitch: contained 3 instance(s) in 1 region(s)", Body: "KILLSWITCH TRIPPED\nAccount: 111122223333\n"}

	if err := c.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	if len(ownerAPI.in) != 1 || aws.ToString(ownerAPI.in[0].Subject) != m.Subject {
		t.Fatalf("owner got %d messages, want the report once", len(ownerAPI.in))
	}
	if len(centralAPI.in) != 1 {
		t.Fatalf("central topic got %d messages, want 1", len(centralAPI.in))
	}
	in := centralAPI.in[0]
	if aws.ToString(in.TopicArn) != central || aws.ToString(in.Message) != m.Body {
		t.Errorf("central publish went to %s with %q", aws.ToString(in.TopicArn), aws.ToString(in.Message))
	}
	// The function's own ARN wins over the text: the text is the owner's
	// to read, the ARN is where the function runs.
	if got := aws.ToString(in.MessageAttributes[guard.AttrAccount].StringValue); got != "444455556666" {
		t.Errorf("account attribute %q, want the function's account 444455556666", got)
	}
	if got := aws.ToString(in.MessageAttributes[guard.AttrEvent].StringValue); got != guard.EventTripped {
		t.Errorf("event attribute %q, want %q", got, guard.EventTripped)
	}

	// Outside Lambda the Account line of the body names it.
	centralAPI.in = nil
	if err := c.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(centralAPI.in[0].MessageAttributes[guard.AttrAccount].StringValue); got != "111122223333" {
		t.Errorf("account attribute from the body %q, want 111122223333", got)
	}
}

func TestCentralFailureIsReturnedAndOwnerStillNotified(t *testing.T) {
	t.Parallel()
	ownerAPI := &recordingSNS{}
	centralAPI := &recordingSNS{err: errors.New("AuthorizationError: not allowed")}
	c := notify.NewCentral(notify.NewSNS(ownerAPI, "arn:aws:sns:us-east-1:111122223333:killswitch-notify"), centralAPI,
		"arn:aws:sns:us-east-1:999988887777:killswitch-central")

	err := c.Publish(context.Background(), notify.Message{Subject: "killswitch: DISARMED - clean", Body: "x"})

	if err == nil || !strings.Contains(err.Error(), "central topic") {
		t.Errorf("error %v, want one naming the central topic", err)
	}
	if len(ownerAPI.in) != 1 {
		t.Errorf("owner got %d messages, want 1 despite the central failure", len(ownerAPI.in))
	}
	if got := aws.ToString(centralAPI.in[0].MessageAttributes[guard.AttrEvent].StringValue); got != guard.EventInfo {
		t.Errorf("a disarm is %q, want %q", got, guard.EventInfo)
	}
	if _, ok := centralAPI.in[0].MessageAttributes[guard.AttrAccount]; ok {
		t.Error("an account attribute was set although no account is known")
	}
}
