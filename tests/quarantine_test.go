package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/manifest"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/internal/trigger"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/faultproxy"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// motoAccount is the account moto's STS answers with; the quarantine
// policy's ARN is built from it before moto has the policy, exactly as the
// stack names the policy before it exists. createQuarantinePolicy checks
// that moto agrees.
const motoAccount = "123456789012"

// quarantinePolicyARN is the ARN the stack's policy gets in moto's account.
var quarantinePolicyARN = guard.Resolve(guard.QuarantinePolicyARN, "aws", moto.Region, motoAccount)

// Names of the principals the IAM seed creates.
const (
	minerUser       = "miner"            // the attacker's new user, with a key and a console password
	minerGroup      = "miners"           // a group the attacker made and joined
	minerRole       = "miner-ec2"        // the attacker's role for EC2 instances
	minerSwitchRole = "killswitch-miner" // the attacker's role hiding under the switch's own path
	ownerUser       = "owner-admin"      // the owner's admin user
	breakGlassRole  = "break-glass"      // named in breakGlassArns
	breakGlassUser  = "bg-admin"         // named in breakGlassArns, with a key of its own
	breakGlassGroup = "break-glass-admins"
)

// stackEnv is the function's environment as infra/stack.FunctionEnvironment
// writes it for the owner's settings s: the stack's latch parameter, its
// quarantine policy and its own budget and alarm names, all through the
// same settings table the function reads. (The infra package is too heavy
// to import here; infra/stack's TestFunctionEnvironment proves the
// template's environment is FunctionEnvironment's.) Empty values are left
// out, as the function's Load skips them, so that the rig's own notify
// topic, the SQS-backed inbox standing in for the stack's, stays wired.
func stackEnv(s settings.Settings, latchParameter string) map[string]string {
	s.LatchParameter = latchParameter
	s.QuarantinePolicyARN = quarantinePolicyARN
	s.BudgetName = guard.BudgetName
	s.AlarmName = guard.BillingAlarmName
	env := map[string]string{}
	for k, v := range s.Environment() {
		if v != "" {
			env[k] = v
		}
	}
	return env
}

// createQuarantinePolicy creates the quarantine policy in moto as the stack
// does: guard.QuarantineDocument with the stack's break-glass principals,
// resolved for moto's partition, region and account. infra/stack's
// TestQuarantinePolicyIsTheGuardDocument proves the synthesised template's
// policy is this same document, so the function here meets the policy it
// would meet when deployed.
func createQuarantinePolicy(t *testing.T, r *rig) {
	t.Helper()
	doc, err := json.Marshal(guard.QuarantineDocument(r.settings.BreakGlassARNs).Resolve("aws", moto.Region, motoAccount))
	if err != nil {
		t.Fatal(err)
	}
	out, err := iam.NewFromConfig(r.plain).CreatePolicy(context.Background(), &iam.CreatePolicyInput{
		PolicyName: aws.String(guard.QuarantinePolicyName), PolicyDocument: aws.String(string(doc)),
	})
	if err != nil {
		t.Fatalf("creating the quarantine policy: %v", err)
	}
	if got := aws.ToString(out.Policy.Arn); got != quarantinePolicyARN {
		t.Fatalf("moto named the policy %s; the function's environment says %s", got, quarantinePolicyARN)
	}
}

// iamSeed is what seedIAM created.
type iamSeed struct {
	arn      map[string]string // principal name -> ARN
	minerKey string
	bgKey    string
	// serviceLinked is the service-linked role's name, "" if moto could not
	// create one.
	serviceLinked string
}

// breakGlassARNs are the principals the owner lists in breakGlassArns.
func breakGlassARNs() []string {
	return []string{
		"arn:aws:iam::" + motoAccount + ":role/" + breakGlassRole,
		"arn:aws:iam::" + motoAccount + ":user/" + breakGlassUser,
	}
}

