package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

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
		verb := resources.VerbQuarantine(quarantineARN)
		if tc.arn == a.impostor {
			verb = resources.VerbQuarantineImpostor(quarantineARN)
		}
		o := wantOutcome(t, got, tc.arn, engine.StatusDone, verb, "")
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
			if n := len(kr.IDs("quarantine policy attached")); n != 4 {
				t.Errorf("%d others quarantined, want 4 (and the impostor)", n)
			}
			if n := len(kr.IDs(resources.VerbQuarantineImpostor(quarantineARN).Past)); n != 1 {
				t.Errorf("%d impostors quarantined, want 1", n)
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
	if n := len(kr.IDs("would attach the quarantine policy")) + len(kr.IDs("would "+resources.VerbQuarantineImpostor(quarantineARN).Plan)); n != 6 {
		t.Errorf("dry run plans %d attachments, want 6", n)
	}
	for _, c := range a.iam.calls {
		if strings.HasPrefix(c, "Attach") {
			t.Errorf("dry run called %s", c)
		}
	}
}

// A user and a role whose 10 managed-policy slots are full get the
// quarantine as their permissions boundary; the boundary they had is
// recorded as a secondary change and named in the report. A re-sweep does
// not list them again.
func TestQuarantineFullPrincipalsGetItAsTheirBoundary(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	a.iam.quota = 10
	ownerBoundary := "arn:aws:iam::" + fakeAccount + ":policy/owner-boundary"
	a.iam.fill("user/attacker", 10)
	a.iam.boundary["user/attacker"] = ownerBoundary
	a.iam.fill("role/attacker-ec2", 10)
	k := a.kind()
	kr := sweepGlobal(t, k, a.policy())
	got := outcomesByID(kr)
	boundaryVerb := resources.VerbQuarantineBoundary(quarantineARN)

	for _, tc := range []struct {
		arn, entity, previous, wantNote string
	}{
		{a.attacker, "user/attacker", ownerBoundary, "its previous permissions boundary " + ownerBoundary + " was replaced"},
		{a.attackerRole, "role/attacker-ec2", "", "it had no permissions boundary before"},
	} {
		o := wantOutcome(t, got, tc.arn, engine.StatusDone, boundaryVerb, "")
		if b := a.iam.boundary[tc.entity]; b != quarantineARN {
			t.Errorf("%s: boundary %q, want the quarantine", tc.entity, b)
		}
		if a.iam.has(tc.entity, quarantineARN) {
			t.Errorf("%s: the quarantine is attached too, beyond its quota", tc.entity)
		}
		if !strings.Contains(o.Note, "Quarantined through its permissions boundary") || !strings.Contains(o.Note, tc.wantNote) {
			t.Errorf("%s: note %q, want it to say the boundary route and %q", tc.arn, o.Note, tc.wantNote)
		}
		if len(o.Also) != 1 || o.Also[0].Verb != boundaryVerb {
			t.Fatalf("%s: secondary changes %+v, want the boundary change", tc.arn, o.Also)
		}
		prior, ok := o.Also[0].Prior.(resources.BoundaryPrior)
		if !ok || prior.PreviousBoundaryARN != tc.previous || prior.PolicyARN != quarantineARN || prior.PrincipalARN != tc.arn {
			t.Errorf("%s: boundary prior %#v, want previous %q", tc.arn, o.Also[0].Prior, tc.previous)
		}
	}
	// The owner's user still has slots: attached as before.
	wantOutcome(t, got, a.owner, engine.StatusDone, resources.VerbQuarantine(quarantineARN), "")

	again := sweepGlobal(t, k, a.policy())
	for _, o := range again.Outcomes {
		if o.ID == a.attacker || o.ID == a.attackerRole {
			t.Errorf("re-sweep acted on %s again (%s), whose boundary is the quarantine", o.ID, o.Status)
		}
	}
}

// A listing that does not show boundaries (moto's) finds a principal again
// whose boundary is already the quarantine: nothing is changed, and the
// outcome is not a change.
func TestQuarantineBoundaryAlreadySetIsNothingToDo(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	a.iam.quota = 10
	a.iam.fill("role/attacker-ec2", 10)
	a.iam.boundary["role/attacker-ec2"] = quarantineARN
	// Hide the boundary from the listing, as moto does.
	k := resources.NewQuarantine(attachOnlyListing{a.iam}, resources.QuarantineOptions{PolicyARN: quarantineARN,
		BreakGlassARNs: []string{a.breakGlassRole, a.breakGlassUser}, OwnRoleIDs: []string{a.iam.roleID(guard.FunctionRoleName)}, Region: "us-east-1"})
	kr := sweepGlobal(t, k, a.policy())
	o := wantOutcome(t, outcomesByID(kr), a.attackerRole, engine.StatusGone, resources.VerbQuarantineBoundary(quarantineARN), "")
	if o.Changed() || len(o.Also) != 0 || !strings.Contains(o.Message, "already quarantined") {
		t.Errorf("outcome %+v, want nothing changed and said so", o)
	}
	for _, c := range a.iam.calls {
		if c == "PutRolePermissionsBoundary" {
			t.Error("the boundary was put again")
		}
	}
}

