package resources_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/resources"
)

// trailNow is the trail's clock in these tests; the fake's dates are fixed
// around it, so nothing depends on the wall clock.
var trailNow = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

// trailAccount: an owner with an old user, old key and a console password
// with MFA; an attacker's new user with a new key (used), a new console
// password without MFA, a new role; a new key on the owner's old user; a
// break-glass user's new key; the switch's own new role and an AWS
// service-linked role, neither of which is the attacker's.
func trailAccount() (*fakeIAM, string) {
	f := newFakeIAM()
	old := trailNow.AddDate(0, -6, 0)
	f.addUser("owner-admin", old)
	f.addKey("owner-admin", "AKIAOWNEROLD", old, iamtypes.StatusTypeActive)
	f.addKey("owner-admin", "AKIAOWNERNEW", trailNow.Add(-2*time.Hour), iamtypes.StatusTypeActive)
	f.logins["owner-admin"] = old
	f.mfa["owner-admin"] = true
	f.addUser("attacker", trailNow.Add(-3*time.Hour))
	f.addKey("attacker", "AKIAATTACKER", trailNow.Add(-3*time.Hour), iamtypes.StatusTypeActive)
	f.keyUsed["AKIAATTACKER"] = trailNow.Add(-time.Hour)
	f.addKey("attacker", "AKIAINACTIVE", trailNow.Add(-3*time.Hour), iamtypes.StatusTypeInactive)
	f.logins["attacker"] = trailNow.Add(-3 * time.Hour)
	f.addUser("old-console", old)
	f.logins["old-console"] = old
	bg := f.addUser("break-glass", old)
	f.addKey("break-glass", "AKIABREAKGLASS", trailNow.Add(-time.Hour), iamtypes.StatusTypeActive)
	f.addRole("/", "attacker-ec2", trailNow.Add(-3*time.Hour))
	f.roleUsed["attacker-ec2"] = trailNow.Add(-30 * time.Minute)
	f.addRole("/", "owner-old-role", old)
	f.addRole(guard.RolePath, guard.FunctionRoleName, trailNow.Add(-time.Hour))
	f.addRole("/aws-service-role/spot.amazonaws.com/", "AWSServiceRoleForEC2Spot", trailNow.Add(-time.Hour))
	return f, bg
}

