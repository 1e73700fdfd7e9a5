package integrity_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/integrity"
)

const (
	notifyTopic = "arn:aws:sns:us-east-1:123456789012:killswitch-notify"
	tripTopic   = "arn:aws:sns:us-east-1:123456789012:killswitch-trip"
	fnName      = "killswitch"
	fnARN       = "arn:aws:lambda:us-east-1:123456789012:function:killswitch"
	ownerSub    = notifyTopic + ":0001"
	tripSub     = tripTopic + ":0002"
	owner       = "owner@example.com"
)

// fakeSNS serves each topic's subscriptions one per page, so the listing
// must paginate.
type fakeSNS struct {
	subs    map[string][]types.Subscription
	attrs   map[string]map[string]string
	listErr map[string]error
	attrErr map[string]error
	// failPage fails a topic's listing from that page on, with Throttling.
	failPage map[string]int
}

func (f *fakeSNS) ListSubscriptionsByTopic(_ context.Context, in *sns.ListSubscriptionsByTopicInput, _ ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	topic := aws.ToString(in.TopicArn)
	if err := f.listErr[topic]; err != nil {
		return nil, err
	}
	subs := f.subs[topic]
	i := 0
	if in.NextToken != nil {
		i = int(aws.ToString(in.NextToken)[0] - '0')
	}
	if p, ok := f.failPage[topic]; ok && i >= p {
		return nil, apiErr("Throttling")
	}
	out := &sns.ListSubscriptionsByTopicOutput{}
	if i < len(subs) {
		out.Subscriptions = subs[i : i+1]
	}
	if i+1 < len(subs) {
		out.NextToken = aws.String(string(rune('0' + i + 1)))
	}
	return out, nil
}

func (f *fakeSNS) GetSubscriptionAttributes(_ context.Context, in *sns.GetSubscriptionAttributesInput, _ ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error) {
	arn := aws.ToString(in.SubscriptionArn)
	if err := f.attrErr[arn]; err != nil {
		return nil, err
	}
	a, ok := f.attrs[arn]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NotFound", Message: "no subscription " + arn}
	}
	return &sns.GetSubscriptionAttributesOutput{Attributes: a}, nil
}

type fakeLambda struct {
	statements []map[string]any
	err        error
}

func (f *fakeLambda) GetPolicy(_ context.Context, in *lambda.GetPolicyInput, _ ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	if aws.ToString(in.FunctionName) != fnName {
		return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException"}
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": f.statements})
	return &lambda.GetPolicyOutput{Policy: aws.String(string(b))}, nil
}

// deployed is the account as the stack leaves it, the owner having
// confirmed with authentication.
func deployed() (*fakeSNS, *fakeLambda, integrity.Expect) {
	s := &fakeSNS{
		subs: map[string][]types.Subscription{
			notifyTopic: {{SubscriptionArn: aws.String(ownerSub), Protocol: aws.String("email"), Endpoint: aws.String(owner), TopicArn: aws.String(notifyTopic)}},
			tripTopic:   {{SubscriptionArn: aws.String(tripSub), Protocol: aws.String("lambda"), Endpoint: aws.String(fnARN), TopicArn: aws.String(tripTopic)}},
		},
		attrs: map[string]map[string]string{
			ownerSub: {"PendingConfirmation": "false", "ConfirmationWasAuthenticated": "true", "RawMessageDelivery": "false"},
			tripSub:  {"PendingConfirmation": "false", "ConfirmationWasAuthenticated": "true"},
		},
		listErr: map[string]error{}, attrErr: map[string]error{},
	}
	l := &fakeLambda{statements: []map[string]any{tripStatement("KillswitchTripTopicInvoke")}}
	return s, l, integrity.Expect{NotifyTopicARN: notifyTopic, NotifyEmails: []string{owner}, TripTopicARN: tripTopic, FunctionName: fnName}
}

// tripStatement is the statement LambdaSubscription adds.
func tripStatement(sid string) map[string]any {
	return map[string]any{
		"Sid": sid, "Effect": "Allow", "Principal": map[string]any{"Service": "sns.amazonaws.com"},
		"Action": "lambda:InvokeFunction", "Resource": fnARN,
		"Condition": map[string]any{"ArnLike": map[string]any{"AWS:SourceArn": tripTopic}},
	}
}

func addSub(s *fakeSNS, topic, arn, protocol, endpoint string, attrs map[string]string) {
	s.subs[topic] = append(s.subs[topic], types.Subscription{SubscriptionArn: aws.String(arn), Protocol: aws.String(protocol), Endpoint: aws.String(endpoint)})
	if attrs != nil {
		s.attrs[arn] = attrs
	}
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code + " (test)"} }

