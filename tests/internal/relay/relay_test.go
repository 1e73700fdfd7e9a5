package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A body exactly as moto 5 POSTs it to an http subscriber (no Subject key
// when the publisher set none; URL spelled in capitals).
const motoBody = `{"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:killswitch-trip",
 "Message": "hello", "Timestamp": "2026-11-02T02:14:07.512Z", "SignatureVersion": "2", "Signature": "c2ln",
 "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
 "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"}`

func TestNotificationIsAnsweredAtOnceAndInvokedAsLambdaEvent(t *testing.T) {
	release := make(chan struct{})
	r, err := Start(func(ctx context.Context, event []byte) ([]byte, error) {
		<-release // a slow function must not hold up the answer to SNS
		return []byte(`{"ok":true}`), nil
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetSubscriptionARN("arn:aws:sns:us-east-1:123456789012:killswitch-trip:sub-1")

	resp, err := http.Post(r.URL, "text/plain; charset=UTF-8", strings.NewReader(motoBody))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("relay answered HTTP %d, want 202", resp.StatusCode)
	}
	if r.Received() != 1 || len(r.Invocations()) != 0 {
		t.Fatalf("received %d, finished %d before the function returned", r.Received(), len(r.Invocations()))
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	invs, err := r.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if invs[0].Err != nil || string(invs[0].Result) != `{"ok":true}` || invs[0].MessageID != "m-1" {
		t.Fatalf("invocation %+v", invs[0])
	}
	want := `{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0",` +
		`"EventSubscriptionArn":"arn:aws:sns:us-east-1:123456789012:killswitch-trip:sub-1",` +
		`"Sns":{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:us-east-1:123456789012:killswitch-trip",` +
		`"Subject":null,"Message":"hello","Timestamp":"2026-11-02T02:14:07.512Z","SignatureVersion":"2","Signature":"c2ln",` +
		`"SigningCertUrl":"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",` +
		`"UnsubscribeUrl":"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe\u0026SubscriptionArn=x","MessageAttributes":{}}}]}`
	if got := string(invs[0].Event); got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
}

func TestSubscriptionConfirmationIsConfirmed(t *testing.T) {
	var hits int
	sns := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Query().Get("Action") == "ConfirmSubscription" {
			hits++
		}
	}))
	defer sns.Close()
	r, err := Start(func(context.Context, []byte) ([]byte, error) { return nil, errors.New("not called") }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	body, _ := json.Marshal(map[string]string{"Type": "SubscriptionConfirmation", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
		"Token": "tok", "SubscribeURL": sns.URL + "/?Action=ConfirmSubscription&Token=tok"})
	req, _ := http.NewRequest(http.MethodPost, r.URL, bytes.NewReader(body))
	req.Header.Set("x-amz-sns-message-type", "SubscriptionConfirmation")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hits != 1 || len(r.Confirmed()) != 1 {
		t.Fatalf("HTTP %d, SubscribeURL hit %d time(s), confirmed %v", resp.StatusCode, hits, r.Confirmed())
	}
}

func TestGarbageFailsWaitEarly(t *testing.T) {
	r, err := Start(func(context.Context, []byte) ([]byte, error) { return nil, nil }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	resp, err := http.Post(r.URL, "text/plain", strings.NewReader("not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.Wait(ctx, 1); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("Wait: %v, want the relay's complaint", err)
	}
}
