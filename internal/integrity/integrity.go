// Package integrity checks that nobody has blinded the owner or opened the
// switch's own function to others: the notify topic's subscriptions (the
// owner's email, the Slack channel), the trip topic's one subscriber (the
// function) and the function's resource policy, against what the stack
// deployed. Every sweep (the "Kill switch integrity" kind in package
// resources) and the daily self-test run the same Checker.
//
// It only reads. Fixing drift would need sns:SetSubscriptionAttributes,
// sns:Unsubscribe and lambda:RemovePermission on the switch's role, rights
// stolen credentials could borrow through it; the owner fixes it instead,
// with the command each Problem gives.
package integrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/awserr"
)

// SNSAPI reads a topic's subscriptions.
type SNSAPI interface {
	sns.ListSubscriptionsByTopicAPIClient
	GetSubscriptionAttributes(ctx context.Context, in *sns.GetSubscriptionAttributesInput, optFns ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error)
}

// LambdaAPI reads the function's resource policy.
type LambdaAPI interface {
	GetPolicy(ctx context.Context, in *lambda.GetPolicyInput, optFns ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error)
}

// Expect is what the stack deployed, as the function's settings wire it.
type Expect struct {
	NotifyTopicARN string
	// NotifyEmails are cdk.json's notificationEmails.
	NotifyEmails []string
	// Slack says a Chatbot channel is subscribed to the notify topic.
	Slack        bool
	TripTopicARN string
	// FunctionName is the switch's own function (same region and account
	// as the trip topic).
	FunctionName string
}

// Problem is one thing found wrong, or that could not be checked.
type Problem struct {
	// Summary names what is wrong and where, in a line: "notify
	// subscription arn:…:abcd has a filter policy". It is unique.
	Summary string
	// Detail says what it does to the owner.
	Detail string
	// Fix is what the owner runs, with the exact command.
	Fix string
	// Code is the AWS error code when a read failed.
	Code string
	// Warning marks what deserves the owner's attention but is no failure.
	Warning bool
}

// Message is the problem in full, for a report line.
func (p Problem) Message() string {
	return p.Summary + ": " + p.Detail + ". Fix: " + p.Fix
}

// Checker runs the checks.
type Checker struct {
	sns    SNSAPI
	lambda LambdaAPI
	want   Expect
}

// New builds a Checker; either client may be nil only if its check is not
// wanted, and then it is reported as not checked.
func New(s SNSAPI, l LambdaAPI, want Expect) *Checker {
	return &Checker{sns: s, lambda: l, want: want}
}

// What the stack creates, as AWS names it.
const (
	protocolEmail  = "email"
	protocolLambda = "lambda"
	protocolHTTPS  = "https"
	// chatbotHost is the endpoint AWS Chatbot subscribes to a topic
	// configured on a Slack channel. AWS documents no endpoint; this host
	// is what the service subscribes (an https subscription owned by AWS).
	chatbotHost = "global.sns-api.chatbot.amazonaws.com"
	// pendingARN is what ListSubscriptionsByTopic gives as the ARN of a
	// subscription not yet confirmed.
	pendingARN = "PendingConfirmation"
	snsService = "sns.amazonaws.com"
	invoke     = "lambda:InvokeFunction"
	// redeploy is the fix for what only the stack can put back.
	redeploy = "redeploy the stack (npx cdk deploy) as root or a break-glass principal"
)

// Check runs every check and returns the problems, sorted; none means all
// is as deployed. A read that fails is a problem ("could not check"),
// never a pass.
func (c *Checker) Check(ctx context.Context) []Problem {
	var out []Problem
	out = append(out, c.notify(ctx)...)
	out = append(out, c.trip(ctx)...)
	out = append(out, c.policy(ctx)...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Summary < out[j].Summary })
	return out
}

// subscription is one listed subscription with its attributes.
type subscription struct {
	arn, protocol, endpoint string
	pending                 bool
	// unread marks a subscription whose attributes could not be read: it
	// is reported as not checked, and counts as present.
	unread bool
	attrs  map[string]string
}

