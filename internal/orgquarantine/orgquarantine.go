// Package orgquarantine is the org stack's function: when a member
// account's kill switch reports that it tripped, on the central topic, it
// attaches the deny-by-default SCP to that one account. An SCP binds the
// member's root user and every principal its own IAM quarantine cannot
// reach. It never detaches: that is the owner's call, once the account is
// clean (aws organizations detach-policy, or the restore CLI).
package orgquarantine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/killswitch/killswitch/internal/guard"
)

// Environment variables the org stack sets.
const (
	EnvPolicyID          = "KILLSWITCH_ORG_QUARANTINE_POLICY_ID"
	EnvManagementAccount = "KILLSWITCH_ORG_MANAGEMENT_ACCOUNT"
)

// Attacher attaches a policy to a target (an account ID).
type Attacher interface {
	AttachPolicy(ctx context.Context, policyID, targetID string) error
}

// ErrAlreadyAttached is what an Attacher returns when the policy is
// already on the target: a repeated report (SNS delivers at least once,
// and a tripped member reports every re-sweep) is not a failure.
var ErrAlreadyAttached = errors.New("policy already attached")

// Decision is what to do with one report.
type Decision struct {
	Account string
	Attach  bool
	// Reason says why, for the log.
	Reason string
}

var (
	accountRe   = regexp.MustCompile(`^\d{12}$`)
	accountLine = regexp.MustCompile(`(?m)^Account: (\d{12})\s*$`)
	policyIDRe  = regexp.MustCompile(`^p-[0-9a-z_]{8,128}$`)
)

// Decide reads one central-topic record. It attaches only for a report the
// member's function marked tripped, naming an account: from the
// killswitch.account attribute, else the report's "Account:" line. The
// management account is never a target (SCPs do not bind it).
func Decide(rec events.SNSEntity, managementAccount string) Decision {
	event := attr(rec, guard.AttrEvent)
	account := attr(rec, guard.AttrAccount)
	if account == "" {
		if m := accountLine.FindStringSubmatch(rec.Message); m != nil {
			account = m[1]
		}
	}
	d := Decision{Account: account}
	switch {
	case event != guard.EventTripped:
		d.Reason = fmt.Sprintf("not a trip (%s=%q)", guard.AttrEvent, event)
	case account == "":
		d.Reason = "a trip that names no account"
	case !accountRe.MatchString(account):
		d.Reason = fmt.Sprintf("a trip that names %q, which is not an account ID", account)
	case account == managementAccount:
		d.Reason = "the management account: SCPs do not bind it, it has its own single-account deploy"
	default:
		d.Attach = true
		d.Reason = "the member's kill switch tripped"
	}
	return d
}

func attr(rec events.SNSEntity, name string) string {
	a, ok := rec.MessageAttributes[name].(map[string]any)
	if !ok {
		return ""
	}
	v, _ := a["Value"].(string)
	return strings.TrimSpace(v)
}

// Quarantiner handles the central topic's events.
type Quarantiner struct {
	api               Attacher
	policyID          string
	managementAccount string
	log               *slog.Logger
}

// New checks the configuration and builds the handler.
func New(api Attacher, policyID, managementAccount string, log *slog.Logger) (*Quarantiner, error) {
	if !policyIDRe.MatchString(policyID) {
		return nil, fmt.Errorf("%s: %q is not an Organizations policy ID (p-…)", EnvPolicyID, policyID)
	}
	if managementAccount != "" && !accountRe.MatchString(managementAccount) {
		return nil, fmt.Errorf("%s: %q is not an account ID", EnvManagementAccount, managementAccount)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Quarantiner{api: api, policyID: policyID, managementAccount: managementAccount, log: log}, nil
}

// Result lists the accounts the invocation quarantined (newly or again).
type Result struct {
	Quarantined []string `json:"quarantined"`
	Ignored     int      `json:"ignored"`
}

// Handle attaches the SCP for every trip in the event. A failed attach is
// returned, so the invocation fails and Lambda retries it: an account
// that tripped must not stay unbound because of one throttled call.
func (q *Quarantiner) Handle(ctx context.Context, ev events.SNSEvent) (Result, error) {
	var res Result
	var errs []error
	for _, r := range ev.Records {
		d := Decide(r.SNS, q.managementAccount)
		if !d.Attach {
			res.Ignored++
			q.log.Info("report ignored", "account", d.Account, "reason", d.Reason, "subject", r.SNS.Subject)
			continue
		}
		err := q.api.AttachPolicy(ctx, q.policyID, d.Account)
		switch {
		case errors.Is(err, ErrAlreadyAttached):
			q.log.Info("account already quarantined", "account", d.Account, "policy", q.policyID)
		case err != nil:
			q.log.Error("could not quarantine the account", "account", d.Account, "policy", q.policyID, "error", err)
			errs = append(errs, fmt.Errorf("attaching %s to account %s: %w", q.policyID, d.Account, err))
			continue
		default:
			q.log.Warn("account quarantined: the deny-by-default SCP is attached", "account", d.Account, "policy", q.policyID,
				"undo", "aws organizations detach-policy --policy-id "+q.policyID+" --target-id "+d.Account)
		}
		res.Quarantined = append(res.Quarantined, d.Account)
	}
	return res, errors.Join(errs...)
}
