package faultproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

func TestMaxThrottlesPerCallLetsTheNextAttemptThrough(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<ok/>")
	}))
	defer target.Close()
	p, err := Start(Config{Target: target.URL, ThrottleFraction: 1, MaxThrottlesPerCall: 3, NoRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	attempt := func(invocation string) int {
		t.Helper()
		body := url.Values{"Action": {"DescribeInstances"}}.Encode()
		req, err := http.NewRequest(http.MethodPost, p.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261129/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=x")
		if invocation != "" {
			req.Header.Set("Amz-Sdk-Invocation-Id", invocation)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	steps := []struct {
		invocation string
		want       int
	}{
		{"call-a", http.StatusServiceUnavailable},
		{"call-a", http.StatusServiceUnavailable},
		{"call-a", http.StatusServiceUnavailable},
		{"call-a", http.StatusOK}, // the fourth attempt of call-a passes
		{"call-a", http.StatusOK},
		{"call-b", http.StatusServiceUnavailable}, // a new call is drawn afresh
		{"", http.StatusServiceUnavailable},       // no ID: no cap applies
		{"", http.StatusServiceUnavailable},
		{"", http.StatusServiceUnavailable},
		{"", http.StatusServiceUnavailable},
	}
	for i, s := range steps {
		if got := attempt(s.invocation); got != s.want {
			t.Errorf("request %d (invocation %q): status %d, want %d", i, s.invocation, got, s.want)
		}
	}
	sum := p.Sum("ec2", "", "")
	if sum.Throttled != 8 || sum.Forwarded != 2 {
		t.Errorf("counts %+v, want 8 throttled and 2 forwarded", sum)
	}
}

// The cap keys on the header the SDK sends: every attempt of one call
// carries the same amz-sdk-invocation-id, so a real client's call gets
// through on the attempt after the cap.
func TestMaxThrottlesPerCallKeysOnTheSDKsInvocationID(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		_, _ = io.WriteString(w, `<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><regionInfo><item><regionName>eu-west-1</regionName><regionEndpoint>ec2.eu-west-1.amazonaws.com</regionEndpoint></item></regionInfo></DescribeRegionsResponse>`)
	}))
	defer target.Close()
	p, err := Start(Config{Target: target.URL, ThrottleFraction: 1, MaxThrottlesPerCall: 3, NoRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	client := ec2.New(ec2.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(p.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 5
			o.MaxBackoff = time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	})
	out, err := client.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatalf("DescribeRegions through a proxy that throttles each call 3 times, with 5 attempts: %v", err)
	}
	if len(out.Regions) != 1 {
		t.Errorf("regions %v, want eu-west-1 alone", out.Regions)
	}
	if sum := p.Sum("ec2", "eu-west-1", "DescribeRegions"); sum.Throttled != 3 || sum.Forwarded != 1 {
		t.Errorf("counts %+v, want 3 throttled attempts and the 4th forwarded", sum)
	}
}