// label names the subscription in a summary: "arn:…:" and its ID, which
// SNS assigns (the fix carries the full ARN). The email cuts each failure
// line, so the summary stays short.
func (s subscription) label() string {
	if s.arn == "" || s.arn == pendingARN {
		return "(pending, " + s.protocol + " " + s.endpoint + ")"
	}
	if i := strings.LastIndex(s.arn, ":"); i > 0 && strings.Count(s.arn, ":") >= 6 {
		return "arn:…" + s.arn[i:]
	}
	return s.arn
}

// list reads every subscription of topic and, for the confirmed ones,
// their attributes. A subscription whose attributes cannot be read is a
// problem of its own; the listing failing ends the check of the topic.
func (c *Checker) list(ctx context.Context, what, topic string) ([]subscription, []Problem, bool) {
	if c.sns == nil {
		return nil, []Problem{notChecked(what+" topic "+topic, "no SNS client", nil)}, false
	}
	var subs []subscription
	var probs []Problem
	pages := sns.NewListSubscriptionsByTopicPaginator(c.sns, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			// A partial listing would report the rest as missing: what
			// was found unreadable so far is kept, the rest not checked.
			return nil, append(probs, notChecked("the "+what+" topic "+topic+"'s subscriptions", "listing them (sns:ListSubscriptionsByTopic)", err)), false
		}
		for _, s := range page.Subscriptions {
			sub := subscription{arn: aws.ToString(s.SubscriptionArn), protocol: aws.ToString(s.Protocol), endpoint: aws.ToString(s.Endpoint)}
			if sub.arn == pendingARN || sub.arn == "" {
				sub.pending = true
				subs = append(subs, sub)
				continue
			}
			out, err := c.sns.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub.arn)})
			if err != nil {
				probs = append(probs, notChecked(what+" subscription "+sub.label(), "reading the attributes of "+sub.arn+" (sns:GetSubscriptionAttributes)", err))
				sub.unread = true
				subs = append(subs, sub)
				continue
			}
			sub.attrs = out.Attributes
			sub.pending = sub.attrs["PendingConfirmation"] == "true"
			subs = append(subs, sub)
		}
	}
	return subs, probs, true
}

func (c *Checker) notify(ctx context.Context) []Problem {
	topic := c.want.NotifyTopicARN
	if topic == "" {
		return []Problem{{Summary: "could not check the notify topic's subscriptions",
			Detail: "no notify topic is set (KILLSWITCH_NOTIFY_TOPIC_ARN), so no report reaches anyone", Fix: redeploy}}
	}
	subs, probs, ok := c.list(ctx, "notify", topic)
	if !ok {
		return probs
	}
	region := arnPart(topic, 3)
	wanted := map[string]string{} // lower-case address -> as configured
	for _, e := range c.want.NotifyEmails {
		wanted[strings.ToLower(e)] = e
	}
	seen, chatbots := map[string]bool{}, 0
	for _, s := range subs {
		addr := strings.ToLower(s.endpoint)
		switch {
		case s.protocol == protocolEmail && wanted[addr] != "":
			seen[addr] = true
			if s.unread {
				continue
			}
			probs = append(probs, c.ownerEmail(topic, region, wanted[addr], s)...)
		case c.want.Slack && s.protocol == protocolHTTPS && isChatbot(s.endpoint):
			chatbots++
			if chatbots > 1 {
				probs = append(probs, stranger("notify", topic, region, s))
				continue
			}
			if s.unread {
				continue
			}
			probs = append(probs, filtered("notify", region, s, "the Slack channel gets no report")...)
			if s.attrs["RawMessageDelivery"] == "true" {
				probs = append(probs, Problem{Summary: "notify subscription " + s.label() + " (Slack) has raw message delivery on",
					Detail: "AWS Chatbot reads the SNS envelope, so the Slack channel gets no report",
					Fix:    fmt.Sprintf("aws sns set-subscription-attributes --region %s --subscription-arn %s --attribute-name RawMessageDelivery --attribute-value false", region, s.arn)})
			}
		default:
			probs = append(probs, stranger("notify", topic, region, s))
		}
	}
	for _, e := range c.want.NotifyEmails {
		if !seen[strings.ToLower(e)] {
			probs = append(probs, Problem{Summary: "no notify subscription for " + e,
				Detail: e + " is in notificationEmails but not subscribed: no report reaches it (someone unsubscribed it, or it was never confirmed and lapsed)",
				Fix: fmt.Sprintf("aws sns subscribe --region %s --topic-arn %s --protocol email --notification-endpoint %s, then confirm it with authentication (README, \"Confirm the email\")",
					region, topic, e)})
		}
	}
	if c.want.Slack && chatbots == 0 {
		probs = append(probs, Problem{Summary: "no notify subscription for the Slack channel",
			Detail: "Slack is configured, but AWS Chatbot is not subscribed to the notify topic: no report reaches the channel",
			Fix:    redeploy + ", or re-add the topic to the Slack channel in the AWS Chatbot console"})
	}
	if len(c.want.NotifyEmails) == 0 && !c.want.Slack {
		probs = append(probs, Problem{Summary: "no email or Slack channel is configured for the notify topic", Warning: true,
			Detail: "reports reach nobody but the function's logs",
			Fix:    "set notificationEmails in cdk.json and redeploy"})
	}
	return probs
}

