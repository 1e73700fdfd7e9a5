// Package relay bridges an SNS topic to a Lambda function on loopback.
//
// In AWS the trip topic delivers to the killswitch Lambda through a lambda
// protocol subscription: SNS invokes the function asynchronously with an
// event of the form {"Records":[{"EventSource":"aws:sns",...,"Sns":{...}}]}.
// moto cannot do that (its Lambda needs Docker; a lambda subscription makes
// Publish fail), so the topic gets an http subscription to this relay
// instead. The relay answers SNS at once (202) and invokes the function in
// the background with the exact event SNS would have built, as Lambda's
// async invoke does.
//
// What moto 5 does on the wire, and what the relay copes with:
//   - moto POSTs the notification synchronously inside the Publish call,
//     with no timeout and no retries, so a slow answer would stall Publish
//     (and the publisher's SDK would time out and publish again). Hence the
//     immediate 202.
//   - moto never sends a SubscriptionConfirmation (http subscriptions are
//     confirmed at once). Real SNS does; the relay confirms by GETting the
//     SubscribeURL, so it also works against an SNS that asks.
//   - moto spells the keys SigningCertURL and UnsubscribeURL (as the HTTP
//     format does); the Lambda event spells them SigningCertUrl and
//     UnsubscribeUrl. moto sends no x-amz-sns-subscription-arn header, so
//     the event's EventSubscriptionArn comes from SetSubscriptionARN.
//   - Lambda's own async retries (twice, minutes apart) are not emulated:
//     each notification is invoked once and its outcome recorded.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Invoker runs the function on one event and returns its result; a
// lambdarun.Function's Invoke method is one.
type Invoker func(ctx context.Context, event []byte) ([]byte, error)

// Invocation is one notification the relay handed to the function.
type Invocation struct {
	MessageID, TopicARN, Subject string
	Event                        []byte // the Lambda event sent
	Result                       []byte // the function's result, if it succeeded
	Err                          error  // the invoke's error, if any
	Started, Finished            time.Time
}

// Options tune the relay.
type Options struct {
	// InvokeTimeout bounds one invoke (default 5 minutes, the stack's
	// Lambda timeout).
	InvokeTimeout time.Duration
	// Logf, if set, is told about each notification and invoke.
	Logf func(format string, args ...any)
}

// Relay is a running loopback HTTP endpoint for an SNS http subscription.
type Relay struct {
	// URL is the endpoint to subscribe (protocol http).
	URL string

	opts   Options
	invoke Invoker
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	subARN    string
	received  int
	confirmed []string // topic ARNs whose subscription was confirmed
	done      []Invocation
	problems  []string // requests the relay could not use
}

// Start listens on a free loopback port and serves until Close.
func Start(invoke Invoker, o Options) (*Relay, error) {
	if o.InvokeTimeout <= 0 {
		o.InvokeTimeout = 5 * time.Minute
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the SNS relay: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		URL:     "http://" + l.Addr().String() + "/sns",
		opts:    o,
		invoke:  invoke,
		ctx:     ctx,
		cancel:  cancel,
		changed: make(chan struct{}),
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

// SetSubscriptionARN names the subscription in the events' EventSubscriptionArn
// (SNS's x-amz-sns-subscription-arn header wins when present).
func (r *Relay) SetSubscriptionARN(arn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subARN = arn
}

// Received is how many notifications arrived, invoked or not yet.
func (r *Relay) Received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received
}

// Invocations returns the finished invocations, oldest first.
func (r *Relay) Invocations() []Invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Invocation(nil), r.done...)
}

// Wait blocks until at least n invocations have finished, and returns them
// all. It fails early if the relay got a request it could not use.
func (r *Relay) Wait(ctx context.Context, n int) ([]Invocation, error) {
	for {
		r.mu.Lock()
		done, problems, received, ch := r.done, r.problems, r.received, r.changed
		r.mu.Unlock()
		if len(done) >= n {
			return append([]Invocation(nil), done...), nil
		}
		if len(problems) > 0 {
			return nil, fmt.Errorf("SNS relay: %s", problems[len(problems)-1])
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("SNS relay: waited for %d invocation(s); %d notification(s) received, %d invocation(s) finished: %w",
				n, received, len(done), ctx.Err())
		}
	}
}

// Close stops accepting notifications, cancels invocations in flight and
// waits for them to return.
func (r *Relay) Close() {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	r.cancel()
	r.wg.Wait()
}

func (r *Relay) logf(format string, args ...any) {
	if r.opts.Logf != nil {
		r.opts.Logf(format, args...)
	}
}

// notify wakes Wait; the caller holds r.mu.
func (r *Relay) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Relay) problem(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.logf("relay: %s", msg)
	r.mu.Lock()
	r.problems = append(r.problems, msg)
	r.notifyLocked()
	r.mu.Unlock()
	http.Error(w, msg, status)
}

// httpMessage is an SNS HTTP/S delivery body (Notification or
// SubscriptionConfirmation).
type httpMessage struct {
	Type              string
	MessageID         string `json:"MessageId"`
	Token             string
	TopicArn          string
	Subject           *string
	Message           string
	SubscribeURL      string
	Timestamp         string
	SignatureVersion  string
	Signature         string
	SigningCertURL    string
	UnsubscribeURL    string
	MessageAttributes map[string]json.RawMessage
}