// attachOnlyListing answers ListEntitiesForPolicy as moto does: attached
// policies only, whatever the filter.
type attachOnlyListing struct{ *fakeIAM }

func (l attachOnlyListing) ListEntitiesForPolicy(ctx context.Context, in *iam.ListEntitiesForPolicyInput, o ...func(*iam.Options)) (*iam.ListEntitiesForPolicyOutput, error) {
	cp := *in
	cp.PolicyUsageFilter = iamtypes.PolicyUsageTypePermissionsPolicy
	return l.fakeIAM.ListEntitiesForPolicy(ctx, &cp, o...)
}

// A group whose slots are full cannot take a boundary: it is left with the
// reason, its members are quarantined one by one, and a re-sweep leaves it
// again instead of failing.
func TestQuarantineFullGroupIsLeftAndItsMembersQuarantined(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	a.iam.quota = 10
	a.iam.fill("group/admins", 10)
	k := a.kind()
	for sweep := 1; sweep <= 2; sweep++ {
		kr := sweepGlobal(t, k, a.policy())
		reason := refusals(kr)[a.admins]
		if !strings.Contains(reason, "managed-policy slots are full (10 of 10 attached)") || !strings.Contains(reason, "members are quarantined one by one") {
			t.Errorf("sweep %d: group refusal %q, want the full slots and the members' quarantine", sweep, reason)
		}
		for _, o := range kr.Outcomes {
			if o.ID == a.admins || o.Status == engine.StatusFailed {
				t.Errorf("sweep %d: outcome %s %s %s", sweep, o.ID, o.Status, o.Message)
			}
		}
	}
	if !a.iam.has("user/owner-admin", quarantineARN) {
		t.Error("the full group's member owner-admin is not quarantined")
	}
	for _, c := range a.iam.calls {
		if c == "AttachGroupPolicy group/admins" {
			t.Error("an attach was tried on the full group")
		}
	}
}

// Without the stack's role IDs (a hand-built environment) no role is
// spared by its name; an own role ID no role has is reported as a failure.
func TestQuarantineOwnRolesAreKnownByIDOnly(t *testing.T) {
	t.Parallel()
	t.Run("no IDs: nobody exempt by name", func(t *testing.T) {
		t.Parallel()
		a := newQuarantineAccount()
		k := resources.NewQuarantine(a.iam, resources.QuarantineOptions{PolicyARN: quarantineARN, BreakGlassARNs: []string{a.breakGlassRole, a.breakGlassUser}})
		kr := sweepGlobal(t, k, a.policy())
		// Named like the switch's, but nothing says it is the stack's.
		wantOutcome(t, outcomesByID(kr), a.ownRole, engine.StatusDone, resources.VerbQuarantineImpostor(quarantineARN), "")
	})
	t.Run("a configured ID no role has", func(t *testing.T) {
		t.Parallel()
		a := newQuarantineAccount()
		k := resources.NewQuarantine(a.iam, resources.QuarantineOptions{PolicyARN: quarantineARN, BreakGlassARNs: []string{a.breakGlassRole, a.breakGlassUser},
			OwnRoleIDs: []string{a.iam.roleID(guard.FunctionRoleName), "AROAGONE0000000000"}, Region: "us-east-1"})
		kr := sweepGlobal(t, k, a.policy())
		var missing *engine.Outcome
		for i, o := range kr.Outcomes {
			if strings.Contains(o.ID, "AROAGONE0000000000") {
				missing = &kr.Outcomes[i]
			}
		}
		if missing == nil || missing.Status != engine.StatusFailed || missing.Code != "OwnRoleNotFound" || !strings.Contains(missing.Message, "redeploy") {
			t.Errorf("missing own role: %+v, want a failure naming it and the fix", missing)
		}
		if _, refused := refusals(kr)[a.ownRole]; !refused {
			t.Error("the function role, whose ID is listed, is not spared")
		}
	})
}