// ownerEmail checks one configured address's subscription.
func (c *Checker) ownerEmail(topic, region, addr string, s subscription) []Problem {
	if s.pending {
		return []Problem{{Summary: "notify subscription for " + addr + " is not confirmed",
			Detail: "no report reaches " + addr + " until it is confirmed (an unconfirmed subscription lapses after 3 days)",
			Fix: fmt.Sprintf("confirm it from the email AWS sent to %s, with authentication: copy the Token from the link and run "+
				"aws sns confirm-subscription --region %s --topic-arn %s --token TOKEN --authenticate-on-unsubscribe true "+
				"(no email? aws sns subscribe --region %s --topic-arn %s --protocol email --notification-endpoint %s sends another)",
				addr, region, topic, region, topic, addr)}}
	}
	probs := filtered("notify", region, s, "reports to "+addr+" are dropped")
	// Confirmed from the email's link, a subscription can be cancelled by
	// anyone holding the unsubscribe link, with no AWS signature; confirmed
	// with AuthenticateOnUnsubscribe, only the topic or subscription owner
	// can cancel it, signed. ConfirmSubscription "requires an AWS signature
	// only when the AuthenticateOnUnsubscribe flag is set":
	// https://docs.aws.amazon.com/cli/latest/reference/sns/confirm-subscription.html;
	// ConfirmationWasAuthenticated says which:
	// https://docs.aws.amazon.com/goto/WebAPI/sns/GetSubscriptionAttributes
	if s.attrs["ConfirmationWasAuthenticated"] != "true" {
		probs = append(probs, Problem{Summary: "notify subscription " + s.label() + " (" + addr + ") was confirmed without authentication", Warning: true,
			Detail: "anyone with the unsubscribe link in any report can cancel it without an AWS signature, and reports then stop reaching " + addr,
			Fix: fmt.Sprintf("resubscribe it and confirm with authentication: aws sns unsubscribe --region %s --subscription-arn %s; "+
				"aws sns subscribe --region %s --topic-arn %s --protocol email --notification-endpoint %s; copy the Token from the new confirmation link and run "+
				"aws sns confirm-subscription --region %s --topic-arn %s --token TOKEN --authenticate-on-unsubscribe true",
				region, s.arn, region, topic, addr, region, topic)})
	}
	return probs
}

// filtered reports a filter policy on s: SNS then drops every message
// that does not match it, silently.
func filtered(what, region string, s subscription, effect string) []Problem {
	policy := strings.TrimSpace(s.attrs["FilterPolicy"])
	if policy == "" || policy == "{}" {
		return nil
	}
	scope := s.attrs["FilterPolicyScope"]
	if scope == "" {
		scope = "MessageAttributes"
	}
	// Without a filter policy a subscriber receives every message
	// (https://docs.aws.amazon.com/sns/latest/dg/message-filtering.html);
	// the fix overwrites the policy with an empty JSON object, which SNS
	// reads as none (the developer guide's way to delete a policy; moto
	// stores it as "{}", which this check also reads as none).
	return []Problem{{Summary: what + " subscription " + s.label() + " has a filter policy",
		Detail: fmt.Sprintf("SNS delivers only messages that match %s (scope %s): %s", clip(policy, 80), scope, effect),
		Fix:    fmt.Sprintf("aws sns set-subscription-attributes --region %s --subscription-arn %s --attribute-name FilterPolicy --attribute-value '{}'", region, s.arn)}}
}

