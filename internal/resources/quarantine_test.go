package resources_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/resources"
)

const quarantineARN = "arn:aws:iam::" + fakeAccount + ":policy/killswitch-quarantine"

// sweepGlobal runs the real engine over one global kind and returns its
// report from the "global" sweep.
func sweepGlobal(t *testing.T, k engine.Kind, p engine.Policy) engine.KindReport {
	t.Helper()
	rep := engine.New(oneRegion{}, []engine.Kind{k}, engine.Options{}).Run(context.Background(), p)
	for _, rr := range rep.Regions {
		if rr.Region == engine.GlobalRegion {
			if len(rr.Kinds) != 1 {
				t.Fatalf("global sweep has %d kinds, want 1", len(rr.Kinds))
			}
			return rr.Kinds[0]
		}
	}
	t.Fatalf("no global sweep in %+v", rep.Regions)
	return engine.KindReport{}
}

func refusals(kr engine.KindReport) map[string]string {
	m := map[string]string{}
	for _, r := range kr.Refused {
		m[r.ID] = r.Reason
	}
	return m
}

// quarantineAccount is an account after an attack: the owner's admin user,
// an attacker's user and EC2 role, a group, the kill switch's own roles, a
// service-linked and a reserved role, a break-glass role and a break-glass
// user in a group of its own.
type quarantineAccount struct {
	iam                                          *fakeIAM
	owner, attacker, attackerRole, admins, other string
	breakGlassRole, breakGlassUser, bgGroup      string
	ownRole, fakeOwnRole, serviceLinked          string
	// impostor has the switch's path and the Slack role's name, in a stack
	// with no Slack role: its ID is not the stack's.
	impostor string
}

// lambdaTrust is the function role's trust as the stack deploys it.
const lambdaTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func newQuarantineAccount() quarantineAccount {
	f := newFakeIAM()
	now := time.Now()
	a := quarantineAccount{iam: f}
	a.owner = f.addUser("owner-admin", now.AddDate(-1, 0, 0))
	a.attacker = f.addUser("attacker", now)
	a.breakGlassUser = f.addUser("break-glass-user", now.AddDate(-1, 0, 0))
	a.admins = f.addGroup("admins", "owner-admin")
	a.bgGroup = f.addGroup("emergency", "break-glass-user")
	a.attackerRole = f.addRole("/", "attacker-ec2", now)
	a.breakGlassRole = f.addRole("/", "break-glass", now.AddDate(-1, 0, 0))
	a.ownRole = f.addRole(guard.RolePath, guard.FunctionRoleName, now)
	f.setTrust(guard.FunctionRoleName, lambdaTrust)
	a.impostor = f.addRole(guard.RolePath, guard.SlackRoleName, now)
	// Same path, another name: an attacker cannot hide under the path.
	a.fakeOwnRole = f.addRole(guard.RolePath, "killswitch-helper", now)
	a.serviceLinked = f.addRole("/aws-service-role/spot.amazonaws.com/", "AWSServiceRoleForEC2Spot", now)
	f.addRole("/aws-reserved/sso.amazonaws.com/", "AWSReservedSSO_Admin_0123", now)
	a.other = f.addRole("/", "already-quarantined", now)
	f.attached["role/already-quarantined"] = []string{quarantineARN}
	return a
}

func (a quarantineAccount) kind() *resources.Quarantine {
	return resources.NewQuarantine(a.iam, resources.QuarantineOptions{PolicyARN: quarantineARN, BreakGlassARNs: []string{a.breakGlassRole, a.breakGlassUser},
		OwnRoleIDs: []string{a.iam.roleID(guard.FunctionRoleName)}, Region: "us-east-1"})
}

func (a quarantineAccount) policy() engine.Policy {
	return engine.Policy{Exempt: map[string]string{a.breakGlassRole: "KILLSWITCH_BREAK_GLASS_ARNS", a.breakGlassUser: "KILLSWITCH_BREAK_GLASS_ARNS"}}
}

