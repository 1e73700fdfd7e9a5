package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
)

// fakeIAMUpstream stands in for moto: it keeps each role's attached
// policies and answers ListAttachedRolePolicies one policy a page, so the
// proxy's count has to follow the Marker.
type fakeIAMUpstream struct {
	mu       sync.Mutex
	attached map[string][]string
	attaches int // AttachRolePolicy calls that reached it
}

func (f *fakeIAMUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	role := form.Get("RoleName")
	w.Header().Set("Content-Type", "text/xml")
	switch form.Get("Action") {
	case "ListAttachedRolePolicies":
		from := 0
		fmt.Sscan(form.Get("Marker"), &from)
		var members, tail string
		if from < len(f.attached[role]) {
			members = `<member><PolicyName>p</PolicyName><PolicyArn>` + f.attached[role][from] + `</PolicyArn></member>`
		}
		if from+1 < len(f.attached[role]) {
			tail = fmt.Sprintf(`<IsTruncated>true</IsTruncated><Marker>%d</Marker>`, from+1)
		} else {
			tail = `<IsTruncated>false</IsTruncated>`
		}
		_, _ = io.WriteString(w, `<ListAttachedRolePoliciesResponse><ListAttachedRolePoliciesResult><AttachedPolicies>`+members+`</AttachedPolicies>`+tail+
			`</ListAttachedRolePoliciesResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListAttachedRolePoliciesResponse>`)
	case "AttachRolePolicy":
		f.attaches++
		f.attached[role] = append(f.attached[role], form.Get("PolicyArn"))
		_, _ = io.WriteString(w, `<AttachRolePolicyResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AttachRolePolicyResponse>`)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func TestIAMPolicyQuotaAnswersLimitExceededPastTheQuota(t *testing.T) {
	t.Parallel()
	up := &fakeIAMUpstream{attached: map[string][]string{}}
	for i := range 3 {
		up.attached["full"] = append(up.attached["full"], fmt.Sprintf("arn:aws:iam::123456789012:policy/p%d", i))
	}
	up.attached["roomy"] = []string{"arn:aws:iam::123456789012:policy/p0"}
	target := httptest.NewServer(up)
	defer target.Close()
	p, err := Start(Config{Target: target.URL, IAMPolicyQuota: 3, NoRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	attach := func(role, policy string) error {
		_, err := client.AttachRolePolicy(context.Background(), &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(policy)})
		return err
	}
	const quarantine = "arn:aws:iam::123456789012:policy/killswitch-quarantine"

	// Past the quota: IAM's error, as the SDK reads it.
	err = attach("full", quarantine)
	var apiErr smithy.APIError
	var respErr *awshttp.ResponseError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "LimitExceeded" || !strings.Contains(apiErr.ErrorMessage(), "PoliciesPerRole: 3") {
		t.Fatalf("attach to a full role: %v, want LimitExceeded", err)
	}
	if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != http.StatusConflict {
		t.Errorf("attach to a full role: HTTP status %v, want 409", err)
	}
	// Attaching one already attached takes no new slot: forwarded.
	if err := attach("full", "arn:aws:iam::123456789012:policy/p1"); err != nil {
		t.Errorf("re-attaching an attached policy to a full role: %v", err)
	}
	// Room left: forwarded, until that role is full too.
	for i, want := range []bool{true, true, false} {
		err := attach("roomy", fmt.Sprintf("arn:aws:iam::123456789012:policy/new%d", i))
		if got := err == nil; got != want {
			t.Errorf("attach %d to the roomy role: error %v, want success %v", i, err, want)
		}
	}
	if up.attaches != 3 {
		t.Errorf("%d attaches reached the upstream, want 3", up.attaches)
	}
	if got := p.Sum("iam", "", "AttachRolePolicy").OverQuota; got != 2 {
		t.Errorf("%d attaches counted over quota, want 2", got)
	}

	// Off by default: moto's own behaviour.
	off, err := Start(Config{Target: target.URL, NoRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	offClient := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(off.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if _, err := offClient.AttachRolePolicy(context.Background(), &iam.AttachRolePolicyInput{RoleName: aws.String("full"), PolicyArn: aws.String(quarantine)}); err != nil {
		t.Errorf("without IAMPolicyQuota: %v", err)
	}
}
