package selftest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/killswitch/killswitch/internal/integrity"
	"github.com/killswitch/killswitch/internal/selftest"
)

const (
	notifyARN = "arn:aws:sns:us-east-1:123456789012:killswitch-notify"
	tripARN   = "arn:aws:sns:us-east-1:123456789012:killswitch-trip"
	ownerSub  = notifyARN + ":abcd"
	fnSub     = tripARN + ":ef01"
)

// subsFake is the two topics' subscriptions, one page each.
type subsFake struct {
	owner      types.Subscription
	ownerAttrs map[string]string
}

func (f subsFake) ListSubscriptionsByTopic(_ context.Context, in *sns.ListSubscriptionsByTopicInput, _ ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	if aws.ToString(in.TopicArn) == notifyARN {
		return &sns.ListSubscriptionsByTopicOutput{Subscriptions: []types.Subscription{f.owner}}, nil
	}
	return &sns.ListSubscriptionsByTopicOutput{Subscriptions: []types.Subscription{{SubscriptionArn: aws.String(fnSub),
		Protocol: aws.String("lambda"), Endpoint: aws.String("arn:aws:lambda:us-east-1:123456789012:function:killswitch")}}}, nil
}

func (f subsFake) GetSubscriptionAttributes(_ context.Context, in *sns.GetSubscriptionAttributesInput, _ ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error) {
	if aws.ToString(in.SubscriptionArn) == ownerSub {
		return &sns.GetSubscriptionAttributesOutput{Attributes: f.ownerAttrs}, nil
	}
	return &sns.GetSubscriptionAttributesOutput{Attributes: map[string]string{}}, nil
}

type policyFake struct{}

func (policyFake) GetPolicy(context.Context, *lambda.GetPolicyInput, ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error) {
	return &lambda.GetPolicyOutput{Policy: aws.String(`{"Statement":[{"Sid":"t","Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},` +
		`"Action":"lambda:InvokeFunction","Condition":{"ArnLike":{"AWS:SourceArn":"` + tripARN + `"}}}]}`)}, nil
}

// A notify subscription with a filter policy, and one unconfirmed, each
// fail the self-test with a check named after the subscription; a link
// confirmation is a warning that passes; an intact account passes.
func TestSelfTestChecksTheSwitchIntegrity(t *testing.T) {
	t.Parallel()
	confirmed := types.Subscription{SubscriptionArn: aws.String(ownerSub), Protocol: aws.String("email"), Endpoint: aws.String("owner@example.com")}
	pending := confirmed
	pending.SubscriptionArn = aws.String("PendingConfirmation")
	for name, tc := range map[string]struct {
		fake   subsFake
		failed []string // exact check names
		passes string   // a passing check's name
	}{
		"intact": {fake: subsFake{owner: confirmed, ownerAttrs: map[string]string{"ConfirmationWasAuthenticated": "true"}},
			passes: "the notify and trip topics' subscriptions and the function's policy are as deployed"},
		"a filter policy on the owner's subscription": {fake: subsFake{owner: confirmed, ownerAttrs: map[string]string{"ConfirmationWasAuthenticated": "true", "FilterPolicy": `{"k":["v"]}`}},
			failed: []string{"notify subscription " + short(ownerSub) + " has a filter policy"}},
		"the owner's subscription unconfirmed": {fake: subsFake{owner: pending},
			failed: []string{"notify subscription for owner@example.com is not confirmed"}},
		"confirmed without authentication: passes with a warning": {fake: subsFake{owner: confirmed, ownerAttrs: map[string]string{}},
			passes: "notify subscription " + short(ownerSub) + " (owner@example.com) was confirmed without authentication"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := selftest.New(selftest.Deps{
				Regions:  lister{regions: []string{"us-east-1"}},
				EC2:      func(string) selftest.StopAPI { return fakeStop{err: apiErr("DryRunOperation")} },
				Topic:    fakeTopic{},
				TopicARN: notifyARN,
				Latch:    fakeLatch{},
				Integrity: integrity.New(tc.fake, policyFake{}, integrity.Expect{NotifyTopicARN: notifyARN, NotifyEmails: []string{"owner@example.com"},
					TripTopicARN: tripARN, FunctionName: "killswitch"}),
			}, selftest.Options{}).Run(context.Background())
			var failed []string
			for _, c := range res.Failed() {
				failed = append(failed, c.Name)
				if !strings.Contains(c.Problem, "Fix: ") {
					t.Errorf("%s: problem gives no fix: %s", c.Name, c.Problem)
				}
			}
			if strings.Join(failed, "\n") != strings.Join(tc.failed, "\n") {
				t.Errorf("failed checks %q, want %q", failed, tc.failed)
			}
			if tc.passes != "" {
				found := false
				for _, c := range res.Checks {
					found = found || (c.OK && c.Name == tc.passes)
				}
				if !found {
					t.Errorf("no passing check %q in %+v", tc.passes, res.Checks)
				}
			}
			if len(tc.failed) > 0 {
				msg := res.Message("123456789012")
				if !strings.Contains(msg.Body, tc.failed[0]) || !strings.Contains(msg.Subject, "SELF-TEST FAILED") {
					t.Errorf("warning does not name %q:\n%s\n%s", tc.failed[0], msg.Subject, msg.Body)
				}
			}
		})
	}
}

// short is a subscription ARN as a summary names it.
func short(arn string) string { return "arn:…" + arn[strings.LastIndex(arn, ":"):] }
