package resources_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// fakeCredIAM adds service-specific credentials to fakeIAM (moto has no
// such API). allUsersErr refuses the AllUsers listing, so the kind falls
// back to one listing per user; gate, when set, runs before each listing.
type fakeCredIAM struct {
	*fakeIAM
	credMu      sync.Mutex
	creds       []iamtypes.ServiceSpecificCredentialMetadata
	allUsersErr error
	listed      []string // "*" for AllUsers, else the user name
	updates     []string
	gate        func(ctx context.Context) error
}

var (
	_ resources.IAMServiceCredentialsAPI        = (*fakeCredIAM)(nil)
	_ resources.IAMServiceCredentialsRestoreAPI = (*fakeCredIAM)(nil)
)

func (f *fakeCredIAM) addCred(user, id, service string, status iamtypes.StatusType) {
	f.creds = append(f.creds, iamtypes.ServiceSpecificCredentialMetadata{UserName: aws.String(user), ServiceSpecificCredentialId: aws.String(id),
		ServiceName: aws.String(service), Status: status, CreateDate: aws.Time(trailNow.Add(-time.Hour))})
}

func (f *fakeCredIAM) status(id string) iamtypes.StatusType {
	f.credMu.Lock()
	defer f.credMu.Unlock()
	for _, c := range f.creds {
		if aws.ToString(c.ServiceSpecificCredentialId) == id {
			return c.Status
		}
	}
	return ""
}

func (f *fakeCredIAM) ListServiceSpecificCredentials(ctx context.Context, in *iam.ListServiceSpecificCredentialsInput, _ ...func(*iam.Options)) (*iam.ListServiceSpecificCredentialsOutput, error) {
	if f.gate != nil {
		if err := f.gate(ctx); err != nil {
			return nil, err
		}
	}
	f.credMu.Lock()
	defer f.credMu.Unlock()
	all := aws.ToBool(in.AllUsers)
	if all {
		f.listed = append(f.listed, "*")
		if f.allUsersErr != nil {
			return nil, f.allUsersErr
		}
	} else {
		f.listed = append(f.listed, aws.ToString(in.UserName))
	}
	var items []iamtypes.ServiceSpecificCredentialMetadata
	for _, c := range f.creds {
		if all || aws.ToString(c.UserName) == aws.ToString(in.UserName) {
			items = append(items, c)
		}
	}
	items, next := cpage(items, in.Marker, 2)
	return &iam.ListServiceSpecificCredentialsOutput{ServiceSpecificCredentials: items, Marker: next, IsTruncated: next != nil}, nil
}

func (f *fakeCredIAM) UpdateServiceSpecificCredential(_ context.Context, in *iam.UpdateServiceSpecificCredentialInput, _ ...func(*iam.Options)) (*iam.UpdateServiceSpecificCredentialOutput, error) {
	f.credMu.Lock()
	defer f.credMu.Unlock()
	f.updates = append(f.updates, aws.ToString(in.ServiceSpecificCredentialId)+" "+string(in.Status))
	for i, c := range f.creds {
		if aws.ToString(c.ServiceSpecificCredentialId) == aws.ToString(in.ServiceSpecificCredentialId) && aws.ToString(c.UserName) == aws.ToString(in.UserName) {
			f.creds[i].Status = in.Status
			return &iam.UpdateServiceSpecificCredentialOutput{}, nil
		}
	}
	return nil, apiErr("NoSuchEntity")
}

// credAccount: the attacker's Bedrock API key and CodeCommit credential,
// the owner's Bedrock key already inactive, a break-glass user's key.
func credAccount() (*fakeCredIAM, string) {
	f := &fakeCredIAM{fakeIAM: newFakeIAM()}
	old := trailNow.AddDate(-1, 0, 0)
	f.addUser("attacker", trailNow.Add(-2*time.Hour))
	f.addUser("owner-admin", old)
	bg := f.addUser("break-glass", old)
	f.addCred("attacker", "ACCABEDROCK", "bedrock.amazonaws.com", iamtypes.StatusTypeActive)
	f.addCred("attacker", "ACCACODECOMMIT", "codecommit.amazonaws.com", iamtypes.StatusTypeActive)
	f.addCred("owner-admin", "ACCAOWNEROFF", "bedrock.amazonaws.com", iamtypes.StatusTypeInactive)
	f.addCred("break-glass", "ACCABREAKGLASS", "bedrock.amazonaws.com", iamtypes.StatusTypeActive)
	return f, bg
}