func TestQuarantineAttachesToEveryPrincipalButTheExemptOnes(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	kr := sweepGlobal(t, a.kind(), a.policy())

	got := outcomesByID(kr)
	for _, tc := range []struct {
		arn, entity string
		quarantined bool
	}{
		{a.owner, "user/owner-admin", true},
		{a.attacker, "user/attacker", true},
		{a.attackerRole, "role/attacker-ec2", true},
		{a.admins, "group/admins", true},
		{a.fakeOwnRole, "role/killswitch-helper", true},
		{a.impostor, "role/" + guard.SlackRoleName, true},
		{a.breakGlassRole, "role/break-glass", false},
		{a.breakGlassUser, "user/break-glass-user", false},
		{a.bgGroup, "group/emergency", false},
		{a.ownRole, "role/" + guard.FunctionRoleName, false},
		{a.serviceLinked, "role/AWSServiceRoleForEC2Spot", false},
		{"", "role/AWSReservedSSO_Admin_0123", false},
	} {
		if has := a.iam.has(tc.entity, quarantineARN); has != tc.quarantined {
			t.Errorf("%s: policy attached %v, want %v", tc.entity, has, tc.quarantined)
		}
		if !tc.quarantined || tc.arn == "" {
			continue
		}
		o := wantOutcome(t, got, tc.arn, engine.StatusDone, resources.VerbQuarantine(quarantineARN), "")
		prior, ok := o.Prior.(resources.QuarantinePrior)
		if !ok || prior.PrincipalARN != tc.arn || prior.PolicyARN != quarantineARN || prior.PolicyAttached {
			t.Errorf("%s: prior %#v, want the principal without the policy", tc.arn, o.Prior)
		}
	}
	if len(kr.Outcomes) != 6 {
		t.Errorf("%d outcomes, want 6: %+v", len(kr.Outcomes), kr.Outcomes)
	}
	// The impostor is told apart in the report; the others are not.
	if note := got[a.impostor].Note; !strings.Contains(note, "named like the kill switch's own role") || !strings.Contains(note, "not the stack's") {
		t.Errorf("impostor %s: note %q, want it named like the switch's role but not the stack's", a.impostor, note)
	}
	if note := got[a.fakeOwnRole].Note; note != "" {
		t.Errorf("%s is not named like an own role, yet its note says %q", a.fakeOwnRole, note)
	}
	refused := refusals(kr)
	for arn, want := range map[string]string{
		a.breakGlassRole: "KILLSWITCH_BREAK_GLASS_ARNS",
		a.breakGlassUser: "KILLSWITCH_BREAK_GLASS_ARNS",
		a.ownRole:        "the kill switch's own role",
		a.bgGroup:        "holds break-glass user break-glass-user",
	} {
		if !strings.Contains(refused[arn], want) {
			t.Errorf("%s: refused %q, want a reason with %q", arn, refused[arn], want)
		}
	}
	if _, listed := refused[a.serviceLinked]; listed || kr.Found != 10 {
		t.Errorf("found %d (want 10: AWS-managed and already quarantined roles are not listed), refused %v", kr.Found, refused)
	}

	// The report tells the owner how to lift it, naming the policy.
	note := resources.VerbQuarantine(quarantineARN).Note
	for _, want := range []string{"root user or a break-glass principal", "detach-user-policy", "list-entities-for-policy --policy-arn " + quarantineARN} {
		if !strings.Contains(note, want) {
			t.Errorf("verb note lacks %q: %s", want, note)
		}
	}
	// The prior state survives the JSON report.
	raw, err := json.Marshal(kr.Outcomes[0])
	if err != nil || !strings.Contains(string(raw), `"policyAttached":false`) || !strings.Contains(string(raw), `"principalType"`) {
		t.Errorf("outcome JSON %s (%v) lacks the prior state", raw, err)
	}
}

// A second sweep finds only principals created since: the re-sweep
// quarantines newcomers without calling IAM for the others.
func TestQuarantineIsIdempotentAndCatchesNewcomers(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	k := a.kind()
	sweepGlobal(t, k, a.policy())

	a.iam.mu.Lock()
	a.iam.calls = nil
	a.iam.mu.Unlock()
	again := sweepGlobal(t, k, a.policy())
	if again.Changed() != 0 {
		t.Errorf("second sweep changed %d principals, want 0: %+v", again.Changed(), again.Outcomes)
	}
	for _, c := range a.iam.calls {
		if strings.HasPrefix(c, "Attach") {
			t.Errorf("second sweep called %s", c)
		}
	}

	late := a.iam.addUser("attacker-2", time.Now())
	third := sweepGlobal(t, k, a.policy())
	if ids := third.IDs("quarantine policy attached"); len(ids) != 1 || ids[0] != late {
		t.Errorf("third sweep quarantined %v, want only %s", ids, late)
	}
}

func TestQuarantineFailuresAreReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		errs   map[string]error
		status engine.Status
		code   string
		// listing is the kind's listing error, if any.
		listing string
	}{
		{"a refused attach is failed with its code", map[string]error{"AttachRolePolicy role/attacker-ec2": apiErr("AccessDenied")}, engine.StatusFailed, "AccessDenied", ""},
		{"a principal deleted meanwhile is gone", map[string]error{"AttachRolePolicy role/attacker-ec2": apiErr("NoSuchEntity")}, engine.StatusGone, "NoSuchEntity", ""},
		{"no listing of who has the policy: nothing attached blind", map[string]error{"ListEntitiesForPolicy": apiErr("AccessDenied")}, "", "", "AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newQuarantineAccount()
			a.iam.errs = tc.errs
			kr := sweepGlobal(t, a.kind(), a.policy())
			if tc.listing != "" {
				if !strings.Contains(kr.Error, tc.listing) || len(kr.Outcomes) != 0 {
					t.Errorf("error %q, outcomes %d: want a listing error %s and no outcome", kr.Error, len(kr.Outcomes), tc.listing)
				}
				return
			}
			wantOutcome(t, outcomesByID(kr), a.attackerRole, tc.status, resources.VerbQuarantine(quarantineARN), tc.code)
			if n := len(kr.IDs("quarantine policy attached")); n != 5 {
				t.Errorf("%d others quarantined, want 5", n)
			}
		})
	}
}

func TestQuarantineWithoutAPolicyFailsLoudly(t *testing.T) {
	t.Parallel()
	k := resources.NewQuarantine(newFakeIAM(), resources.QuarantineOptions{})
	kr := sweepGlobal(t, k, engine.Policy{})
	if !strings.Contains(kr.Error, "KILLSWITCH_QUARANTINE_POLICY_ARN") {
		t.Errorf("error %q does not name the missing variable", kr.Error)
	}
}

func TestQuarantineDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	p := a.policy()
	p.DryRun = true
	kr := sweepGlobal(t, a.kind(), p)
	if n := len(kr.IDs("would attach the quarantine policy")); n != 6 {
		t.Errorf("dry run plans %d attachments, want 6", n)
	}
	for _, c := range a.iam.calls {
		if strings.HasPrefix(c, "Attach") {
			t.Errorf("dry run called %s", c)
		}
	}
}
