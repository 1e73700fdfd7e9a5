package faultproxy

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// IAM's managed-policy quota, which moto does not enforce: with
// Config.IAMPolicyQuota above 0, an AttachUserPolicy, AttachRolePolicy or
// AttachGroupPolicy is answered as IAM answers one past the quota (HTTP 409,
// LimitExceeded, in IAM's query-protocol XML) when the principal already
// has that many managed policies attached and the policy is not one of
// them (attaching one already attached is a no-op in IAM, not a new slot).
// The proxy asks the upstream (moto) for the principal's attached policies
// first, with the caller's own headers, so policies attached straight to
// moto count too. A permissions boundary does not count, as in IAM.

// iamQuotaOps maps each attach to the listing of what is attached, and the
// name parameter both take.
var iamQuotaOps = map[string]struct{ list, param, entity string }{
	"AttachUserPolicy":  {"ListAttachedUserPolicies", "UserName", "PoliciesPerUser"},
	"AttachRolePolicy":  {"ListAttachedRolePolicies", "RoleName", "PoliciesPerRole"},
	"AttachGroupPolicy": {"ListAttachedGroupPolicies", "GroupName", "PoliciesPerGroup"},
}

// overIAMQuota answers the request itself, and returns true, when it is an
// attach past the quota.
func (p *Proxy) overIAMQuota(w http.ResponseWriter, r *http.Request, key Key, body []byte) bool {
	p.mu.Lock()
	quota, target := p.cfg.IAMPolicyQuota, p.cfg.Target
	p.mu.Unlock()
	op, ok := iamQuotaOps[key.Operation]
	if quota <= 0 || key.Service != "iam" || !ok {
		return false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return false
	}
	name := form.Get(op.param)
	attached, err := p.attachedPolicies(r, target, op.list, op.param, name)
	if err != nil {
		// Cannot count: let moto answer, as it would without the quota.
		return false
	}
	for _, arn := range attached {
		if arn == form.Get("PolicyArn") {
			return false
		}
	}
	if len(attached) < quota {
		return false
	}
	p.count(key, Counts{Requests: 1, OverQuota: 1})
	writeIAMError(w, http.StatusConflict, "LimitExceeded", fmt.Sprintf("Cannot exceed quota for %s: %d", op.entity, quota))
	return true
}

var iamQuotaClient = &http.Client{Timeout: 30 * time.Second}

// attachedPolicies lists a principal's attached managed policies from the
// upstream, every page.
func (p *Proxy) attachedPolicies(r *http.Request, target, action, param, name string) ([]string, error) {
	var arns []string
	marker := ""
	for {
		form := url.Values{"Action": {action}, "Version": {"2010-05-08"}, param: {name}}
		if marker != "" {
			form.Set("Marker", marker)
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, strings.TrimRight(target, "/")+"/", strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		// moto routes by the SigV4 credential scope and checks no signature.
		for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
			if v := r.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		resp, err := iamQuotaClient.Do(req)
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: HTTP %d", action, resp.StatusCode)
		}
		page, next, err := parseAttached(raw)
		if err != nil {
			return nil, err
		}
		arns = append(arns, page...)
		if next == "" {
			return arns, nil
		}
		marker = next
	}
}

// parseAttached reads the PolicyArn elements and the Marker of a
// ListAttached*Policies response.
func parseAttached(raw []byte) (arns []string, marker string, err error) {
	dec := xml.NewDecoder(strings.NewReader(string(raw)))
	truncated := false
	var inside string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading the attached policies: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			inside = t.Name.Local
		case xml.EndElement:
			inside = ""
		case xml.CharData:
			v := strings.TrimSpace(string(t))
			switch inside {
			case "PolicyArn":
				arns = append(arns, v)
			case "IsTruncated":
				truncated = v == "true"
			case "Marker":
				marker = v
			}
		}
	}
	if !truncated {
		marker = ""
	}
	return arns, marker, nil
}

// IAMErrorBody is IAM's query-protocol XML error.
func IAMErrorBody(code, msg, requestID string) string {
	return `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>` + code +
		`</Code><Message>` + msg + `</Message></Error><RequestId>` + requestID + `</RequestId></ErrorResponse>`
}

func writeIAMError(w http.ResponseWriter, status int, code, msg string) {
	requestSeq.Lock()
	requestSeq.n++
	id := fmt.Sprintf("faultproxy-%012d", requestSeq.n)
	requestSeq.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, IAMErrorBody(code, msg, id))
}