func TestIAMTrailReportsWhatTheAttackerLeft(t *testing.T) {
	t.Parallel()
	for _, deactivate := range []bool{false, true} {
		name := map[bool]string{false: "report only", true: "deactivateNewAccessKeys"}[deactivate]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, bg := trailAccount()
			k := resources.NewIAMTrail(f, resources.IAMTrailOptions{
				Lookback: 7 * 24 * time.Hour, DeactivateNewAccessKeys: deactivate, BreakGlassARNs: []string{bg},
				OwnRoleIDs: []string{"AROA" + guard.FunctionRoleName}, Now: func() time.Time { return trailNow },
			})
			kr := sweepGlobal(t, k, engine.Policy{})
			if kr.Error != "" {
				t.Fatalf("trail error: %s", kr.Error)
			}
			refused := refusals(kr)
			user := "arn:aws:iam::" + fakeAccount + ":user/attacker"
			role := "arn:aws:iam::" + fakeAccount + ":role/attacker-ec2"
			// Each finding says what, when, last use and the delete command.
			want := map[string][]string{
				user:                        {"IAM user attacker created 2026-11-02 09:00 UTC", "last used never", "aws iam delete-user --user-name attacker"},
				"AKIAINACTIVE":              {"Inactive", "aws iam delete-access-key --user-name attacker --access-key-id AKIAINACTIVE"},
				"AKIABREAKGLASS":            {"break-glass principal's key is never deactivated", "aws iam delete-access-key --user-name break-glass --access-key-id AKIABREAKGLASS"},
				"login-profile/attacker":    {"console password of IAM user attacker", "created 2026-11-02 09:00 UTC (in the last 7 day(s))", "NO MFA", "aws iam delete-login-profile --user-name attacker"},
				"login-profile/old-console": {"NO MFA", "created 2026-05-02 12:00 UTC"},
				role:                        {"IAM role attacker-ec2 created 2026-11-02 09:00 UTC", "last used 2026-11-02 11:30 UTC (us-east-1)", "aws iam delete-role --role-name attacker-ec2"},
			}
			newKeys := map[string][]string{
				"AKIAATTACKER": {"created 2026-11-02 09:00 UTC", "last used 2026-11-02 11:00 UTC (ec2, ap-east-1)", "aws iam delete-access-key --user-name attacker --access-key-id AKIAATTACKER"},
				"AKIAOWNERNEW": {"of IAM user owner-admin", "last used never", "aws iam delete-access-key --user-name owner-admin --access-key-id AKIAOWNERNEW"},
			}
			if !deactivate {
				for id, w := range newKeys {
					want[id] = append(w, "deactivateNewAccessKeys is off")
				}
			}
			for id, parts := range want {
				for _, p := range parts {
					if !strings.Contains(refused[id], p) {
						t.Errorf("%s: reason %q lacks %q", id, refused[id], p)
					}
				}
			}
			if len(refused) != len(want) {
				t.Errorf("%d findings, want %d (no old user, old key, MFA console user, old role, own role or service-linked role): %v", len(refused), len(want), refused)
			}

			got := outcomesByID(kr)
			if !deactivate {
				if len(kr.Outcomes) != 0 || len(f.calls) == 0 {
					t.Errorf("report only made %d changes", len(kr.Outcomes))
				}
				for _, c := range f.calls {
					if c == "UpdateAccessKey" {
						t.Error("report only called UpdateAccessKey")
					}
				}
				return
			}
			for id, parts := range newKeys {
				o := wantOutcome(t, got, id, engine.StatusDone, resources.VerbDeactivateKey, "")
				if !strings.Contains(o.Note, parts[2]) {
					t.Errorf("%s: outcome note %q lacks the delete command", id, o.Note)
				}
				if p, ok := o.Prior.(resources.AccessKeyPrior); !ok || p.Status != "Active" || p.AccessKeyID != id {
					t.Errorf("%s: prior %#v, want the active key", id, o.Prior)
				}
			}
			if len(kr.Outcomes) != 2 {
				t.Errorf("%d keys deactivated, want 2 (not the inactive one, not break-glass's)", len(kr.Outcomes))
			}
			for user, keys := range f.keys {
				for _, key := range keys {
					wantStatus := iamtypes.StatusTypeActive
					if _, deactivated := newKeys[*key.AccessKeyId]; deactivated || *key.AccessKeyId == "AKIAINACTIVE" {
						wantStatus = iamtypes.StatusTypeInactive
					}
					if key.Status != wantStatus {
						t.Errorf("%s key %s: %s, want %s", user, *key.AccessKeyId, key.Status, wantStatus)
					}
				}
			}
		})
	}
}

// One user's failing call is reported, and the rest of the trail still is.
func TestIAMTrailListingFailureKeepsTheRest(t *testing.T) {
	t.Parallel()
	f, _ := trailAccount()
	f.errs["GetLoginProfile"] = apiErr("AccessDenied")
	k := resources.NewIAMTrail(f, resources.IAMTrailOptions{Lookback: 7 * 24 * time.Hour, Now: func() time.Time { return trailNow }})
	kr := sweepGlobal(t, k, engine.Policy{})
	if !strings.Contains(kr.Error, "AccessDenied") {
		t.Errorf("error %q, want the AccessDenied", kr.Error)
	}
	if _, ok := refusals(kr)["AKIAATTACKER"]; !ok {
		t.Errorf("the attacker's key is missing after an unrelated failure: %v", refusals(kr))
	}
}

// countCalls counts the calls named op since from.
func (f *fakeIAM) countCalls(op string, from int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls[from:] {
		if c == op {
			n++
		}
	}
	return n
}

