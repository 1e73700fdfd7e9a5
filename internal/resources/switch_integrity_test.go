package resources_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/integrity"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/internal/settings"
)

// integritySNS is one page of subscriptions per topic (the checker's own
// tests cover pagination and every problem).
type integritySNS struct {
	subs  map[string][]types.Subscription
	attrs map[string]map[string]string
}

func (f integritySNS) ListSubscriptionsByTopic(_ context.Context, in *sns.ListSubscriptionsByTopicInput, _ ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	return &sns.ListSubscriptionsByTopicOutput{Subscriptions: f.subs[aws.ToString(in.TopicArn)]}, nil
}

func (f integritySNS) GetSubscriptionAttributes(_ context.Context, in *sns.GetSubscriptionAttributesInput, _ ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error) {
	return &sns.GetSubscriptionAttributesOutput{Attributes: f.attrs[aws.ToString(in.SubscriptionArn)]}, nil
}

type integrityLambda struct{ err error }

func (f integrityLambda) GetPolicy(context.Context, *lambda.GetPolicyInput, ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &lambda.GetPolicyOutput{Policy: aws.String(`{"Statement":[{"Sid":"trip","Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},` +
		`"Action":"lambda:InvokeFunction","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:sns:us-east-1:123456789012:killswitch-trip"}}}]}`)}, nil
}

// A sweep reports each problem as a failure of "Kill switch integrity"
// whose message names what is wrong and the fix, leaves a warning as a
// note, and changes nothing: the kind has no write calls at all.
func TestSwitchIntegrityReportsDriftAsFailures(t *testing.T) {
	t.Parallel()
	const (
		notify = "arn:aws:sns:us-east-1:123456789012:killswitch-notify"
		trip   = "arn:aws:sns:us-east-1:123456789012:killswitch-trip"
		owner  = notify + ":owner"
		fnSub  = trip + ":fn"
	)
	api := integritySNS{
		subs: map[string][]types.Subscription{
			notify: {{SubscriptionArn: aws.String(owner), Protocol: aws.String("email"), Endpoint: aws.String("owner@example.com")}},
			trip:   {{SubscriptionArn: aws.String(fnSub), Protocol: aws.String("lambda"), Endpoint: aws.String("arn:aws:lambda:us-east-1:123456789012:function:killswitch")}},
		},
		attrs: map[string]map[string]string{
			owner: {"FilterPolicy": `{"a":["b"]}`, "ConfirmationWasAuthenticated": "false"},
			fnSub: {},
		},
	}
	kind := resources.NewSwitchIntegrity(api, integrityLambda{}, integrity.Expect{
		NotifyTopicARN: notify, NotifyEmails: []string{"owner@example.com"}, TripTopicARN: trip, FunctionName: "killswitch"})
	if _, ok := any(kind).(engine.Global); !ok || kind.Name() != "Kill switch integrity" {
		t.Fatalf("kind %q is not global", kind.Name())
	}
	rep := engine.New(oneRegion{}, []engine.Kind{kind}, engine.Options{}).Run(context.Background(), engine.Policy{})
	var kr *engine.KindReport
	for i := range rep.Regions {
		for j := range rep.Regions[i].Kinds {
			if rep.Regions[i].Region == engine.GlobalRegion && rep.Regions[i].Kinds[j].Kind == "Kill switch integrity" {
				kr = &rep.Regions[i].Kinds[j]
			}
		}
	}
	if kr == nil {
		t.Fatalf("no global report of the kind: %+v", rep.Regions)
	}
	failed := kr.Failed()
	if len(failed) != 1 || failed[0].ID != "notify subscription "+short(owner)+" has a filter policy" {
		t.Fatalf("failed = %+v, want the filter policy only", failed)
	}
	for _, want := range []string{`{"a":["b"]}`, "Fix: aws sns set-subscription-attributes", "changes nothing", "write rights on SNS and Lambda"} {
		if !strings.Contains(failed[0].Message, want) {
			t.Errorf("message lacks %q:\n%s", want, failed[0].Message)
		}
	}
	if failed[0].Verb.Past != "reported" || failed[0].Label() != engine.LabelFailed {
		t.Errorf("verb %+v label %q", failed[0].Verb, failed[0].Label())
	}
	if len(kr.Refused) != 1 || !strings.HasPrefix(kr.Refused[0].Reason, "WARNING: ") || !strings.Contains(kr.Refused[0].Reason, "--authenticate-on-unsubscribe true") {
		t.Errorf("refused = %+v, want the unauthenticated confirmation as a warning", kr.Refused)
	}
	if rep.Err() == nil {
		t.Error("a report with a blinded owner has no error")
	}
}

// A policy that cannot be read is a failure that says so, not a pass.
func TestSwitchIntegrityCouldNotCheckIsAFailure(t *testing.T) {
	t.Parallel()
	kind := resources.NewSwitchIntegrity(integritySNS{}, integrityLambda{err: &smithy.GenericAPIError{Code: "AccessDeniedException"}}, integrity.Expect{
		NotifyTopicARN: "arn:aws:sns:us-east-1:123456789012:killswitch-notify", TripTopicARN: "arn:aws:sns:us-east-1:123456789012:killswitch-trip", FunctionName: "killswitch"})
	found, err := kind.Find(context.Background(), engine.GlobalRegion)
	if err != nil {
		t.Fatal(err)
	}
	var todo []engine.Decision
	for _, r := range found {
		if d := kind.Decide(r); !d.Leave {
			todo = append(todo, d)
		}
	}
	var got string
	for _, o := range kind.Contain(context.Background(), engine.GlobalRegion, todo) {
		if o.Status != engine.StatusFailed {
			t.Errorf("%s: status %s, want failed", o.ID, o.Status)
		}
		if strings.HasPrefix(o.ID, "could not check the function") {
			got = o.Code
		}
	}
	if got != "AccessDeniedException" {
		t.Errorf("could-not-check outcome code %q, want AccessDeniedException; found %+v", got, found)
	}
}

// The table holds the kind only for a deployed stack, which always wires
// the trip topic; the CLI's settings have none.
func TestKindsHoldTheIntegrityCheckWhenTheTripTopicIsWired(t *testing.T) {
	t.Parallel()
	has := func(s settings.Settings) bool {
		for _, k := range resources.Kinds(aws.Config{Region: "us-east-1"}, s, resources.Self{FunctionName: "killswitch"}) {
			if _, ok := k.(*resources.SwitchIntegrity); ok {
				return true
			}
		}
		return false
	}
	s := settings.Default()
	if has(s) {
		t.Error("integrity kind without a trip topic")
	}
	s.TripTopicARN = "arn:aws:sns:us-east-1:123456789012:killswitch-trip"
	if !has(s) {
		t.Error("no integrity kind with the trip topic wired")
	}
}

// short is a subscription ARN as a summary names it.
func short(arn string) string { return "arn:…" + arn[strings.LastIndex(arn, ":"):] }
