package resources

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/killswitch/killswitch/internal/guard"
)

// The trust policies of the switch's own roles, as the stack deploys them,
// and a checker that holds what IAM returns against them. Pure functions:
// the quarantine reads the documents from ListRoles (which returns
// AssumeRolePolicyDocument, URL-encoded, for every role) and reports any
// drift. A role of the switch that trusts anyone else hands its powers to
// them: the function's role can write the latch and give back what the
// switch contained, the scheduler's can invoke the function as the switch.

// TrustExpectation is what one own role may trust: exactly one service,
// and, when SourceARN is set, only on behalf of that resource.
type TrustExpectation struct {
	Service string
	// SourceARN, when set, must be the aws:SourceArn condition of every
	// statement that lets the service in (ArnEquals or StringEquals).
	SourceARN string
	// Account, when set, is the only value an aws:SourceAccount condition
	// may have (the stack adds one to the scheduler's trust).
	Account string
}

// OwnRoleTrust is the trust the stack deploys for each of its roles, by
// name, resolved for the stack's partition, region and account.
func OwnRoleTrust(partition, region, account string) map[string]TrustExpectation {
	// The scheduler's expectation is read from the document the stack
	// deploys (guard.ScheduleRoleTrust), so the two cannot drift apart.
	sched := guard.ScheduleRoleTrust().Resolve(partition, region, account).Statement[0]
	return map[string]TrustExpectation{
		guard.FunctionRoleName: {Service: "lambda.amazonaws.com"},
		guard.ScheduleRoleName: {Service: sched.Principal["Service"][0],
			SourceARN: sched.Condition["ArnEquals"]["aws:SourceArn"][0], Account: sched.Condition["StringEquals"]["aws:SourceAccount"][0]},
		guard.SlackRoleName: {Service: "chatbot.amazonaws.com"},
	}
}

// listOf is an IAM policy field that is a string or a list of strings.
type listOf []string

func (l *listOf) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = listOf{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*l = many
	return nil
}

// trustPrincipal is a Principal or NotPrincipal: "*", or a map from
// principal type (Service, AWS, Federated, CanonicalUser) to values.
type trustPrincipal struct {
	set      bool
	wildcard bool
	byType   map[string]listOf
}

func (p *trustPrincipal) UnmarshalJSON(b []byte) error {
	p.set = true
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "*" {
			return fmt.Errorf("principal %q is neither \"*\" nor a map", s)
		}
		p.wildcard = true
		return nil
	}
	return json.Unmarshal(b, &p.byType)
}

type trustStatement struct {
	Effect       string                       `json:"Effect"`
	Principal    trustPrincipal               `json:"Principal"`
	NotPrincipal trustPrincipal               `json:"NotPrincipal"`
	Condition    map[string]map[string]listOf `json:"Condition"`
}

// statements is a Statement field: one object or a list of them.
type statements []trustStatement

func (s *statements) UnmarshalJSON(b []byte) error {
	var one trustStatement
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = statements{one}
		return nil
	}
	var many []trustStatement
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// DecodePolicyDocument reads a policy document as IAM returns it: URL-encoded
// JSON (RFC 3986) in real IAM, plain JSON from moto's ListRoles. Path
// unescaping, not query unescaping: a '+' in a principal ARN stays a '+'.
func DecodePolicyDocument(doc string) (string, error) {
	doc = strings.TrimSpace(doc)
	if strings.HasPrefix(doc, "{") {
		return doc, nil
	}
	plain, err := url.PathUnescape(doc)
	if err != nil {
		return "", fmt.Errorf("the trust policy is neither JSON nor URL-encoded JSON: %w", err)
	}
	return plain, nil
}

// CheckTrust holds a role's trust policy (as IAM returns it) to what the
// stack deployed and returns every difference, in words for the owner; none
// means the role trusts exactly the expected service. Every statement must
// be an Allow for that one service and nobody else, with the expected
// conditions: a Deny of the service stops the switch, and any other
// principal ("*", an AWS account or role, a federated identity) or a
// NotPrincipal lets someone other than the service assume the role.
func CheckTrust(document string, want TrustExpectation) []string {
	plain, err := DecodePolicyDocument(document)
	if err != nil {
		return []string{err.Error()}
	}
	var doc struct {
		Statement statements `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(plain), &doc); err != nil {
		return []string{fmt.Sprintf("the trust policy is not a readable policy document: %v", err)}
	}
	var drift []string
	allowed := false
	for i, st := range doc.Statement {
		at := fmt.Sprintf("statement %d", i+1)
		if st.Effect != "Allow" {
			drift = append(drift, fmt.Sprintf("%s has effect %q (the stack deploys only Allow for %s)", at, st.Effect, want.Service))
			continue
		}
		if st.NotPrincipal.set {
			drift = append(drift, at+" uses NotPrincipal: it lets in everyone but the principals it names")
			continue
		}
		bad := principalDrift(st.Principal, want.Service)
		if len(bad) > 0 {
			drift = append(drift, at+" trusts "+strings.Join(bad, ", "))
			continue
		}
		if cond := conditionDrift(st.Condition, want); len(cond) > 0 {
			drift = append(drift, at+": "+strings.Join(cond, "; "))
			continue
		}
		allowed = true
	}
	if !allowed && len(drift) == 0 {
		drift = append(drift, "no statement lets "+want.Service+" assume it: the switch cannot use it")
	}
	return drift
}

// principalDrift lists every principal a statement names besides the
// expected service; a statement that does not name the service is drift too.
func principalDrift(p trustPrincipal, service string) []string {
	if !p.set {
		return []string{"no principal"}
	}
	if p.wildcard {
		return []string{`everyone ("*")`}
	}
	var bad []string
	hasService := false
	types := make([]string, 0, len(p.byType))
	for typ := range p.byType {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		for _, v := range p.byType[typ] {
			if typ == "Service" && v == service {
				hasService = true
				continue
			}
			bad = append(bad, typ+" "+v)
		}
	}
	if !hasService && len(bad) == 0 {
		bad = append(bad, "nobody (empty principal)")
	}
	return bad
}

// conditionDrift checks a statement's conditions: the expected
// aws:SourceArn must be there, exactly; aws:SourceAccount may be there
// with the account only. Any other condition is not the stack's.
func conditionDrift(cond map[string]map[string]listOf, want TrustExpectation) []string {
	var drift []string
	sourceARN := false
	ops := make([]string, 0, len(cond))
	for op := range cond {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		keys := make([]string, 0, len(cond[op]))
		for k := range cond[op] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			vals := cond[op][key]
			switch {
			case want.SourceARN != "" && strings.EqualFold(key, "aws:SourceArn") && (op == "ArnEquals" || op == "StringEquals"):
				if len(vals) == 1 && vals[0] == want.SourceARN {
					sourceARN = true
					continue
				}
				drift = append(drift, fmt.Sprintf("condition %s aws:SourceArn is %v, not %s", op, []string(vals), want.SourceARN))
			case want.Account != "" && strings.EqualFold(key, "aws:SourceAccount") && op == "StringEquals" && len(vals) == 1 && vals[0] == want.Account:
				// The stack's own narrowing to this account.
			default:
				drift = append(drift, fmt.Sprintf("condition %s %s %v is not the stack's", op, key, []string(vals)))
			}
		}
	}
	if want.SourceARN != "" && !sourceARN {
		drift = append(drift, "no condition aws:SourceArn = "+want.SourceARN+": any "+want.Service+" resource, not only the switch's, could use it")
	}
	return drift
}