// An own role whose trust policy drifted is reported as a failure naming
// what it trusts now and the fix, and is still not quarantined (that would
// stop the switch).
func TestQuarantineOwnRoleTrustDriftIsReported(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	a.iam.setTrust(guard.FunctionRoleName, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},`+
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}]}`)
	kr := sweepGlobal(t, a.kind(), a.policy())
	o, ok := outcomesByID(kr)[a.ownRole]
	if !ok || o.Status != engine.StatusFailed || o.Code != "OwnRoleDrift" {
		t.Fatalf("drifted own role: %+v (listed %v), want a failure", o, ok)
	}
	for _, want := range []string{guard.RolePath + guard.FunctionRoleName, "AWS arn:aws:iam::999988887777:root", "redeploy the stack", "break-glass"} {
		if !strings.Contains(o.Message, want) {
			t.Errorf("drift message lacks %q: %s", want, o.Message)
		}
	}
	if a.iam.has("role/"+guard.FunctionRoleName, quarantineARN) {
		t.Error("the switch's own role was quarantined")
	}
}

// restoreItems turns a sweep's outcomes into the restore's items as the
// manifest reads them back: through JSON, priors raw.
func restoreItems(t *testing.T, kr engine.KindReport) []engine.RestoreItem {
	t.Helper()
	var items []engine.RestoreItem
	for _, o := range kr.Outcomes {
		raw, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var back engine.Outcome
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		prior, _ := back.Prior.(engine.RawPrior)
		items = append(items, engine.RestoreItem{ID: back.ID, Prior: prior, Verb: back.Verb, Status: back.Status, Also: back.Also})
	}
	return items
}

func restoreResults(rs []engine.RestoreResult) map[string]engine.RestoreResult {
	m := map[string]engine.RestoreResult{}
	for _, r := range rs {
		m[r.ID] = r
	}
	return m
}

// The restore puts back the boundary a full principal had, or removes the
// quarantine boundary from one that had none, and detaches the policy
// from the others; a second restore finds everything as before.
func TestQuarantineRestorePutsBackBoundaries(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	a.iam.quota = 10
	ownerBoundary := "arn:aws:iam::" + fakeAccount + ":policy/owner-boundary"
	a.iam.fill("user/attacker", 10)
	a.iam.boundary["user/attacker"] = ownerBoundary
	a.iam.fill("role/attacker-ec2", 10)
	k := a.kind()
	items := restoreItems(t, sweepGlobal(t, k, a.policy()))

	plan := restoreResults(k.Restore(context.Background(), engine.GlobalRegion, items, true))
	if r := plan[a.attacker]; r.Status != engine.RestorePlanned || r.Action != "put back permissions boundary "+ownerBoundary {
		t.Errorf("dry run for the user: %+v", r)
	}
	if a.iam.boundary["user/attacker"] != quarantineARN {
		t.Fatal("the dry run changed the boundary")
	}

	got := restoreResults(k.Restore(context.Background(), engine.GlobalRegion, items, false))
	for _, tc := range []struct{ arn, entity, wantBoundary, action string }{
		{a.attacker, "user/attacker", ownerBoundary, "put back permissions boundary " + ownerBoundary},
		{a.attackerRole, "role/attacker-ec2", "", "remove the quarantine permissions boundary (it had none)"},
	} {
		if r := got[tc.arn]; r.Status != engine.RestoreDone || r.Action != tc.action {
			t.Errorf("%s: %+v, want %q done", tc.arn, r, tc.action)
		}
		if b, set := a.iam.boundary[tc.entity]; b != tc.wantBoundary || (tc.wantBoundary == "" && set) {
			t.Errorf("%s: boundary %q after the restore, want %q", tc.entity, b, tc.wantBoundary)
		}
	}
	if r := got[a.owner]; r.Status != engine.RestoreDone || a.iam.has("user/owner-admin", quarantineARN) {
		t.Errorf("owner: %+v, policy still attached %v", r, a.iam.has("user/owner-admin", quarantineARN))
	}
	for id, r := range restoreResults(k.Restore(context.Background(), engine.GlobalRegion, items, false)) {
		if r.Status != engine.RestoreAlready {
			t.Errorf("second restore of %s: %+v, want already as before", id, r)
		}
	}
}