func TestIAMServiceCredentialsDeactivatesAndRestores(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		allUsersErr error
		wantListed  string
	}{
		{"one listing of all users (two pages)", nil, "*,*"},
		{"per user when AllUsers is refused", apiErr("ValidationError"), "*,attacker,owner-admin,break-glass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, bg := credAccount()
			f.allUsersErr = tc.allUsersErr
			k := resources.NewIAMServiceCredentials(f, resources.ServiceCredentialOptions{BreakGlassARNs: []string{bg}})

			kr := sweepGlobal(t, k, engine.Policy{})

			if kr.Error != "" || kr.Found != 3 {
				t.Fatalf("found %d (want 3 active), error %q", kr.Found, kr.Error)
			}
			if got := strings.Join(f.listed, ","); got != tc.wantListed && !(tc.allUsersErr != nil && sameSet(got, tc.wantListed)) {
				t.Errorf("listed %s, want %s", got, tc.wantListed)
			}
			got := outcomesByID(kr)
			for id, service := range map[string]string{"ACCABEDROCK": "bedrock.amazonaws.com", "ACCACODECOMMIT": "codecommit.amazonaws.com"} {
				o := wantOutcome(t, got, id, engine.StatusDone, resources.VerbDeactivateCredential, "")
				p, ok := o.Prior.(resources.ServiceCredentialPrior)
				if !ok || p != (resources.ServiceCredentialPrior{UserName: "attacker", UserARN: "arn:aws:iam::" + fakeAccount + ":user/attacker",
					CredentialID: id, ServiceName: service, Status: "Active"}) {
					t.Errorf("%s: prior %#v", id, o.Prior)
				}
				if f.status(id) != iamtypes.StatusTypeInactive {
					t.Errorf("%s is %s after the sweep", id, f.status(id))
				}
			}
			if len(kr.Outcomes) != 2 {
				t.Errorf("%d outcomes, want 2: %+v", len(kr.Outcomes), kr.Outcomes)
			}
			if r := refusals(kr)["ACCABREAKGLASS"]; !strings.Contains(r, "break-glass") || f.status("ACCABREAKGLASS") != iamtypes.StatusTypeActive {
				t.Errorf("break-glass credential: refusal %q, status %s", r, f.status("ACCABREAKGLASS"))
			}
			if f.status("ACCAOWNEROFF") != iamtypes.StatusTypeInactive {
				t.Error("the owner's inactive credential changed")
			}

			again := sweepGlobal(t, k, engine.Policy{})
			if len(again.Outcomes) != 0 || again.Found != 1 {
				t.Errorf("second sweep: found %d, outcomes %+v; want only the break-glass key, refused", again.Found, again.Outcomes)
			}

			var items []engine.RestoreItem
			for _, o := range kr.Outcomes {
				items = append(items, engine.RestoreItem{ID: o.ID, Prior: rawPrior(t, o.Prior), Verb: o.Verb, Status: o.Status})
			}
			items = append(items, engine.RestoreItem{ID: "ACCAOWNEROFF", Prior: rawPrior(t, resources.ServiceCredentialPrior{
				UserName: "owner-admin", CredentialID: "ACCAOWNEROFF", ServiceName: "bedrock.amazonaws.com", Status: "Inactive"})})
			updates := len(f.updates)
			dry := resultsByID(k.Restore(context.Background(), engine.GlobalRegion, items, true))
			if dry["ACCABEDROCK"].Status != engine.RestorePlanned || dry["ACCACODECOMMIT"].Status != engine.RestorePlanned ||
				len(f.updates) != updates || f.status("ACCABEDROCK") != iamtypes.StatusTypeInactive {
				t.Errorf("dry run: %+v, %d update(s)", dry, len(f.updates)-updates)
			}
			done := resultsByID(k.Restore(context.Background(), engine.GlobalRegion, items, false))
			for _, id := range []string{"ACCABEDROCK", "ACCACODECOMMIT"} {
				if done[id].Status != engine.RestoreDone || f.status(id) != iamtypes.StatusTypeActive {
					t.Errorf("%s: restore %+v, status %s", id, done[id], f.status(id))
				}
			}
			if done["ACCAOWNEROFF"].Status != engine.RestoreLeft || f.status("ACCAOWNEROFF") != iamtypes.StatusTypeInactive {
				t.Errorf("the owner's own inactive credential: %+v, status %s", done["ACCAOWNEROFF"], f.status("ACCAOWNEROFF"))
			}
			twice := resultsByID(k.Restore(context.Background(), engine.GlobalRegion, items[:2], false))
			for id, r := range twice {
				if r.Status != engine.RestoreAlready {
					t.Errorf("%s restored twice: %+v", id, r)
				}
			}
		})
	}
}

// sameSet compares comma lists as sets (per-user listings run concurrently).
func sameSet(a, b string) bool {
	as, bs := strings.Split(a, ","), strings.Split(b, ",")
	if len(as) != len(bs) {
		return false
	}
	seen := map[string]int{}
	for _, s := range as {
		seen[s]++
	}
	for _, s := range bs {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// A listing that fails is reported, not mistaken for "no credentials".
func TestIAMServiceCredentialsListingFailureIsReported(t *testing.T) {
	t.Parallel()
	f, _ := credAccount()
	f.allUsersErr = apiErr("ValidationError")
	f.gate = func(context.Context) error { return apiErr("AccessDenied") }
	kr := sweepGlobal(t, resources.NewIAMServiceCredentials(f, resources.ServiceCredentialOptions{}), engine.Policy{})
	if !strings.Contains(kr.Error, "AccessDenied") || !strings.Contains(kr.Error, "attacker") {
		t.Errorf("error %q, want each user's AccessDenied", kr.Error)
	}
}