// stranger reports a subscription the stack did not make.
func stranger(what, topic, region string, s subscription) Problem {
	endpoint := clip(s.endpoint, 120)
	p := Problem{Summary: fmt.Sprintf("%s subscription %s (%s %s) is not one the stack made", what, s.label(), s.protocol, endpoint),
		Detail: "every message to the " + what + " topic also goes to " + endpoint + ", which is not in the deployed config"}
	if s.pending {
		p.Fix = "do not confirm it: SNS deletes an unconfirmed subscription after 3 days; if it comes back, find who subscribed it (CloudTrail, sns:Subscribe on " + topic + ")"
	} else {
		p.Fix = fmt.Sprintf("aws sns unsubscribe --region %s --subscription-arn %s", region, s.arn)
	}
	return p
}

func isChatbot(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && u.Scheme == protocolHTTPS && u.Host == chatbotHost
}

// functionARN is the switch's function, in the trip topic's partition,
// region and account (the stack makes both).
func (c *Checker) functionARN() string {
	t := c.want.TripTopicARN
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", arnPart(t, 1), arnPart(t, 3), arnPart(t, 4), c.want.FunctionName)
}

func (c *Checker) trip(ctx context.Context) []Problem {
	topic := c.want.TripTopicARN
	if topic == "" {
		return []Problem{{Summary: "could not check the trip topic's subscriptions",
			Detail: "no trip topic is set (KILLSWITCH_TRIP_TOPIC_ARN)", Fix: redeploy}}
	}
	if c.want.FunctionName == "" {
		return []Problem{{Summary: "could not check the trip topic's subscriptions",
			Detail: "the function's own name is not known (AWS_LAMBDA_FUNCTION_NAME)", Fix: redeploy}}
	}
	subs, probs, ok := c.list(ctx, "trip", topic)
	if !ok {
		return probs
	}
	region, fn := arnPart(topic, 3), c.functionARN()
	mine := 0
	for _, s := range subs {
		if s.protocol != protocolLambda || s.endpoint != fn || mine > 0 || s.pending {
			probs = append(probs, stranger("trip", topic, region, s))
			continue
		}
		mine++
		if s.unread {
			continue
		}
		probs = append(probs, filtered("trip", region, s, "a budget alert or alarm that does not match trips nothing")...)
	}
	if mine == 0 {
		probs = append(probs, Problem{Summary: "the function is not subscribed to the trip topic",
			Detail: "no budget alert or alarm reaches " + fn + ": nothing trips", Fix: redeploy})
	}
	return probs
}

// statement is one statement of a resource policy, as Lambda returns it.
type statement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Principal json.RawMessage           `json:"Principal"`
	Action    json.RawMessage           `json:"Action"`
	Condition map[string]map[string]any `json:"Condition"`
}