// A manifest is not authenticated: an item naming another policy than the
// stack's is refused, whatever it claims, and nothing is detached.
func TestQuarantineRestoreRefusesAForeignPolicy(t *testing.T) {
	t.Parallel()
	foreign := "arn:aws:iam::" + fakeAccount + ":policy/owner-guardrail"
	prior := func(v any) engine.RawPrior {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for _, tc := range []struct {
		name string
		item func(a quarantineAccount) engine.RestoreItem
	}{
		{"attached policy", func(a quarantineAccount) engine.RestoreItem {
			return engine.RestoreItem{ID: a.owner, Verb: resources.VerbQuarantine(foreign), Status: engine.StatusDone,
				Prior: prior(resources.QuarantinePrior{PrincipalType: "user", PrincipalName: "owner-admin", PrincipalARN: a.owner, PolicyARN: foreign})}
		}},
		{"boundary", func(a quarantineAccount) engine.RestoreItem {
			return engine.RestoreItem{ID: a.owner, Verb: resources.VerbQuarantineBoundary(quarantineARN), Status: engine.StatusDone,
				Prior: prior(resources.QuarantinePrior{PrincipalType: "user", PrincipalName: "owner-admin", PrincipalARN: a.owner, PolicyARN: quarantineARN}),
				Also: []engine.Change{{Verb: resources.VerbQuarantineBoundary(quarantineARN), Prior: prior(resources.BoundaryPrior{
					PrincipalType: "user", PrincipalName: "owner-admin", PrincipalARN: a.owner, PolicyARN: foreign})}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newQuarantineAccount()
			a.iam.attached["user/owner-admin"] = []string{foreign}
			a.iam.boundary["user/owner-admin"] = foreign
			res := a.kind().Restore(context.Background(), engine.GlobalRegion, []engine.RestoreItem{tc.item(a)}, false)
			if len(res) != 1 || res[0].Status != engine.RestoreLeft || !strings.Contains(res[0].Detail, "refused") || !strings.Contains(res[0].Detail, foreign) {
				t.Errorf("results %+v, want the item refused naming %s", res, foreign)
			}
			if !a.iam.has("user/owner-admin", foreign) || a.iam.boundary["user/owner-admin"] != foreign {
				t.Error("the owner's own policy or boundary was removed")
			}
		})
	}
	t.Run("the kind's own ARN is not the stack's", func(t *testing.T) {
		t.Parallel()
		a := newQuarantineAccount()
		a.iam.attached["user/owner-admin"] = []string{foreign}
		k := resources.NewQuarantine(a.iam, resources.QuarantineOptions{PolicyARN: foreign})
		item := engine.RestoreItem{ID: a.owner, Prior: prior(resources.QuarantinePrior{PrincipalType: "user", PrincipalName: "owner-admin", PolicyARN: foreign})}
		res := k.Restore(context.Background(), engine.GlobalRegion, []engine.RestoreItem{item}, false)
		if len(res) != 1 || res[0].Status != engine.RestoreFailed || !a.iam.has("user/owner-admin", foreign) {
			t.Errorf("results %+v, want a refusal and the policy kept", res)
		}
	})
}

// gatedAttach holds every AttachUserPolicy until released, counting how
// many are in flight.
type gatedAttach struct {
	*fakeIAM
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	in, max int
}

func (g *gatedAttach) AttachUserPolicy(ctx context.Context, in *iam.AttachUserPolicyInput, o ...func(*iam.Options)) (*iam.AttachUserPolicyOutput, error) {
	g.mu.Lock()
	g.in++
	g.max = max(g.max, g.in)
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	g.mu.Lock()
	g.in--
	g.mu.Unlock()
	return g.fakeIAM.AttachUserPolicy(ctx, in, o...)
}

// IAM has no batch attach: the quarantine attaches a few at a time, never
// one by one (thousands of principals would take minutes) and never all at
// once (IAM throttles per account).
func TestQuarantineAttachesAFewAtATime(t *testing.T) {
	t.Parallel()
	f := newFakeIAM()
	for i := range 20 {
		f.addUser(fmt.Sprintf("user-%02d", i), time.Now())
	}
	g := &gatedAttach{fakeIAM: f, entered: make(chan struct{}, 20), release: make(chan struct{})}
	k := resources.NewQuarantine(g, resources.QuarantineOptions{PolicyARN: quarantineARN})
	done := make(chan engine.KindReport)
	go func() { done <- sweepGlobal(t, k, engine.Policy{}) }()
	// A hang guard only: the attaches arrive as soon as Contain runs.
	hang := time.After(time.Minute)
	for range 4 {
		select {
		case <-g.entered:
		case <-hang:
			t.Fatal("fewer than 4 attaches were ever in flight at once")
		}
	}
	close(g.release)
	kr := <-done
	if n := len(kr.IDs("quarantine policy attached")); n != 20 {
		t.Errorf("%d users quarantined, want 20", n)
	}
	if g.max != 4 {
		t.Errorf("at most %d attaches in flight, want 4", g.max)
	}
}

// An own role that holds the quarantine policy is bound by it: drift too,
// reported rather than skipped as already quarantined.
func TestQuarantineOwnRoleHoldingTheQuarantineIsReported(t *testing.T) {
	t.Parallel()
	a := newQuarantineAccount()
	a.iam.attached["role/"+guard.FunctionRoleName] = []string{quarantineARN}
	kr := sweepGlobal(t, a.kind(), a.policy())
	o, ok := outcomesByID(kr)[a.ownRole]
	if !ok || o.Status != engine.StatusFailed || o.Code != "OwnRoleDrift" || !strings.Contains(o.Message, "holds the quarantine policy") {
		t.Errorf("own role holding the quarantine: %+v (listed %v), want a drift failure", o, ok)
	}
}