func TestCheck(t *testing.T) {
	t.Parallel()
	type want struct {
		summary string
		// in are substrings of Detail+Fix.
		in      []string
		warning bool
		code    string
	}
	for name, tc := range map[string]struct {
		mutate func(*fakeSNS, *fakeLambda, *integrity.Expect)
		want   []want
	}{
		"as deployed: nothing": {mutate: func(*fakeSNS, *fakeLambda, *integrity.Expect) {}},
		"addresses match whatever their case": {mutate: func(_ *fakeSNS, _ *fakeLambda, e *integrity.Expect) {
			e.NotifyEmails = []string{"Owner@Example.com"}
		}},
		"a filter policy on the owner's email": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.attrs[ownerSub]["FilterPolicy"] = `{"nothing":["matches"]}`
			},
			want: []want{{summary: "notify subscription " + short(ownerSub) + " has a filter policy",
				in: []string{`{"nothing":["matches"]}`, "reports to owner@example.com are dropped",
					"aws sns set-subscription-attributes --region us-east-1 --subscription-arn " + ownerSub + " --attribute-name FilterPolicy --attribute-value '{}'"}}},
		},
		"a message-body filter policy says its scope": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.attrs[ownerSub]["FilterPolicy"] = `{"a":["b"]}`
				s.attrs[ownerSub]["FilterPolicyScope"] = "MessageBody"
			},
			want: []want{{summary: "notify subscription " + short(ownerSub) + " has a filter policy", in: []string{"scope MessageBody"}}},
		},
		"the owner's email pending confirmation (listed without an ARN)": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.subs[notifyTopic][0].SubscriptionArn = aws.String("PendingConfirmation")
			},
			want: []want{{summary: "notify subscription for owner@example.com is not confirmed",
				in: []string{"--authenticate-on-unsubscribe true", "aws sns confirm-subscription --region us-east-1 --topic-arn " + notifyTopic}}},
		},
		"the owner's email pending confirmation (by its attribute)": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.attrs[ownerSub]["PendingConfirmation"] = "true"
			},
			want: []want{{summary: "notify subscription for owner@example.com is not confirmed"}},
		},
		"confirmed from the link, without authentication: a warning": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.attrs[ownerSub]["ConfirmationWasAuthenticated"] = "false"
			},
			want: []want{{summary: "notify subscription " + short(ownerSub) + " (owner@example.com) was confirmed without authentication", warning: true,
				in: []string{"without an AWS signature", "--authenticate-on-unsubscribe true"}}},
		},
		"an unknown extra notify subscription": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				addSub(s, notifyTopic, notifyTopic+":0009", "https", "https://attacker.example/hook", map[string]string{"PendingConfirmation": "false"})
			},
			want: []want{{summary: "notify subscription arn:…:0009 (https https://attacker.example/hook) is not one the stack made",
				in: []string{"aws sns unsubscribe --region us-east-1 --subscription-arn " + notifyTopic + ":0009"}}},
		},
		"another address by email is a stranger, not the owner": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				addSub(s, notifyTopic, notifyTopic+":0008", "email", "someone@else.example", map[string]string{"ConfirmationWasAuthenticated": "true"})
			},
			want: []want{{summary: "notify subscription arn:…:0008 (email someone@else.example) is not one the stack made"}},
		},
		"a pending stranger is not to be confirmed": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				addSub(s, notifyTopic, "PendingConfirmation", "email", "someone@else.example", nil)
			},
			want: []want{{summary: "notify subscription (pending, email someone@else.example) (email someone@else.example) is not one the stack made",
				in: []string{"do not confirm it"}}},
		},
		"a configured address without a subscription": {
			mutate: func(_ *fakeSNS, _ *fakeLambda, e *integrity.Expect) {
				e.NotifyEmails = append(e.NotifyEmails, "second@example.org")
			},
			want: []want{{summary: "no notify subscription for second@example.org",
				in: []string{"aws sns subscribe --region us-east-1 --topic-arn " + notifyTopic + " --protocol email --notification-endpoint second@example.org"}}},
		},
		"Slack's Chatbot subscription is expected when Slack is on": {mutate: func(s *fakeSNS, _ *fakeLambda, e *integrity.Expect) {
			e.Slack = true
			addSub(s, notifyTopic, notifyTopic+":0007", "https", "https://global.sns-api.chatbot.amazonaws.com", map[string]string{"PendingConfirmation": "false"})
		}},
		"Slack on without its subscription": {
			mutate: func(_ *fakeSNS, _ *fakeLambda, e *integrity.Expect) { e.Slack = true },
			want:   []want{{summary: "no notify subscription for the Slack channel"}},
		},
		"a Chatbot subscription when Slack is off is a stranger": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				addSub(s, notifyTopic, notifyTopic+":0007", "https", "https://global.sns-api.chatbot.amazonaws.com", map[string]string{})
			},
			want: []want{{summary: "notify subscription arn:…:0007 (https https://global.sns-api.chatbot.amazonaws.com) is not one the stack made"}},
		},
		"nobody configured: a warning": {
			mutate: func(s *fakeSNS, _ *fakeLambda, e *integrity.Expect) {
				e.NotifyEmails = nil
				s.subs[notifyTopic] = nil
			},
			want: []want{{summary: "no email or Slack channel is configured for the notify topic", warning: true}},
		},
		"a filter policy on the function's trip subscription": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.attrs[tripSub]["FilterPolicy"] = `{"x":["y"]}`
			},
			want: []want{{summary: "trip subscription " + short(tripSub) + " has a filter policy", in: []string{"trips nothing", "--subscription-arn " + tripSub}}},
		},
		"an extra trip-topic subscriber": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				addSub(s, tripTopic, tripTopic+":0003", "sqs", "arn:aws:sqs:us-east-1:999999999999:spy", map[string]string{})
			},
			want: []want{{summary: "trip subscription arn:…:0003 (sqs arn:aws:sqs:us-east-1:999999999999:spy) is not one the stack made"}},
		},
		"another function on the trip topic, and not the switch": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.subs[tripTopic][0].Endpoint = aws.String("arn:aws:lambda:us-east-1:123456789012:function:decoy")
			},
			want: []want{
				{summary: "the function is not subscribed to the trip topic", in: []string{fnARN}},
				{summary: "trip subscription " + short(tripSub) + " (lambda arn:aws:lambda:us-east-1:123456789012:function:decoy) is not one the stack made"},
			},
		},
		"a function-policy statement for another account": {
			mutate: func(_ *fakeSNS, l *fakeLambda, _ *integrity.Expect) {
				l.statements = append(l.statements, map[string]any{"Sid": "backdoor", "Effect": "Allow",
					"Principal": map[string]any{"AWS": "arn:aws:iam::999999999999:root"}, "Action": "lambda:InvokeFunction", "Resource": fnARN})
			},
			want: []want{{summary: `function policy statement "backdoor" (principal {"AWS":"arn:aws:iam::999999999999:root"}) is not the stack's`,
				in: []string{"aws lambda remove-permission --region us-east-1 --function-name killswitch --statement-id backdoor"}}},
		},
		"an SNS statement without SourceArn": {
			mutate: func(_ *fakeSNS, l *fakeLambda, _ *integrity.Expect) {
				st := tripStatement("anytopic")
				delete(st, "Condition")
				l.statements = append(l.statements, st)
			},
			want: []want{{summary: `function policy statement "anytopic" (principal {"Service":"sns.amazonaws.com"}) is not the stack's`,
				in: []string{"no aws:SourceArn condition", "--statement-id anytopic"}}},
		},
		"an SNS statement for another topic": {
			mutate: func(_ *fakeSNS, l *fakeLambda, _ *integrity.Expect) {
				st := tripStatement("othertopic")
				st["Condition"] = map[string]any{"ArnLike": map[string]any{"AWS:SourceArn": "arn:aws:sns:us-east-1:999999999999:spam"}}
				l.statements = append(l.statements, st)
			},
			want: []want{{summary: `function policy statement "othertopic" (principal {"Service":"sns.amazonaws.com"}) is not the stack's`,
				in: []string{"from arn:aws:sns:us-east-1:999999999999:spam"}}},
		},
		"a statement open to anyone, replacing the stack's": {
			mutate: func(_ *fakeSNS, l *fakeLambda, _ *integrity.Expect) {
				l.statements = []map[string]any{{"Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}}
			},
			want: []want{
				{summary: `function policy statement "open" (principal *) is not the stack's`},
				{summary: "the function killswitch's resource policy does not let the trip topic invoke it"},
			},
		},
		"no resource policy at all": {
			mutate: func(_ *fakeSNS, l *fakeLambda, _ *integrity.Expect) { l.err = apiErr("ResourceNotFoundException") },
			want:   []want{{summary: "the function killswitch has no resource policy"}},
		},
		"listing the notify topic fails: could not check": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.listErr[notifyTopic] = apiErr("AuthorizationError")
			},
			want: []want{{summary: "could not check the notify topic " + notifyTopic + "'s subscriptions", code: "AuthorizationError",
				in: []string{"sns:ListSubscriptionsByTopic", "AuthorizationError"}}},
		},
		"listing the trip topic fails: could not check": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) { s.listErr[tripTopic] = apiErr("Throttling") },
			want:   []want{{summary: "could not check the trip topic " + tripTopic + "'s subscriptions", code: "Throttling"}},
		},
		"the listing failing on a later page reports no address as missing": {
			mutate: func(s *fakeSNS, _ *fakeLambda, e *integrity.Expect) {
				addSub(s, notifyTopic, notifyTopic+":0005", "email", "second@example.org", map[string]string{})
				s.failPage = map[string]int{notifyTopic: 1}
				e.NotifyEmails = append(e.NotifyEmails, "second@example.org")
			},
			want: []want{{summary: "could not check the notify topic " + notifyTopic + "'s subscriptions", code: "Throttling"}},
		},
		"a subscription's attributes cannot be read: could not check it": {
			mutate: func(s *fakeSNS, _ *fakeLambda, _ *integrity.Expect) {
				s.attrErr[ownerSub] = apiErr("AuthorizationError")
			},
			want: []want{{summary: "could not check notify subscription " + short(ownerSub), code: "AuthorizationError", in: []string{ownerSub}}},
		},
		"the function policy cannot be read: could not check": {
			mutate: func(_ *fakeSNS, l *fakeLambda, _ *integrity.Expect) { l.err = apiErr("AccessDeniedException") },
			want:   []want{{summary: "could not check the function killswitch's resource policy", code: "AccessDeniedException"}},
		},
		"a network error is no pass either": {
			mutate: func(_ *fakeSNS, l *fakeLambda, _ *integrity.Expect) {
				l.err = errors.New("dial tcp: connection refused")
			},
			want: []want{{summary: "could not check the function killswitch's resource policy", in: []string{"connection refused"}}},
		},
		"settings without the topics or the name say what was not checked": {
			mutate: func(_ *fakeSNS, _ *fakeLambda, e *integrity.Expect) { *e = integrity.Expect{} },
			want: []want{
				{summary: "could not check the function's resource policy"},
				{summary: "could not check the notify topic's subscriptions", in: []string{"KILLSWITCH_NOTIFY_TOPIC_ARN"}},
				{summary: "could not check the trip topic's subscriptions", in: []string{"KILLSWITCH_TRIP_TOPIC_ARN"}},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, l, e := deployed()
			tc.mutate(s, l, &e)
			got := integrity.New(s, l, e).Check(context.Background())
			var gotSummaries, wantSummaries []string
			for _, p := range got {
				gotSummaries = append(gotSummaries, p.Summary)
			}
			for _, w := range tc.want {
				wantSummaries = append(wantSummaries, w.summary)
			}
			slices.Sort(wantSummaries)
			if !slices.Equal(gotSummaries, wantSummaries) {
				t.Fatalf("problems:\n got %q\nwant %q", gotSummaries, wantSummaries)
			}
			for _, w := range tc.want {
				i := slices.IndexFunc(got, func(p integrity.Problem) bool { return p.Summary == w.summary })
				p := got[i]
				if p.Warning != w.warning || p.Code != w.code {
					t.Errorf("%s: warning %v code %q, want %v %q", p.Summary, p.Warning, p.Code, w.warning, w.code)
				}
				if p.Detail == "" || p.Fix == "" {
					t.Errorf("%s: no detail or no fix: %+v", p.Summary, p)
				}
				for _, sub := range w.in {
					if !strings.Contains(p.Message(), sub) {
						t.Errorf("%s: message lacks %q:\n%s", p.Summary, sub, p.Message())
					}
				}
			}
		})
	}
}

// short is a subscription ARN as a summary names it.
func short(arn string) string { return "arn:…" + arn[strings.LastIndex(arn, ":"):] }
