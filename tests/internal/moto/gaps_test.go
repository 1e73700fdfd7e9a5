package moto

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/awserr"
)

// TestGapProxyOverMoto drives a real SDK IAM client through Start's proxy
// to a real moto_server: the gap actions get IAM's answers for an account
// without service-specific credentials, and every other call reaches moto.
func TestGapProxyOverMoto(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	cfg, err := Config(ctx, srv.URL, awsconfig.Options{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	client := iam.NewFromConfig(cfg)

	// Reaches moto: the user exists afterwards, and the listing shows it.
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatalf("CreateUser through the proxy: %v", err)
	}
	users, err := client.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatalf("ListUsers through the proxy: %v", err)
	}
	if len(users.Users) != 1 || aws.ToString(users.Users[0].UserName) != "alice" {
		t.Fatalf("ListUsers = %+v, want moto's one user alice", users.Users)
	}

	for _, tc := range []struct {
		name string
		in   *iam.ListServiceSpecificCredentialsInput
	}{
		{"all users", &iam.ListServiceSpecificCredentialsInput{AllUsers: aws.Bool(true)}},
		{"one user", &iam.ListServiceSpecificCredentialsInput{UserName: aws.String("alice")}},
	} {
		out, err := client.ListServiceSpecificCredentials(ctx, tc.in)
		if err != nil {
			t.Fatalf("ListServiceSpecificCredentials, %s: %v", tc.name, err)
		}
		if len(out.ServiceSpecificCredentials) != 0 || out.IsTruncated || out.Marker != nil {
			t.Errorf("ListServiceSpecificCredentials, %s = %+v, want an empty, complete list", tc.name, out)
		}
	}

	_, err = client.UpdateServiceSpecificCredential(ctx, &iam.UpdateServiceSpecificCredentialInput{
		UserName: aws.String("alice"), ServiceSpecificCredentialId: aws.String("ACCAEXAMPLE123EXAMPLE"), Status: iamtypes.StatusTypeInactive,
	})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) || awserr.Code(err) != "NoSuchEntity" || !strings.Contains(nse.ErrorMessage(), "ACCAEXAMPLE123EXAMPLE") {
		t.Errorf("UpdateServiceSpecificCredential error = %v, want IAM's NoSuchEntity naming the credential", err)
	}

	// A call of another service also passes through, and so does moto's
	// own API: after a reset the user is gone.
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("STS GetCallerIdentity through the proxy: %v", err)
	}
	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
	users, err = client.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatalf("ListUsers after reset: %v", err)
	}
	if len(users.Users) != 0 {
		t.Errorf("ListUsers after reset = %+v, want none: the reset did not reach moto", users.Users)
	}
}

// TestGapProxyAnswersOnlyTheGaps checks, against a fake upstream, that the
// proxy keeps the gap actions from moto and forwards everything else with
// its body intact, even an action of the same name signed for another
// service.
func TestGapProxyAnswersOnlyTheGaps(t *testing.T) {
	t.Parallel()
	const iamAuth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x"
	const sqsAuth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"
	var mu sync.Mutex
	var got []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(body))
		mu.Unlock()
		_, _ = io.WriteString(w, "upstream")
	}))
	t.Cleanup(upstream.Close)
	target, _ := url.Parse(upstream.URL)
	proxy := httptest.NewServer(newGapProxy(target))
	t.Cleanup(proxy.Close)

	form := "application/x-www-form-urlencoded; charset=utf-8"
	for _, tc := range []struct {
		name, method, path, auth, ctype, body string
		status                                int
		answer, forwarded                     string // a substring of the answer; "" when not forwarded
	}{
		{"list, all users", "POST", "/", iamAuth, form, "Action=ListServiceSpecificCredentials&AllUsers=true&Version=2010-05-08",
			200, "<ServiceSpecificCredentials/>", ""},
		{"list, one user", "POST", "/", iamAuth, form, "Action=ListServiceSpecificCredentials&UserName=bob&Version=2010-05-08",
			200, "<ServiceSpecificCredentials/>", ""},
		{"update", "POST", "/", iamAuth, form, "Action=UpdateServiceSpecificCredential&ServiceSpecificCredentialId=ACCA1&Status=Inactive&UserName=bob&Version=2010-05-08",
			404, "<Code>NoSuchEntity</Code>", ""},
		{"other IAM action", "POST", "/", iamAuth, form, "Action=ListUsers&Version=2010-05-08",
			200, "upstream", "POST / Action=ListUsers&Version=2010-05-08"},
		{"same name, another service", "POST", "/", sqsAuth, form, "Action=ListServiceSpecificCredentials",
			200, "upstream", "POST / Action=ListServiceSpecificCredentials"},
		{"not a form", "POST", "/", iamAuth, "application/json", `{"Action":"ListServiceSpecificCredentials"}`,
			200, "upstream", `POST / {"Action":"ListServiceSpecificCredentials"}`},
		{"moto's own API", "POST", "/moto-api/reset", "", "application/json", "",
			200, "upstream", "POST /moto-api/reset "},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		req, err := http.NewRequest(tc.method, proxy.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", tc.ctype)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(answer), tc.answer) {
			t.Errorf("%s: HTTP %d %q, want %d with %q", tc.name, resp.StatusCode, answer, tc.status, tc.answer)
		}
		mu.Lock()
		seen := got
		mu.Unlock()
		switch {
		case tc.forwarded == "" && len(seen) != 0:
			t.Errorf("%s: reached the upstream (%q); the proxy should have answered", tc.name, seen)
		case tc.forwarded != "" && (len(seen) != 1 || seen[0] != tc.forwarded):
			t.Errorf("%s: upstream saw %q, want exactly %q", tc.name, seen, tc.forwarded)
		}
	}
}
