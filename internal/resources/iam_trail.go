package resources

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
)

// IAMTrailAPI is the slice of the IAM client the IAM trail uses; unit tests
// put a fake behind it.
type IAMTrailAPI interface {
	iam.ListUsersAPIClient
	iam.ListRolesAPIClient
	iam.ListAccessKeysAPIClient
	iam.ListMFADevicesAPIClient
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	GetLoginProfile(ctx context.Context, in *iam.GetLoginProfileInput, optFns ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
}

// What the IAM trail reports, one Resource each.
const (
	FindingUser         = "user"
	FindingAccessKey    = "access-key"
	FindingConsoleLogin = "console-login"
	FindingRole         = "role"
)

// Attribute keys the IAM trail puts on a Resource. Find reads the clock and
// IAM; Decide only reads these.
const (
	attrFinding  = "finding"
	attrUserName = "user-name"
	attrUserARN  = "user-arn"
	attrUserID   = "user-id"
	attrRoleName = "role-name"
	attrCreated  = "created"   // "2006-01-02 15:04 UTC"
	attrLastUsed = "last-used" // "never", or when and where
	attrKeyState = "key-status"
	attrIsNew    = "new"    // "true" when created in the look-back window
	attrHasMFA   = "mfa"    // "true" or "false", console logins only
	attrLookback = "window" // "7 day(s)"
)

// VerbDeactivateKey is the IAM trail's one change, made only when the owner
// chose it: a deactivated key still exists and can be turned on again, so
// nothing is lost if it was the owner's.
var VerbDeactivateKey = engine.Verb{
	Past: "access key deactivated",
	Plan: "deactivate the access key",
	Note: "a deactivated key can no longer sign requests, but it still exists; once you are sure it is not yours, " +
		"delete it with `aws iam delete-access-key --user-name USER --access-key-id KEY` " +
		"(the JSON report's outcome note for each key gives its exact command)",
}

// AccessKeyPrior is an access key before it was deactivated: a restore
// turns it back on with `aws iam update-access-key --status Active`.
type AccessKeyPrior struct {
	UserName    string    `json:"userName"`
	UserARN     string    `json:"userArn"`
	AccessKeyID string    `json:"accessKeyId"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
}

func (p AccessKeyPrior) Describe() string {
	return fmt.Sprintf("%s key of user %s", p.Status, p.UserName)
}

// IAMTrailOptions are the owner's choices for the IAM trail.
type IAMTrailOptions struct {
	// Lookback is how far back "new" reaches.
	Lookback time.Duration
	// DeactivateNewAccessKeys deactivates active keys created in the
	// window, except the break-glass principals'.
	DeactivateNewAccessKeys bool
	BreakGlassARNs          []string
	// OwnRoleIDs are the unique IDs of the stack's own roles: only they are
	// left out as the switch's, never a role merely named like one.
	OwnRoleIDs []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Recheck, when positive, lets a re-sweep within it reuse what was
	// found for a user already examined instead of asking IAM again (see
	// recall). Zero examines every user every sweep: without the
	// quarantine nothing stops a user from adding keys between sweeps.
	Recheck time.Duration
}

// TrailRecheck is how long the trail trusts an examination when the
// quarantine holds (IAMTrailOptions.Recheck): two re-sweeps at the default
// ten minutes, then the user is examined again.
const TrailRecheck = 30 * time.Minute

// trailUserCalls bounds the users examined at once. IAM's control plane is
// one endpoint for the whole account, and its request rate is low and
// shared by every caller (the quarantine's attaches, the owner's tools, the
// attacker's): a few calls in flight make a large account several times
// faster without drawing throttling that would slow the quarantine too.
const trailUserCalls = 6

// IAMTrail reports what an attacker with stolen credentials typically
// leaves behind: IAM users, access keys, console passwords and roles
// created in the look-back window, and console users without MFA. It
// changes nothing unless DeactivateNewAccessKeys is on. Its findings are
// Leave decisions whose reason says what was found and the exact command
// to delete it, so they reach the owner's report as they are.
type IAMTrail struct {
	api        IAMTrailAPI
	opts       IAMTrailOptions
	breakGlass map[string]bool

	// examined remembers, by user ID, what the last examination of each
	// user found (Recheck only). It lives as long as this value: in Lambda
	// the warm container, never a process global.
	mu       sync.Mutex
	examined map[string]trailMemo
}

// trailMemo is one user's examination: when, the password's last use the
// listing gave then, and what it found.
type trailMemo struct {
	at           time.Time
	passwordUsed string
	found        []engine.Resource
}

var (
	_ engine.Kind   = (*IAMTrail)(nil)
	_ engine.Global = (*IAMTrail)(nil)
)

func NewIAMTrail(api IAMTrailAPI, opts IAMTrailOptions) *IAMTrail {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	bg := map[string]bool{}
	for _, a := range opts.BreakGlassARNs {
		bg[a] = true
	}
	return &IAMTrail{api: api, opts: opts, breakGlass: bg, examined: map[string]trailMemo{}}
}

func (*IAMTrail) Name() string { return "IAM trail" }
func (*IAMTrail) Noun() string { return "IAM finding" }
func (*IAMTrail) Global() bool { return true }

const trailTime = "2006-01-02 15:04 UTC"

// Find lists the trail. A failure on one user does not hide the others: it
// is reported with what was found.
func (k *IAMTrail) Find(ctx context.Context, _ string) ([]engine.Resource, error) {
	since := k.opts.Now().Add(-k.opts.Lookback)
	window := fmt.Sprintf("%d day(s)", int(k.opts.Lookback.Hours()/24))
	var found []engine.Resource
	var errs []error

	var listed []iamtypes.User
	users := iam.NewListUsersPaginator(k.api, &iam.ListUsersInput{})
	for users.HasMorePages() {
		page, err := users.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing IAM users: %w", err))
			break
		}
		listed = append(listed, page.Users...)
	}
	rs, err := k.examineUsers(ctx, listed, since, window)
	found = append(found, rs...)
	if err != nil {
		errs = append(errs, err)
	}
	roles := iam.NewListRolesPaginator(k.api, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing IAM roles: %w", err))
			break
		}
		for _, r := range page.Roles {
			path, name := aws.ToString(r.Path), aws.ToString(r.RoleName)
			// AWS's own roles and the kill switch's (by unique ID) are not
			// the attacker's.
			if !isNew(r.CreateDate, since) || guard.AWSManagedRolePath(path) ||
				(guard.OwnRole(path, name) && slices.Contains(k.opts.OwnRoleIDs, aws.ToString(r.RoleId))) {
				continue
			}
			lastUsed := "never"
			got, err := k.api.GetRole(ctx, &iam.GetRoleInput{RoleName: r.RoleName})
			switch {
			case err != nil:
				lastUsed = "unknown (" + errorCode(err) + ")"
				errs = append(errs, fmt.Errorf("reading IAM role %s: %w", name, err))
			case got.Role != nil && got.Role.RoleLastUsed != nil && got.Role.RoleLastUsed.LastUsedDate != nil:
				lastUsed = used(*got.Role.RoleLastUsed.LastUsedDate, "", aws.ToString(got.Role.RoleLastUsed.Region))
			}
			found = append(found, engine.Resource{
				ID: aws.ToString(r.Arn), State: "exists",
				Attributes: map[string]string{attrFinding: FindingRole, attrRoleName: name,
					attrCreated: stamp(r.CreateDate), attrLastUsed: lastUsed, attrIsNew: "true", attrLookback: window},
			})
		}
	}
	return found, errors.Join(errs...)
}

// examineUsers runs userFindings for each user, trailUserCalls at a time,
// and returns the findings in the users' order. A user examined within
// Recheck is not asked about again (recall). When ctx ends first, the users
// not examined are counted in an engine.NotReachedError; what the others,
// and those cut short, showed is still returned.
func (k *IAMTrail) examineUsers(ctx context.Context, users []iamtypes.User, since time.Time, window string) ([]engine.Resource, error) {
	now := k.opts.Now()
	k.prune(now)
	results := make([][]engine.Resource, len(users))
	errs := make([]error, len(users))
	reached := make([]bool, len(users))
	sem := make(chan struct{}, trailUserCalls)
	var wg sync.WaitGroup
	for i, u := range users {
		if rs, ok := k.recall(u, now); ok {
			results[i], reached[i] = rs, true
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue // not reached; later users may still be recalled
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rs, err := k.userFindings(ctx, u, since, window)
			results[i] = rs
			if err != nil && ctx.Err() != nil {
				return // cut short by the budget: not reached
			}
			errs[i], reached[i] = err, true
			if err == nil {
				k.remember(u, rs, now)
			}
		}()
	}
	wg.Wait()
	var found []engine.Resource
	missed := 0
	for i := range users {
		found = append(found, results[i]...)
		if !reached[i] {
			missed++
		}
	}
	if missed > 0 {
		errs = append(errs, &engine.NotReachedError{Count: missed, Of: len(users), What: "IAM user(s)", Err: ctx.Err()})
	}
	return found, errors.Join(errs...)
}

// recall returns what the last examination of u found, if it is recent
// enough to stand for a new one. Skipping the calls is safe because the
// trail runs again only in re-sweeps while the switch is tripped, when the
// deny-by-default quarantine holds every principal but break-glass: a
// quarantined user cannot have created an access key or a console password
// since. Always examined again: a user first seen (by its unique ID, so one
// deleted and re-created under the same name is new), a break-glass user
// (not quarantined), a user whose console password was used since the
// examination, one whose examination failed (never remembered), and one
// whose key the trail has just deactivated (forgotten by Contain). A
// principal the quarantine could not hold is reported by the quarantine;
// the memo lasts only Recheck, so the trail sees its new keys within that.
func (k *IAMTrail) recall(u iamtypes.User, now time.Time) ([]engine.Resource, bool) {
	if k.opts.Recheck <= 0 || k.breakGlass[aws.ToString(u.Arn)] {
		return nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	m, ok := k.examined[aws.ToString(u.UserId)]
	if !ok || now.Sub(m.at) >= k.opts.Recheck || now.Before(m.at) || m.passwordUsed != stampUsed(u.PasswordLastUsed) {
		return nil, false
	}
	return cloneResources(m.found), true
}

func (k *IAMTrail) remember(u iamtypes.User, found []engine.Resource, now time.Time) {
	if k.opts.Recheck <= 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.examined[aws.ToString(u.UserId)] = trailMemo{at: now, passwordUsed: stampUsed(u.PasswordLastUsed), found: cloneResources(found)}
}

// prune drops what is too old to recall, so the memo never outgrows the
// account's current users.
func (k *IAMTrail) prune(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, m := range k.examined {
		if now.Sub(m.at) >= k.opts.Recheck || now.Before(m.at) {
			delete(k.examined, id)
		}
	}
}

func (k *IAMTrail) forget(userID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.examined, userID)
}

func stampUsed(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func cloneResources(rs []engine.Resource) []engine.Resource {
	out := make([]engine.Resource, len(rs))
	for i, r := range rs {
		r.Attributes = maps.Clone(r.Attributes)
		out[i] = r
	}
	return out
}

// userFindings reports one user: the user if new, its new access keys, and
// its console password if new or without MFA.
func (k *IAMTrail) userFindings(ctx context.Context, u iamtypes.User, since time.Time, window string) ([]engine.Resource, error) {
	name, arn := aws.ToString(u.UserName), aws.ToString(u.Arn)
	base := func(finding string) map[string]string {
		return map[string]string{attrFinding: finding, attrUserName: name, attrUserARN: arn, attrUserID: aws.ToString(u.UserId), attrLookback: window}
	}
	passwordUsed := "never"
	if u.PasswordLastUsed != nil {
		passwordUsed = used(*u.PasswordLastUsed, "", "")
	}
	var found []engine.Resource
	var errs []error
	if isNew(u.CreateDate, since) {
		a := base(FindingUser)
		a[attrCreated], a[attrLastUsed], a[attrIsNew] = stamp(u.CreateDate), passwordUsed, "true"
		found = append(found, engine.Resource{ID: arn, State: "exists", Attributes: a})
	}

	keys := iam.NewListAccessKeysPaginator(k.api, &iam.ListAccessKeysInput{UserName: u.UserName})
	for keys.HasMorePages() {
		page, err := keys.NextPage(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing the access keys of IAM user %s: %w", name, err))
			break
		}
		for _, key := range page.AccessKeyMetadata {
			if !isNew(key.CreateDate, since) {
				continue
			}
			id := aws.ToString(key.AccessKeyId)
			lastUsed := "never"
			got, err := k.api.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: key.AccessKeyId})
			switch {
			case err != nil:
				lastUsed = "unknown (" + errorCode(err) + ")"
				errs = append(errs, fmt.Errorf("reading when access key %s was last used: %w", id, err))
			case got.AccessKeyLastUsed != nil && got.AccessKeyLastUsed.LastUsedDate != nil:
				lastUsed = used(*got.AccessKeyLastUsed.LastUsedDate, aws.ToString(got.AccessKeyLastUsed.ServiceName), aws.ToString(got.AccessKeyLastUsed.Region))
			}
			a := base(FindingAccessKey)
			a[attrCreated], a[attrLastUsed], a[attrKeyState], a[attrIsNew] = stamp(key.CreateDate), lastUsed, string(key.Status), "true"
			found = append(found, engine.Resource{ID: id, State: string(key.Status), Attributes: a,
				Prior: AccessKeyPrior{UserName: name, UserARN: arn, AccessKeyID: id, Status: string(key.Status), Created: aws.ToTime(key.CreateDate).UTC()}})
		}
	}

	profile, err := k.api.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: u.UserName})
	switch {
	case errorCode(err) == "NoSuchEntity":
		return found, errors.Join(errs...) // no console password
	case err != nil:
		return found, errors.Join(append(errs, fmt.Errorf("reading the console password of IAM user %s: %w", name, err))...)
	}
	mfa := iam.NewListMFADevicesPaginator(k.api, &iam.ListMFADevicesInput{UserName: u.UserName})
	hasMFA := false
	for mfa.HasMorePages() && !hasMFA {
		page, err := mfa.NextPage(ctx)
		if err != nil {
			return found, errors.Join(append(errs, fmt.Errorf("listing the MFA devices of IAM user %s: %w", name, err))...)
		}
		hasMFA = len(page.MFADevices) > 0
	}
	var created *time.Time
	if profile.LoginProfile != nil {
		created = profile.LoginProfile.CreateDate
	}
	if newProfile := isNew(created, since); newProfile || !hasMFA {
		a := base(FindingConsoleLogin)
		a[attrCreated], a[attrLastUsed] = stamp(created), passwordUsed
		a[attrIsNew], a[attrHasMFA] = fmt.Sprint(newProfile), fmt.Sprint(hasMFA)
		found = append(found, engine.Resource{ID: "login-profile/" + name, State: "exists", Attributes: a})
	}
	return found, errors.Join(errs...)
}

func isNew(t *time.Time, since time.Time) bool { return t != nil && !t.Before(since) }

func stamp(t *time.Time) string {
	if t == nil {
		return "at an unknown time"
	}
	return t.UTC().Format(trailTime)
}

func used(t time.Time, service, region string) string {
	s := t.UTC().Format(trailTime)
	if service != "" && service != "N/A" {
		s += " (" + service
		if region != "" && region != "N/A" {
			s += ", " + region
		}
		s += ")"
	} else if region != "" && region != "N/A" {
		s += " (" + region + ")"
	}
	return s
}

// DeleteKeyCommand is the command that deletes one access key.
func DeleteKeyCommand(user, keyID string) string {
	return "aws iam delete-access-key --user-name " + user + " --access-key-id " + keyID
}

// Decide reports each finding with the command that removes it, and
// deactivates new active keys when the owner chose it.
func (k *IAMTrail) Decide(r engine.Resource) engine.Decision {
	a := r.Attributes
	user, window := a[attrUserName], a[attrLookback]
	switch a[attrFinding] {
	case FindingUser:
		return engine.Leave(r, fmt.Sprintf("report only: IAM user %s created %s (in the last %s), console password last used %s. "+
			"If it is not yours, delete it: `aws iam delete-user --user-name %s` (first its access keys, console password, MFA devices, policies and group memberships)",
			user, a[attrCreated], window, a[attrLastUsed], user))
	case FindingAccessKey:
		del := DeleteKeyCommand(user, r.ID)
		what := fmt.Sprintf("access key %s of IAM user %s created %s (in the last %s), %s, last used %s",
			r.ID, user, a[attrCreated], window, a[attrKeyState], a[attrLastUsed])
		switch {
		case a[attrKeyState] != string(iamtypes.StatusTypeActive):
			return engine.Leave(r, "report only: "+what+". If it is not yours, delete it: `"+del+"`")
		case k.breakGlass[a[attrUserARN]]:
			return engine.Leave(r, "report only: "+what+"; a break-glass principal's key is never deactivated. If it is not yours, delete it: `"+del+"`")
		case !k.opts.DeactivateNewAccessKeys:
			return engine.Leave(r, "report only (deactivateNewAccessKeys is off): "+what+". If it is not yours, delete it: `"+del+"`")
		}
		return engine.Act(r, VerbDeactivateKey, what+"; once sure it is not yours, delete it: `"+del+"`")
	case FindingConsoleLogin:
		mfa := "has MFA"
		if a[attrHasMFA] != "true" {
			mfa = "NO MFA"
		}
		created := "created " + a[attrCreated]
		if a[attrIsNew] == "true" {
			created += " (in the last " + window + ")"
		}
		return engine.Leave(r, fmt.Sprintf("report only: console password of IAM user %s, %s, %s, last used %s. "+
			"If the user is not yours, delete the password: `aws iam delete-login-profile --user-name %s`; if it is, turn on MFA",
			user, created, mfa, a[attrLastUsed], user))
	case FindingRole:
		role := a[attrRoleName]
		return engine.Leave(r, fmt.Sprintf("report only: IAM role %s created %s (in the last %s), last used %s. "+
			"If it is not yours, delete it: `aws iam delete-role --role-name %s` (first its policies and instance profiles)",
			role, a[attrCreated], window, a[attrLastUsed], role))
	}
	return engine.Leave(r, "report only: unknown IAM finding "+a[attrFinding])
}

// Contain deactivates keys, one call each. The outcome's note is the exact
// command that deletes the key.
func (k *IAMTrail) Contain(ctx context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	out := make([]engine.Outcome, 0, len(todo))
	for _, d := range todo {
		user := d.Resource.Attributes[attrUserName]
		// The next sweep reads the key's new state from IAM.
		k.forget(d.Resource.Attributes[attrUserID])
		o := engine.Outcome{ID: d.Resource.ID, Verb: VerbDeactivateKey, Prior: d.Resource.Prior, Status: engine.StatusDone,
			Note: "delete it: " + DeleteKeyCommand(user, d.Resource.ID)}
		_, err := k.api.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(user), AccessKeyId: aws.String(d.Resource.ID), Status: iamtypes.StatusTypeInactive,
		})
		if err != nil {
			o.Code, o.Message = errorCode(err), err.Error()
			o.Status = engine.StatusFailed
			if o.Code == "NoSuchEntity" {
				o.Status = engine.StatusGone
			}
		}
		out = append(out, o)
	}
	return out
}