func (c *Checker) policy(ctx context.Context) []Problem {
	if c.want.FunctionName == "" || c.want.TripTopicARN == "" {
		return []Problem{{Summary: "could not check the function's resource policy",
			Detail: "the function's name or the trip topic is not known (AWS_LAMBDA_FUNCTION_NAME, KILLSWITCH_TRIP_TOPIC_ARN)", Fix: redeploy}}
	}
	fn := c.want.FunctionName
	if c.lambda == nil {
		return []Problem{notChecked("the function "+fn+"'s resource policy", "no Lambda client", nil)}
	}
	region := arnPart(c.want.TripTopicARN, 3)
	out, err := c.lambda.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(fn)})
	if awserr.Code(err) == "ResourceNotFoundException" {
		return []Problem{{Summary: "the function " + fn + " has no resource policy",
			Detail: "SNS may not invoke it, so the trip topic trips nothing", Fix: redeploy}}
	}
	if err != nil {
		return []Problem{notChecked("the function "+fn+"'s resource policy", "reading it (lambda:GetPolicy)", err)}
	}
	var doc struct {
		Statement []statement `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil {
		return []Problem{notChecked("the function "+fn+"'s resource policy", "reading its JSON", err)}
	}
	var probs []Problem
	mine := 0
	for _, st := range doc.Statement {
		drift := c.statementDrift(st)
		if drift == "" {
			mine++
			continue
		}
		probs = append(probs, Problem{Summary: fmt.Sprintf("function policy statement %q (principal %s) is not the stack's", st.Sid, principal(st.Principal)),
			Detail: drift,
			Fix:    fmt.Sprintf("aws lambda remove-permission --region %s --function-name %s --statement-id %s", region, fn, st.Sid)})
	}
	if mine == 0 {
		probs = append(probs, Problem{Summary: "the function " + fn + "'s resource policy does not let the trip topic invoke it",
			Detail: "SNS may not invoke the function from " + c.want.TripTopicARN + ", so nothing trips", Fix: redeploy})
	}
	return probs
}

// statementDrift says how st differs from the one statement the stack
// makes (LambdaSubscription: allow sns.amazonaws.com to invoke, ArnLike
// AWS:SourceArn the trip topic), or "" when it is that statement.
func (c *Checker) statementDrift(st statement) string {
	if st.Effect != "Allow" {
		return "a " + st.Effect + " statement the stack never makes; it can stop SNS from invoking the function"
	}
	var p map[string]json.RawMessage
	service := ""
	if json.Unmarshal(st.Principal, &p) == nil && len(p) == 1 {
		_ = json.Unmarshal(p["Service"], &service)
	}
	if service != snsService {
		return "it lets " + principal(st.Principal) + " invoke or manage the function, which the stack never allows"
	}
	if acts := strings.Join(list(st.Action), ","); acts != invoke {
		return "it lets SNS do " + acts + ", not only " + invoke
	}
	source, ok := sourceARN(st.Condition)
	switch {
	case !ok:
		return "it has no aws:SourceArn condition, so any SNS topic, in any account, may invoke the function"
	case source != c.want.TripTopicARN:
		return "it lets SNS invoke the function from " + source + ", not the trip topic"
	}
	return ""
}

// sourceARN is the statement's one aws:SourceArn value (ArnLike or
// ArnEquals; condition keys are case-insensitive).
func sourceARN(cond map[string]map[string]any) (string, bool) {
	for op, kv := range cond {
		if op != "ArnLike" && op != "ArnEquals" {
			continue
		}
		for k, v := range kv {
			if !strings.EqualFold(k, "aws:SourceArn") {
				continue
			}
			switch v := v.(type) {
			case string:
				return v, true
			case []any:
				if len(v) == 1 {
					s, ok := v[0].(string)
					return s, ok
				}
			}
		}
	}
	return "", false
}

// list reads a JSON string or list of strings.
func list(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	sort.Strings(many)
	return many
}

// principal says a statement's principal compactly: `*`, or
// {"AWS":"arn:…"}.
func principal(raw json.RawMessage) string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one
	}
	if len(raw) == 0 {
		return "(none)"
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// notChecked is a read that failed: a problem, never a pass.
func notChecked(what, step string, err error) Problem {
	detail := step + " failed"
	if err != nil {
		detail += ": " + err.Error()
	} else {
		detail = step
	}
	p := Problem{Summary: "could not check " + what, Detail: detail,
		Fix: "give the function's role back its read rights (" + redeploy + "); if you did not remove them, someone else did"}
	if err != nil {
		p.Code = awserr.Code(err)
		if p.Code == "" && errors.Is(err, context.DeadlineExceeded) {
			p.Code = "DeadlineExceeded"
		}
	}
	return p
}

// clip keeps what the attacker wrote (a filter policy) from filling the
// owner's report line.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// arnPart is the i-th colon-separated field of an ARN ("" if absent).
func arnPart(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if i < len(parts) {
		return parts[i]
	}
	return ""
}