// seedIAM creates the account's IAM principals: the owner's and the
// break-glass principals, the kill switch's own roles as the stack creates
// them, a service-linked role, and what the attacker made with the stolen
// keys. moto cannot backdate a creation, so everything is "new" to the IAM
// trail; the owner's user therefore has no access key, standing in for an
// owner whose keys are older than the look-back window (the unit tests
// cover old keys with a fake clock).
func seedIAM(t *testing.T, r *rig) *iamSeed {
	t.Helper()
	return seedIAMWith(t, r, true)
}

// ownRoleTrust is the trust policy the stack gives each of its roles.
func ownRoleTrust(name string) string {
	switch name {
	case guard.ScheduleRoleName:
		// The stack's own document (guard.ScheduleRoleTrust), as deployed.
		doc, err := json.Marshal(guard.ScheduleRoleTrust().Resolve("aws", moto.Region, motoAccount))
		if err != nil {
			panic(err)
		}
		return string(doc)
	case guard.SlackRoleName:
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"chatbot.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	}
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
}

// seedIAMWith is seedIAM, with the Slack role among the stack's roles or
// not. The stack's roles are created with the trust the stack gives them,
// and their unique IDs go into the function's settings, as the stack
// writes them (KILLSWITCH_OWN_ROLE_IDS).
func seedIAMWith(t *testing.T, r *rig, slack bool) *iamSeed {
	t.Helper()
	ctx := context.Background()
	c := iam.NewFromConfig(r.plain)
	s := &iamSeed{arn: map[string]string{}}
	trust := func(service string) *string {
		return aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"` + service + `"},"Action":"sts:AssumeRole"}]}`)
	}
	user := func(name string) {
		out, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatalf("creating user %s: %v", name, err)
		}
		s.arn[name] = aws.ToString(out.User.Arn)
	}
	role := func(name, path, service string) {
		out, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(path), AssumeRolePolicyDocument: trust(service)})
		if err != nil {
			t.Fatalf("creating role %s%s: %v", path, name, err)
		}
		s.arn[name] = aws.ToString(out.Role.Arn)
	}
	group := func(name string, members ...string) {
		out, err := c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String(name)})
		if err != nil {
			t.Fatalf("creating group %s: %v", name, err)
		}
		s.arn[name] = aws.ToString(out.Group.Arn)
		for _, m := range members {
			if _, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String(name), UserName: aws.String(m)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	key := func(name string) string {
		out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatalf("creating an access key for %s: %v", name, err)
		}
		return aws.ToString(out.AccessKey.AccessKeyId)
	}

	// The owner's admin user. moto does not load AWS's managed policies
	// (AdministratorAccess), so an inline policy grants the same.
	user(ownerUser)
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(ownerUser), PolicyName: aws.String("admin"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	// The break-glass principals, and a group holding the user: a group's
	// policies bind its members, so that group must be spared too.
	role(breakGlassRole, "/", "ec2.amazonaws.com")
	user(breakGlassUser)
	s.bgKey = key(breakGlassUser)
	group(breakGlassGroup, breakGlassUser)
	// The kill switch's own roles, at the stack's fixed path and names,
	// known to the function by their unique IDs.
	r.settings.OwnRoleIDs = nil
	for _, name := range guard.OwnRoleNames {
		if name == guard.SlackRoleName && !slack {
			continue
		}
		out, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(guard.RolePath), AssumeRolePolicyDocument: aws.String(ownRoleTrust(name))})
		if err != nil {
			t.Fatalf("creating the stack's role %s: %v", name, err)
		}
		s.arn[name] = aws.ToString(out.Role.Arn)
		r.settings.OwnRoleIDs = append(r.settings.OwnRoleIDs, aws.ToString(out.Role.RoleId))
	}
	// A service-linked role: AWS owns it, and IAM refuses customer
	// policies on it.
	if out, err := c.CreateServiceLinkedRole(ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String("spot.amazonaws.com")}); err != nil {
		t.Logf("moto could not create a service-linked role, so that exclusion is left to the unit tests: %v", err)
	} else {
		s.serviceLinked = aws.ToString(out.Role.RoleName)
		if p := aws.ToString(out.Role.Path); !guard.AWSManagedRolePath(p) {
			t.Fatalf("service-linked role %s has path %q; the test relies on /aws-service-role/", s.serviceLinked, p)
		}
	}

	// The attacker, with the stolen keys: a user with a key and a console
	// password (no MFA), a group, a role for EC2, and a role that borrows
	// the switch's path in the hope of being taken for one of its own.
	user(minerUser)
	s.minerKey = key(minerUser)
	if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String(minerUser), Password: aws.String("Hunter2-hunter2!")}); err != nil {
		t.Fatal(err)
	}
	group(minerGroup, minerUser)
	role(minerRole, "/", "ec2.amazonaws.com")
	role(minerSwitchRole, guard.RolePath, "lambda.amazonaws.com")
	return s
}

// quarantined lists the principals of each type that have the quarantine
// policy, read back from IAM principal by principal (not through
// ListEntitiesForPolicy, which the quarantine itself uses).
func quarantined(t *testing.T, r *rig) map[string]bool {
	t.Helper()
	ctx := context.Background()
	c := iam.NewFromConfig(r.plain)
	has := func(policies []iamtypes.AttachedPolicy) bool {
		return slices.ContainsFunc(policies, func(p iamtypes.AttachedPolicy) bool { return aws.ToString(p.PolicyArn) == quarantinePolicyARN })
	}
	out := map[string]bool{}
	users, err := c.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Users {
		got, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: u.UserName})
		if err != nil {
			t.Fatal(err)
		}
		out[aws.ToString(u.UserName)] = has(got.AttachedPolicies)
	}
	groups, err := c.ListGroups(ctx, &iam.ListGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups {
		got, err := c.ListAttachedGroupPolicies(ctx, &iam.ListAttachedGroupPoliciesInput{GroupName: g.GroupName})
		if err != nil {
			t.Fatal(err)
		}
		out[aws.ToString(g.GroupName)] = has(got.AttachedPolicies)
	}
	roles, err := c.ListRoles(ctx, &iam.ListRolesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ro := range roles.Roles {
		got, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: ro.RoleName})
		if err != nil {
			t.Fatal(err)
		}
		out[aws.ToString(ro.RoleName)] = has(got.AttachedPolicies)
	}
	return out
}

func keyStatus(t *testing.T, r *rig, user, keyID string) iamtypes.StatusType {
	t.Helper()
	out, err := iam.NewFromConfig(r.plain).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range out.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) == keyID {
			return k.Status
		}
	}
	t.Fatalf("user %s has no access key %s", user, keyID)
	return ""
}

// jsonKind is one kind's part of the handler's JSON result, decoded from
// the JSON the Lambda returns and logs: the report the owner reads is that
// JSON, not the Go value.
type jsonKind struct {
	Kind     string `json:"kind"`
	Outcomes []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Verb   struct {
			Past string `json:"past"`
			Note string `json:"note"`
		} `json:"verb"`
		Note  string         `json:"note"`
		Prior map[string]any `json:"prior"`
	} `json:"outcomes"`
	Refused []engine.Refusal `json:"refused"`
}

// globalKinds decodes the account-wide kinds from the handler's result as
// JSON, in the order the engine ran them.
func globalKinds(t *testing.T, res *handler.Result) []jsonKind {
	t.Helper()
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Report struct {
			Regions []struct {
				Region string     `json:"region"`
				Kinds  []jsonKind `json:"kinds"`
			} `json:"regions"`
		} `json:"report"`
	}
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, rr := range decoded.Report.Regions {
		if rr.Region == engine.GlobalRegion {
			return rr.Kinds
		}
	}
	t.Fatalf("the report has no %q region: %s", engine.GlobalRegion, raw)
	return nil
}

func kindNamed(t *testing.T, kinds []jsonKind, name string) jsonKind {
	t.Helper()
	for _, k := range kinds {
		if k.Kind == name {
			return k
		}
	}
	t.Fatalf("the report has no %q kind", name)
	return jsonKind{}
}

func (k jsonKind) refusal(id string) (string, bool) {
	for _, r := range k.Refused {
		if r.ID == id {
			return r.Reason, true
		}
	}
	return "", false
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// One budget trip, with the stack's environment, quarantines every
// principal the attacker or the owner could act as, and none that the
// switch or the owner's way back in depends on. The IAM trail reports the
// attacker's new key and user either way, and deactivates the key only
// when the owner chose deactivateNewAccessKeys.
func TestQuarantineOnTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		deactivate bool
		wantKey    iamtypes.StatusType
	}{
		{"default leaves new keys active", false, iamtypes.StatusTypeActive},
		{"deactivateNewAccessKeys", true, iamtypes.StatusTypeInactive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner := settings.Default()
			owner.BreakGlassARNs = breakGlassARNs()
			owner.DeactivateNewAccessKeys = tc.deactivate
			r := newRig(t, attack.Plan{Regions: []string{moto.Region}, Instances: 2}, stackEnv(owner, ""))
			createQuarantinePolicy(t, r)
			seed := seedIAM(t, r)

			res, err := r.invoke(budgetActual)
			if err != nil {
				t.Fatalf("handler: %v", err)
			}
			if !res.Tripped || res.Report == nil {
				t.Fatalf("budget ACTUAL alert did not trip: %+v", res)
			}

			// Exactly the attacker's and the owner's principals have the
			// policy: the owner's too, since the attacker holds the owner's
			// leaked keys as far as the switch can tell.
			wantAttached := []string{minerGroup, minerRole, minerUser, ownerUser, minerSwitchRole}
			sort.Strings(wantAttached)
			got := quarantined(t, r)
			if g := sortedKeys(got); !slices.Equal(g, wantAttached) {
				t.Errorf("quarantine policy attached to %v, want exactly %v", g, wantAttached)
			}
			spared := append([]string{breakGlassRole, breakGlassUser, breakGlassGroup}, guard.OwnRoleNames...)
			if seed.serviceLinked != "" {
				spared = append(spared, seed.serviceLinked)
			}
			for _, name := range spared {
				if _, listed := got[name]; !listed {
					t.Errorf("%s was not found in IAM; the check that it is spared proves nothing", name)
				}
			}

			kinds := globalKinds(t, res)
			// Quarantine runs first, so the attacker loses the right to
			// launch before anything is stopped.
			if len(kinds) == 0 || kinds[0].Kind != "IAM principals" {
				t.Errorf("the first account-wide kind is not the quarantine: %+v", kinds)
			}
			q := kindNamed(t, kinds, "IAM principals")
			var attachedIDs []string
			for _, o := range q.Outcomes {
				attachedIDs = append(attachedIDs, o.ID)
				if o.Status != string(engine.StatusDone) || o.Verb.Past != "quarantine policy attached" {
					t.Errorf("quarantine outcome %s: %s %q", o.ID, o.Status, o.Verb.Past)
				}
				// The prior state is what a restore detaches from.
				if o.Prior["principalArn"] != o.ID || o.Prior["policyArn"] != quarantinePolicyARN || o.Prior["policyAttached"] != false {
					t.Errorf("quarantine outcome %s: prior state %v", o.ID, o.Prior)
				}
				// The owner is told how to lift it.
				if !strings.Contains(o.Verb.Note, "break-glass") || !strings.Contains(o.Verb.Note, "detach-user-policy") {
					t.Errorf("quarantine outcome %s does not say how to lift it: %q", o.ID, o.Verb.Note)
				}
			}
			var wantIDs []string
			for _, name := range wantAttached {
				wantIDs = append(wantIDs, seed.arn[name])
			}
			sort.Strings(wantIDs)
			sort.Strings(attachedIDs)
			if !slices.Equal(attachedIDs, wantIDs) {
				t.Errorf("report lists the quarantine attached to %v, want %v", attachedIDs, wantIDs)
			}
			// Each spared principal is in the report with why.
			for name, why := range map[string]string{
				breakGlassRole:         settings.EnvBreakGlassARNs,
				breakGlassUser:         settings.EnvBreakGlassARNs,
				breakGlassGroup:        "holds break-glass user " + breakGlassUser,
				guard.FunctionRoleName: "the kill switch's own role",
				guard.ScheduleRoleName: "the kill switch's own role",
				guard.SlackRoleName:    "the kill switch's own role",
			} {
				if reason, ok := q.refusal(seed.arn[name]); !ok || !strings.Contains(reason, why) {
					t.Errorf("%s: refusal %q (listed %v), want one saying %q", name, reason, ok, why)
				}
			}
			if seed.serviceLinked != "" {
				for _, k := range kinds {
					for _, ref := range k.Refused {
						if strings.Contains(ref.ID, seed.serviceLinked) {
							t.Errorf("%s: service-linked role %s listed (%s); AWS owns it, so it is not even a finding", k.Kind, ref.ID, ref.Reason)
						}
					}
					for _, o := range k.Outcomes {
						if strings.Contains(o.ID, seed.serviceLinked) {
							t.Errorf("%s: service-linked role %s acted on", k.Kind, o.ID)
						}
					}
				}
			}

			// The IAM trail: the attacker's new user, key and console
			// password are reported with the commands that remove them.
			trail := kindNamed(t, kinds, "IAM trail")
			if reason, ok := trail.refusal(seed.arn[minerUser]); !ok ||
				!strings.HasPrefix(reason, "report only: IAM user "+minerUser+" created") ||
				!strings.Contains(reason, "aws iam delete-user --user-name "+minerUser) {
				t.Errorf("the attacker's new user is not reported: %q (listed %v)", reason, ok)
			}
			if reason, ok := trail.refusal("login-profile/" + minerUser); !ok || !strings.Contains(reason, "NO MFA") {
				t.Errorf("the attacker's console password without MFA is not reported: %q (listed %v)", reason, ok)
			}
			deleteKey := "aws iam delete-access-key --user-name " + minerUser + " --access-key-id " + seed.minerKey
			var keyOutcome *string
			for _, o := range trail.Outcomes {
				if o.ID == seed.minerKey {
					note := o.Note
					keyOutcome = &note
					if o.Status != string(engine.StatusDone) || o.Verb.Past != "access key deactivated" || o.Prior["status"] != "Active" {
						t.Errorf("key outcome: %s %q, prior %v", o.Status, o.Verb.Past, o.Prior)
					}
				}
			}
			reason, refused := trail.refusal(seed.minerKey)
			if tc.deactivate {
				if keyOutcome == nil || !strings.Contains(*keyOutcome, deleteKey) || refused {
					t.Errorf("new key %s: outcome note %v, refused %v (%q); want deactivated with the command `%s`", seed.minerKey, keyOutcome, refused, reason, deleteKey)
				}
			} else if keyOutcome != nil || !strings.HasPrefix(reason, "report only (deactivateNewAccessKeys is off)") || !strings.Contains(reason, deleteKey) {
				t.Errorf("new key %s: acted on %v, refusal %q; want reported only, with the command `%s`", seed.minerKey, keyOutcome != nil, reason, deleteKey)
			}
			if got := keyStatus(t, r, minerUser, seed.minerKey); got != tc.wantKey {
				t.Errorf("the attacker's new key is %s, want %s", got, tc.wantKey)
			}
			// A break-glass key is never deactivated, whatever the setting.
			if reason, ok := trail.refusal(seed.bgKey); !ok || !strings.Contains(reason, "break-glass") {
				t.Errorf("break-glass key %s: refusal %q (listed %v), want one naming break-glass", seed.bgKey, reason, ok)
			}
			if got := keyStatus(t, r, breakGlassUser, seed.bgKey); got != iamtypes.StatusTypeActive {
				t.Errorf("the break-glass key is %s, want Active", got)
			}

			// The owner's notice names the new key (left alone, or counted
			// as deactivated) and how to lift the quarantine.
			msgs := r.notify.receive(t, 1)
			for _, want := range []string{"quarantine policy attached", "break-glass", "detach-user-policy"} {
				if !strings.Contains(msgs[0].Body, want) {
					t.Errorf("notification body lacks %q:\n%s", want, msgs[0].Body)
				}
			}
			if !tc.deactivate && !strings.Contains(msgs[0].Body, seed.minerKey) {
				t.Errorf("notification body does not name the new key %s:\n%s", seed.minerKey, msgs[0].Body)
			}
			if tc.deactivate && !strings.Contains(msgs[0].Body, "access key deactivated") {
				t.Errorf("notification body does not count the deactivated key:\n%s", msgs[0].Body)
			}
		})
	}
}

// The quarantine holds while the switch is tripped: a user the attacker
// creates after the trip (moto does not enforce the policy's Deny on
// iam:CreateUser, so it can) is quarantined by the schedule's next
// re-sweep, and the principals quarantined at the trip are not attached
// again.
func TestQuarantineResweepCatchesNewPrincipals(t *testing.T) {
	ctx := context.Background()
	owner := settings.Default()
	owner.BreakGlassARNs = breakGlassARNs()
	r := newRig(t, attack.Plan{Regions: []string{moto.Region}, Instances: 1}, stackEnv(owner, latchParameter))
	if _, err := ssm.NewFromConfig(r.plain).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(latchParameter),
		Value: aws.String(`{"tripped":false}`), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	createQuarantinePolicy(t, r)
	seed := seedIAM(t, r)

	if res, err := r.invoke(budgetActual); err != nil || !res.Tripped {
		t.Fatalf("trip: %v, %+v", err, res)
	}
	r.notify.receive(t, 1)
	if !quarantined(t, r)[minerUser] {
		t.Fatalf("the trip did not quarantine %s", minerUser)
	}

	// The attacker, still holding the keys, makes a fresh user.
	const late = "miner-late"
	out, err := iam.NewFromConfig(r.plain).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(late)})
	if err != nil {
		t.Fatal(err)
	}
	lateARN := aws.ToString(out.User.Arn)
	if quarantined(t, r)[late] {
		t.Fatalf("%s has the policy before any re-sweep; the test would prove nothing", late)
	}

	r.calls.Reset()
	res, err := r.invokeEvent(trigger.ScheduledEvent)
	if err != nil {
		t.Fatalf("re-sweep: %v", err)
	}
	if !res.RelaunchCaught || res.Report == nil {
		t.Fatalf("re-sweep result = %+v, want the new user caught", res)
	}
	got := quarantined(t, r)
	if !got[late] {
		t.Errorf("the user created after the trip has no quarantine policy after the re-sweep")
	}
	for _, name := range []string{minerUser, ownerUser, minerRole, minerGroup} {
		if !got[name] {
			t.Errorf("%s lost the quarantine policy", name)
		}
	}
	// Idempotent: one attach, for the new user; the rest already had it.
	if n := r.calls.Calls("IAM", "", "AttachUserPolicy"); n != 1 {
		t.Errorf("re-sweep made %d AttachUserPolicy calls, want 1 (the new user only)", n)
	}
	if n := r.calls.Calls("IAM", "", "AttachRolePolicy") + r.calls.Calls("IAM", "", "AttachGroupPolicy"); n != 0 {
		t.Errorf("re-sweep attached the policy to %d role(s) or group(s) again", n)
	}
	q := kindNamed(t, globalKinds(t, res), "IAM principals")
	if len(q.Outcomes) != 1 || q.Outcomes[0].ID != lateARN || q.Outcomes[0].Status != string(engine.StatusDone) {
		t.Errorf("re-sweep's quarantine outcomes = %+v, want only %s attached", q.Outcomes, lateARN)
	}
	if _, ok := q.refusal(seed.arn[minerUser]); ok {
		t.Errorf("re-sweep lists the already quarantined %s again", minerUser)
	}
	msgs := r.notify.receive(t, 1)
	if !strings.Contains(msgs[0].Subject, "RELAUNCH CAUGHT") || !strings.Contains(msgs[0].Body, "quarantine policy attached") {
		t.Errorf("re-sweep notification does not report the new quarantine: %q\n%s", msgs[0].Subject, msgs[0].Body)
	}
}

// A role with its 10 managed-policy slots full (IAM's default quota, which
// moto does not enforce: faultproxy's IAMPolicyQuota does) is quarantined
// through its permissions boundary: the report says so and names the
// boundary it replaced, moto's GetRole shows the quarantine as its
// boundary, and the restore, read from the trip's manifest, gives back the
// boundary it had. (A user takes the same path, but moto has no
// PutUserPermissionsBoundary; internal/resources covers the user against
// its fake IAM.)
func TestQuarantineFullRoleThroughItsBoundary(t *testing.T) {
	ctx := context.Background()
	owner := settings.Default()
	owner.BreakGlassARNs = breakGlassARNs()
	env := stackEnv(owner, "")
	env[settings.EnvManifestBucket] = manifestBucket
	r := newRig(t, attack.Plan{Regions: []string{moto.Region}, Instances: 1}, env)
	createQuarantinePolicy(t, r)
	seedIAM(t, r)
	if _, err := s3.NewFromConfig(r.plain).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(manifestBucket)}); err != nil {
		t.Fatal(err)
	}
	p := behindProxy(t, r, faultproxy.Config{IAMPolicyQuota: 10, NoRateLimits: true}, awsconfig.Options{})

	// The attacker's role: ten policies attached, and a boundary of the
	// owner's that the quarantine must replace and the restore put back.
	c := iam.NewFromConfig(r.plain)
	policy := func(name string) string {
		out, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Policy.Arn)
	}
	const full = "miner-full"
	previous := policy("owner-boundary")
	out, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(full), PermissionsBoundary: aws.String(previous),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	fullARN := aws.ToString(out.Role.Arn)
	for i := range 10 {
		if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(full), PolicyArn: aws.String(policy(fmt.Sprintf("miner-%d", i)))}); err != nil {
			t.Fatal(err)
		}
	}
	boundary := func() string {
		t.Helper()
		got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(full)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Role.PermissionsBoundary == nil {
			return ""
		}
		return aws.ToString(got.Role.PermissionsBoundary.PermissionsBoundaryArn)
	}

	res, err := r.invoke(budgetActual)
	if err != nil || !res.Tripped {
		t.Fatalf("trip: %v, %+v", err, res)
	}
	if n := p.Sum("iam", "", "AttachRolePolicy").OverQuota; n != 1 {
		t.Errorf("%d attaches answered LimitExceeded, want 1 (the full role's)", n)
	}
	if got := boundary(); got != quarantinePolicyARN {
		t.Errorf("the full role's boundary is %q after the trip, want the quarantine", got)
	}
	q := kindNamed(t, globalKinds(t, res), "IAM principals")
	found := false
	for _, o := range q.Outcomes {
		if o.ID != fullARN {
			continue
		}
		found = true
		if o.Status != string(engine.StatusDone) || o.Verb.Past != "quarantine set as permissions boundary" ||
			!strings.Contains(o.Note, "through its permissions boundary") || !strings.Contains(o.Note, "previous permissions boundary "+previous+" was replaced") {
			t.Errorf("the full role's outcome: %s %q, note %q", o.Status, o.Verb.Past, o.Note)
		}
	}
	if !found {
		t.Fatalf("no outcome for %s: %+v", fullARN, q.Outcomes)
	}
	if msgs := r.notify.receive(t, 1); !strings.Contains(msgs[0].Body, "quarantine set as permissions boundary") {
		t.Errorf("the owner's report does not count the boundary quarantine:\n%s", msgs[0].Body)
	}

	// The restore, from the trip's manifest, as the CLI runs it.
	a := app.New(r.plain, r.settings, slog.New(slog.NewJSONHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	trip, err := a.Manifests.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := a.Manifests.Load(ctx, trip)
	if err != nil {
		t.Fatal(err)
	}
	rep := manifest.Restore(ctx, loaded, a.Kinds, false)
	if err := rep.Err(); err != nil {
		t.Errorf("restore: %v", err)
	}
	var result *engine.RestoreResult
	for _, k := range rep.Kinds {
		for i, res := range k.Results {
			if res.ID == fullARN {
				result = &k.Results[i]
			}
		}
	}
	if result == nil || result.Status != engine.RestoreDone || result.Action != "put back permissions boundary "+previous {
		t.Errorf("restore of the full role: %+v", result)
	}
	if got := boundary(); got != previous {
		t.Errorf("the full role's boundary is %q after the restore, want %s back", got, previous)
	}
}

// With no Slack channel the stack has no Slack role: a role an attacker
// creates as /killswitch/killswitch-slack is not the stack's (its ID is not
// one the stack wrote), so it is quarantined, and the report says it is
// named like the switch's role; the stack's own roles are spared by ID.
func TestQuarantineRoleNamedLikeTheSwitchsIsNotSpared(t *testing.T) {
	owner := settings.Default()
	owner.BreakGlassARNs = breakGlassARNs()
	r := newRig(t, attack.Plan{Regions: []string{moto.Region}, Instances: 1}, stackEnv(owner, ""))
	createQuarantinePolicy(t, r)
	seed := seedIAMWith(t, r, false)
	out, err := iam.NewFromConfig(r.plain).CreateRole(context.Background(), &iam.CreateRoleInput{
		RoleName: aws.String(guard.SlackRoleName), Path: aws.String(guard.RolePath), AssumeRolePolicyDocument: aws.String(ownRoleTrust(guard.SlackRoleName))})
	if err != nil {
		t.Fatal(err)
	}
	impostor := aws.ToString(out.Role.Arn)

	res, err := r.invoke(budgetActual)
	if err != nil || !res.Tripped {
		t.Fatalf("trip: %v, %+v", err, res)
	}
	got := quarantined(t, r)
	if !got[guard.SlackRoleName] {
		t.Errorf("the impostor %s is not quarantined", impostor)
	}
	for _, name := range []string{guard.FunctionRoleName, guard.ScheduleRoleName} {
		if got[name] {
			t.Errorf("the stack's own role %s was quarantined", name)
		}
	}
	q := kindNamed(t, globalKinds(t, res), "IAM principals")
	var note *string
	for _, o := range q.Outcomes {
		if o.ID == impostor {
			n := o.Note
			note = &n
		}
		if o.Status == string(engine.StatusFailed) {
			t.Errorf("failed outcome %s: %+v", o.ID, o)
		}
	}
	if note == nil || !strings.Contains(*note, "named like the kill switch's own role") || !strings.Contains(*note, "not the stack's") {
		t.Errorf("impostor's outcome note %v, want it named like the switch's role but not the stack's", note)
	}
	for _, name := range []string{guard.FunctionRoleName, guard.ScheduleRoleName} {
		if reason, ok := q.refusal(seed.arn[name]); !ok || !strings.Contains(reason, "the kill switch's own role (ID AROA") {
			t.Errorf("%s: refusal %q (listed %v), want it spared by its ID", name, reason, ok)
		}
	}
	if msgs := r.notify.receive(t, 1); !strings.Contains(msgs[0].Body, "1 quarantine policy attached to a role named like the switch's") ||
		!strings.Contains(msgs[0].Body, "the stack did not create them") {
		t.Errorf("the owner's report does not tell the impostor apart:\n%s", msgs[0].Body)
	}
}
