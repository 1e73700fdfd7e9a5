package resources

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/integrity"
)

// SwitchIntegritySNSAPI and SwitchIntegrityLambdaAPI are the calls the
// integrity check makes (internal/integrity holds the same interfaces;
// they are spelled out here because infra's permission test reads each
// kind's calls from its file).
type SwitchIntegritySNSAPI interface {
	sns.ListSubscriptionsByTopicAPIClient
	GetSubscriptionAttributes(ctx context.Context, in *sns.GetSubscriptionAttributesInput, optFns ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error)
}

type SwitchIntegrityLambdaAPI interface {
	GetPolicy(ctx context.Context, in *lambda.GetPolicyInput, optFns ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error)
}

// Attribute keys SwitchIntegrity puts on a Resource.
const (
	attrIntegrityMessage = "message"
	attrIntegrityCode    = "code"
	attrIntegrityWarning = "warning"
)

// VerbIntegrity is the kind's verb. Contain never succeeds, so the email
// shows its plan: "check failed: Fix: …"; a dry run says "would check".
var VerbIntegrity = engine.Verb{Past: "reported", Plan: "check"}

// integrityNote is why the kind changes nothing, said with every problem.
const integrityNote = "The kill switch changes nothing here: fixing it would need write rights on SNS and Lambda " +
	"that stolen credentials could borrow from the switch's role. Fix it as root or a break-glass principal; " +
	"if you did not make this change, someone else did."

// SwitchIntegrity reports, on every sweep, what would blind the owner or
// open the switch to others: a filter policy or a missing, unconfirmed or
// stranger subscription on the notify topic, a trip-topic subscriber that
// is not the function, a function-policy statement the stack did not make.
// Each problem is one resource, reported as a failure; nothing is changed.
type SwitchIntegrity struct {
	checker *integrity.Checker
	verb    engine.Verb
}

var (
	_ engine.Kind     = (*SwitchIntegrity)(nil)
	_ engine.Global   = (*SwitchIntegrity)(nil)
	_ engine.Restorer = (*SwitchIntegrity)(nil)
)

// NewSwitchIntegrity checks what want describes through the two clients.
func NewSwitchIntegrity(s SwitchIntegritySNSAPI, l SwitchIntegrityLambdaAPI, want integrity.Expect) *SwitchIntegrity {
	return &SwitchIntegrity{checker: integrity.New(s, l, want), verb: VerbIntegrity}
}

func (*SwitchIntegrity) Name() string { return "Kill switch integrity" }
func (*SwitchIntegrity) Noun() string { return "integrity problem" }
func (*SwitchIntegrity) Global() bool { return true }

// Find runs the checks; each problem is a resource named by its summary.
// A read that fails is a problem too, so Find itself never fails.
func (k *SwitchIntegrity) Find(ctx context.Context, _ string) ([]engine.Resource, error) {
	var found []engine.Resource
	for _, p := range k.checker.Check(ctx) {
		r := engine.Resource{ID: p.Summary, State: "drift",
			// The fix first: the email cuts a long failure line, and the
			// detail may quote what the attacker wrote.
			Attributes: map[string]string{attrIntegrityMessage: "Fix: " + p.Fix + ". " + sentence(p.Detail), attrIntegrityCode: p.Code}}
		if p.Warning {
			r.State = "warning"
			r.Attributes[attrIntegrityWarning] = "true"
		}
		found = append(found, r)
	}
	return found, nil
}

// sentence starts s with a capital, as the second sentence of a message.
func sentence(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// Decide reports every problem; a warning is left as a note for the owner,
// not a failure.
func (k *SwitchIntegrity) Decide(r engine.Resource) engine.Decision {
	if r.Attributes[attrIntegrityWarning] == "true" {
		return engine.Leave(r, "WARNING: "+r.Attributes[attrIntegrityMessage])
	}
	return engine.Act(r, k.verb, r.Attributes[attrIntegrityMessage])
}

// Contain changes nothing: each problem comes back as a failure carrying
// what is wrong and the fix.
func (k *SwitchIntegrity) Contain(_ context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	out := make([]engine.Outcome, 0, len(todo))
	for _, d := range todo {
		out = append(out, engine.Outcome{ID: d.Resource.ID, Verb: k.verb, Status: engine.StatusFailed,
			Code: d.Resource.Attributes[attrIntegrityCode], Message: d.Resource.Attributes[attrIntegrityMessage] + ". " + integrityNote})
	}
	return out
}

// Restore has nothing to undo: the check changed nothing.
func (*SwitchIntegrity) Restore(_ context.Context, _ string, items []engine.RestoreItem, _ bool) []engine.RestoreResult {
	return notRestorable(items, "nothing to restore: the integrity check only reports")
}