func (f *fakeIAM) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// While the quarantine holds (Recheck), a re-sweep reuses what it found
// for users it examined recently, with the same report; a break-glass user,
// a newcomer, a user whose key it deactivated and every user once Recheck
// has passed are examined again.
func TestIAMTrailSkipsRecentlyExaminedUsers(t *testing.T) {
	t.Parallel()
	for _, deactivate := range []bool{false, true} {
		t.Run(map[bool]string{false: "report only", true: "deactivateNewAccessKeys"}[deactivate], func(t *testing.T) {
			t.Parallel()
			f, bg := trailAccount()
			now := trailNow
			k := resources.NewIAMTrail(f, resources.IAMTrailOptions{
				Lookback: 7 * 24 * time.Hour, BreakGlassARNs: []string{bg}, DeactivateNewAccessKeys: deactivate,
				Now: func() time.Time { return now }, Recheck: resources.TrailRecheck,
			})
			sweepGlobal(t, k, engine.Policy{})
			// What a fresh examination reports now (keys deactivated or not).
			fresh := refusals(sweepGlobal(t, resources.NewIAMTrail(f, resources.IAMTrailOptions{
				Lookback: 7 * 24 * time.Hour, BreakGlassARNs: []string{bg}, Now: func() time.Time { return now }}), engine.Policy{}))

			now = trailNow.Add(10 * time.Minute)
			from := f.callCount()
			kr := sweepGlobal(t, k, engine.Policy{})
			if got := refusals(kr); !reflect.DeepEqual(got, fresh) || len(kr.Outcomes) != 0 {
				t.Errorf("re-sweep reported %v with %d change(s), want what a fresh look reports: %v", got, len(kr.Outcomes), fresh)
			}
			// Deactivating forgets the users whose keys changed: owner-admin
			// and attacker are examined again on the first re-sweep only.
			wantLists := 1 // break-glass
			if deactivate {
				wantLists = 3
			}
			if n := f.countCalls("GetLoginProfile", from); n != wantLists {
				t.Errorf("re-sweep examined %d user(s), want %d", n, wantLists)
			}

			f.mu.Lock()
			f.addUser("newcomer", now.Add(-time.Minute))
			f.addKey("newcomer", "AKIANEWCOMER", now.Add(-time.Minute), iamtypes.StatusTypeActive)
			f.mu.Unlock()
			now = trailNow.Add(20 * time.Minute)
			from = f.callCount()
			kr = sweepGlobal(t, k, engine.Policy{})
			if _, ok := refusals(kr)["AKIANEWCOMER"]; !ok && !deactivate {
				t.Errorf("the newcomer's key is not reported: %v", refusals(kr))
			}
			if deactivate && len(kr.IDs(resources.VerbDeactivateKey.Past)) != 1 {
				t.Errorf("the newcomer's key was not deactivated: %+v", kr.Outcomes)
			}
			if n := f.countCalls("GetLoginProfile", from); n != 2 {
				t.Errorf("examined %d user(s), want 2 (break-glass, newcomer)", n)
			}

			now = trailNow.Add(20*time.Minute + resources.TrailRecheck)
			from = f.callCount()
			sweepGlobal(t, k, engine.Policy{})
			if n := f.countCalls("GetLoginProfile", from); n != 5 {
				t.Errorf("after Recheck, examined %d user(s), want all 5", n)
			}
		})
	}
}

// A new role named like the switch's own, whose ID the stack did not
// write, is the attacker's hiding place: the trail reports it.
func TestIAMTrailReportsARoleNamedLikeTheSwitchs(t *testing.T) {
	t.Parallel()
	f := newFakeIAM()
	f.addRole(guard.RolePath, guard.FunctionRoleName, trailNow.Add(-time.Hour))
	f.addRole(guard.RolePath, guard.SlackRoleName, trailNow.Add(-time.Hour))
	k := resources.NewIAMTrail(f, resources.IAMTrailOptions{Lookback: 7 * 24 * time.Hour,
		OwnRoleIDs: []string{"AROA" + guard.FunctionRoleName}, Now: func() time.Time { return trailNow }})
	kr := sweepGlobal(t, k, engine.Policy{})
	if kr.Error != "" {
		t.Fatalf("trail error: %s", kr.Error)
	}
	found := refusals(kr)
	own := "arn:aws:iam::" + fakeAccount + ":role" + guard.RolePath + guard.FunctionRoleName
	impostor := "arn:aws:iam::" + fakeAccount + ":role" + guard.RolePath + guard.SlackRoleName
	if _, ok := found[own]; ok {
		t.Errorf("the stack's own role (by ID) is reported: %v", found)
	}
	if _, ok := found[impostor]; !ok || len(found) != 1 {
		t.Errorf("findings %v, want only the impostor %s", found, impostor)
	}
}