func (r *Relay) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "SNS delivers with POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		r.problem(w, http.StatusBadRequest, "reading an SNS delivery: %v", err)
		return
	}
	var m httpMessage
	if err := json.Unmarshal(body, &m); err != nil {
		r.problem(w, http.StatusBadRequest, "an SNS delivery is not JSON: %v: %.200s", err, body)
		return
	}
	if t := req.Header.Get("x-amz-sns-message-type"); t != "" && t != m.Type {
		r.problem(w, http.StatusBadRequest, "x-amz-sns-message-type %q but body Type %q", t, m.Type)
		return
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		r.confirm(w, m)
	case "Notification":
		r.mu.Lock()
		subARN := r.subARN
		r.received++
		r.notifyLocked()
		r.mu.Unlock()
		if h := req.Header.Get("x-amz-sns-subscription-arn"); h != "" {
			subARN = h
		}
		event, err := lambdaEvent(m, subARN)
		if err != nil {
			r.problem(w, http.StatusInternalServerError, "building the Lambda event: %v", err)
			return
		}
		r.logf("relay: notification %s on %s, invoking the function", m.MessageID, m.TopicArn)
		r.wg.Add(1)
		go r.run(m, event)
		// Answer SNS now; the function runs asynchronously, as with
		// Lambda's async invoke.
		w.WriteHeader(http.StatusAccepted)
	case "UnsubscribeConfirmation":
		w.WriteHeader(http.StatusOK)
	default:
		r.problem(w, http.StatusBadRequest, "unknown SNS message Type %q", m.Type)
	}
}

func (r *Relay) confirm(w http.ResponseWriter, m httpMessage) {
	if m.SubscribeURL == "" {
		r.problem(w, http.StatusBadRequest, "SubscriptionConfirmation for %s without SubscribeURL", m.TopicArn)
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.SubscribeURL, nil)
	if err == nil {
		var resp *http.Response
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
		}
	}
	if err != nil {
		r.problem(w, http.StatusBadGateway, "confirming the subscription to %s: %v", m.TopicArn, err)
		return
	}
	r.logf("relay: confirmed the subscription to %s", m.TopicArn)
	r.mu.Lock()
	r.confirmed = append(r.confirmed, m.TopicArn)
	r.notifyLocked()
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Confirmed lists the topics whose subscription the relay confirmed.
func (r *Relay) Confirmed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.confirmed...)
}

func (r *Relay) run(m httpMessage, event []byte) {
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.InvokeTimeout)
	defer cancel()
	inv := Invocation{MessageID: m.MessageID, TopicARN: m.TopicArn, Event: event, Started: time.Now()}
	if m.Subject != nil {
		inv.Subject = *m.Subject
	}
	inv.Result, inv.Err = r.invoke(ctx, event)
	inv.Finished = time.Now()
	if inv.Err != nil {
		r.logf("relay: invoke for %s failed after %v: %v", m.MessageID, inv.Finished.Sub(inv.Started).Round(time.Millisecond), inv.Err)
	} else {
		r.logf("relay: invoke for %s returned after %v", m.MessageID, inv.Finished.Sub(inv.Started).Round(time.Millisecond))
	}
	r.mu.Lock()
	r.done = append(r.done, inv)
	r.notifyLocked()
	r.mu.Unlock()
}

// Event is the Lambda event SNS sends a subscribed function.
type Event struct {
	Records []Record `json:"Records"`
}

// Record is one SNS record of a Lambda event.
type Record struct {
	EventSource          string `json:"EventSource"`
	EventVersion         string `json:"EventVersion"`
	EventSubscriptionArn string `json:"EventSubscriptionArn"`
	Sns                  SNS    `json:"Sns"`
}

// SNS is a record's Sns object; Subject is null when the publisher set none.
type SNS struct {
	Type              string                     `json:"Type"`
	MessageID         string                     `json:"MessageId"`
	TopicArn          string                     `json:"TopicArn"`
	Subject           *string                    `json:"Subject"`
	Message           string                     `json:"Message"`
	Timestamp         string                     `json:"Timestamp"`
	SignatureVersion  string                     `json:"SignatureVersion"`
	Signature         string                     `json:"Signature"`
	SigningCertURL    string                     `json:"SigningCertUrl"`
	UnsubscribeURL    string                     `json:"UnsubscribeUrl"`
	MessageAttributes map[string]json.RawMessage `json:"MessageAttributes"`
}

func lambdaEvent(m httpMessage, subscriptionARN string) ([]byte, error) {
	if m.TopicArn == "" || m.MessageID == "" {
		return nil, errors.New("notification without TopicArn or MessageId")
	}
	if subscriptionARN == "" {
		// What SNS would use if nobody told us: the topic ARN and a
		// subscription ID.
		subscriptionARN = m.TopicArn + ":relay"
	}
	attrs := m.MessageAttributes
	if attrs == nil {
		attrs = map[string]json.RawMessage{}
	}
	return json.Marshal(Event{Records: []Record{{
		EventSource:          "aws:sns",
		EventVersion:         "1.0",
		EventSubscriptionArn: subscriptionARN,
		Sns: SNS{
			Type:              m.Type,
			MessageID:         m.MessageID,
			TopicArn:          m.TopicArn,
			Subject:           m.Subject,
			Message:           m.Message,
			Timestamp:         m.Timestamp,
			SignatureVersion:  m.SignatureVersion,
			Signature:         m.Signature,
			SigningCertURL:    m.SigningCertURL,
			UnsubscribeURL:    m.UnsubscribeURL,
			MessageAttributes: attrs,
		},
	}}})
}
