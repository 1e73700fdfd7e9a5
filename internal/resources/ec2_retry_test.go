package resources_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

const throttledBody = `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>`

const stopResponse = `<?xml version="1.0" encoding="UTF-8"?>
<StopInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
  <instancesSet>
    <item>
      <instanceId>%s</instanceId>
      <currentState><code>64</code><name>stopping</name></currentState>
      <previousState><code>16</code><name>running</name></previousState>
    </item>
  </instancesSet>
</StopInstancesResponse>`

// ec2Server answers the first `throttle` StopInstances requests with 503
// RequestLimitExceeded, then succeeds.
type ec2Server struct {
	mu       sync.Mutex
	throttle int
	requests []url.Values
}

func (s *ec2Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	s.mu.Lock()
	s.requests = append(s.requests, form)
	n := len(s.requests)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if form.Get("Action") != "StopInstances" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<Response><Errors><Error><Code>InvalidAction</Code><Message>unexpected</Message></Error></Errors><RequestID>x</RequestID></Response>`)
		return
	}
	if n <= s.throttle {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, throttledBody)
		return
	}
	fmt.Fprintf(w, stopResponse, form.Get("InstanceId.1"))
}

// The real SDK client, built by awsconfig, retries EC2 throttling itself;
// the kill switch sees only the final success.
func TestStopRetriesThrottlingWithRealClient(t *testing.T) {
	t.Parallel()
	srv := &ec2Server{throttle: 3}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := realClient(ctx, t, ts.URL, awsconfig.Options{MaxBackoff: 50 * time.Millisecond})
	const id = "i-0123456789abcdef0"
	todo := []engine.Decision{{Resource: engine.Resource{ID: id, State: "running"}, Verb: resources.VerbStopInstance}}

	outs := kindWithClient(client, pol{Action: resources.VerbStopInstance}).Contain(ctx, "us-east-1", todo)

	if len(outs) != 1 || outs[0].Status != engine.StatusDone || outs[0].ID != id {
		t.Fatalf("outcomes = %+v, want %s stopped", outs, id)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.requests) != 4 {
		t.Errorf("server saw %d requests, want 4 (3 throttled + 1 success)", len(srv.requests))
	}
	for i, form := range srv.requests {
		if form.Get("InstanceId.1") != id {
			t.Errorf("request %d: InstanceId.1 = %q", i, form.Get("InstanceId.1"))
		}
	}
}

// When throttling outlasts every attempt, the SDK's error reaches the kill
// switch with its code, and the batch is not split into more calls.
func TestStopThrottledPastEveryAttemptWithRealClient(t *testing.T) {
	t.Parallel()
	srv := &ec2Server{throttle: 1 << 30}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := realClient(ctx, t, ts.URL, awsconfig.Options{MaxAttempts: 3, MaxBackoff: 20 * time.Millisecond})
	ids := instanceIDs(9, 8)

	outs := kindWithClient(client, pol{Action: resources.VerbStopInstance, OverrideProtection: true}).Contain(ctx, "us-east-1", decisions(resources.VerbStopInstance, "running", ids))

	if len(outs) != len(ids) {
		t.Fatalf("%d outcomes, want %d", len(outs), len(ids))
	}
	for _, o := range outs {
		if o.Status != engine.StatusFailed || o.Code != "RequestLimitExceeded" {
			t.Errorf("%s: %+v", o.ID, o)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.requests) != 3 {
		t.Errorf("server saw %d requests, want 3 (one call, 3 attempts, no split)", len(srv.requests))
	}
}

// realClient is an EC2 client built by awsconfig, as the Lambda builds it,
// pointed at a local server and blind to the developer's own AWS files.
func realClient(ctx context.Context, t *testing.T, endpoint string, o awsconfig.Options) *ec2.Client {
	t.Helper()
	cfg, err := awsconfig.Load(ctx, o,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		config.WithBaseEndpoint(endpoint),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatalf("awsconfig.Load: %v", err)
	}
	return ec2.NewFromConfig(cfg)
}
