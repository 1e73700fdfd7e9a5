package resources

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// IAMServiceCredentialsAPI is the slice of the IAM client the kind uses.
// moto 5.2.1 has no service-specific credentials API (moto/iam/responses.py
// lacks ListServiceSpecificCredentials), so unit tests put a fake behind it.
type IAMServiceCredentialsAPI interface {
	iam.ListUsersAPIClient
	ListServiceSpecificCredentials(ctx context.Context, in *iam.ListServiceSpecificCredentialsInput, optFns ...func(*iam.Options)) (*iam.ListServiceSpecificCredentialsOutput, error)
	UpdateServiceSpecificCredential(ctx context.Context, in *iam.UpdateServiceSpecificCredentialInput, optFns ...func(*iam.Options)) (*iam.UpdateServiceSpecificCredentialOutput, error)
}

// Attribute keys the kind puts on a Resource (with attrUserName, attrUserARN).
const (
	attrCredentialService = "service"
	attrCredentialAlias   = "alias"
)

// VerbDeactivateCredential is the kind's one change: a deactivated
// credential still exists and can be turned on again.
var VerbDeactivateCredential = engine.Verb{
	Past: "service-specific credential deactivated",
	Plan: "deactivate the service-specific credential",
	Note: "Bedrock API keys and other service-specific credentials (CodeCommit, Keyspaces) can no longer be used; " +
		"`killswitch restore` reactivates those the trip deactivated, or " +
		"`aws iam update-service-specific-credential --user-name USER --service-specific-credential-id ID --status Active` one",
}

// ServiceCredentialPrior is a credential before the trip deactivated it:
// restore reactivates exactly these.
type ServiceCredentialPrior struct {
	UserName     string `json:"userName"`
	UserARN      string `json:"userArn,omitempty"`
	CredentialID string `json:"credentialId"`
	ServiceName  string `json:"serviceName"`
	Status       string `json:"status"`
}

func (p ServiceCredentialPrior) Describe() string {
	return fmt.Sprintf("%s %s credential of user %s", p.Status, p.ServiceName, p.UserName)
}

// ServiceCredentialOptions are the deploy-time facts the kind needs.
type ServiceCredentialOptions struct {
	// BreakGlassARNs' credentials are never deactivated, as the IAM trail
	// never deactivates their keys.
	BreakGlassARNs []string
}

// IAMServiceCredentials deactivates every active service-specific
// credential of every user but the break-glass ones. Bedrock API keys are
// such credentials: a call made with one is authorised as
// bedrock:CallWithBearerToken, a way to spend that needs no access key.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_bedrock.html
// Creating new ones is denied by the quarantine, which runs first.
type IAMServiceCredentials struct {
	api        IAMServiceCredentialsAPI
	breakGlass map[string]bool // user ARNs and user names
}

var (
	_ engine.Kind   = (*IAMServiceCredentials)(nil)
	_ engine.Global = (*IAMServiceCredentials)(nil)
)

func NewIAMServiceCredentials(api IAMServiceCredentialsAPI, opts ServiceCredentialOptions) *IAMServiceCredentials {
	bg := map[string]bool{}
	for _, arn := range opts.BreakGlassARNs {
		bg[arn] = true
		// By name too: a credential names its user, not the ARN, and a user
		// created after the listing has no ARN here. User names are unique
		// in an account whatever the path; sparing too much is the safe way.
		if name, ok := userNameFromARN(arn); ok {
			bg["name/"+name] = true
		}
	}
	return &IAMServiceCredentials{api: api, breakGlass: bg}
}

func (*IAMServiceCredentials) Name() string { return "IAM service credentials" }
func (*IAMServiceCredentials) Noun() string { return "service credential" }
func (*IAMServiceCredentials) Global() bool { return true }

// serviceCredentialCalls bounds the per-user listings in flight; IAM's
// request rate is low and shared by the account (see trailUserCalls).
const serviceCredentialCalls = 6

// Find lists every active service-specific credential. Inactive ones are
// left out, so a second sweep finds nothing new and a credential the owner
// turned off stays as it is.
func (k *IAMServiceCredentials) Find(ctx context.Context, _ string) ([]engine.Resource, error) {
	var users []iamtypes.User
	pages := iam.NewListUsersPaginator(k.api, &iam.ListUsersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing IAM users: %w", err)
		}
		users = append(users, page.Users...)
	}
	arns := make(map[string]string, len(users))
	for _, u := range users {
		arns[aws.ToString(u.UserName)] = aws.ToString(u.Arn)
	}

	// One listing of every user's credentials (AllUsers). Should IAM refuse
	// it (the flag is recent, and its resource for the policy check is not
	// documented), each user is listed instead: slower, but complete.
	creds, err := k.list(ctx, &iam.ListServiceSpecificCredentialsInput{AllUsers: aws.Bool(true)})
	if err != nil && ctx.Err() == nil {
		creds, err = k.perUser(ctx, users)
	}

	var found []engine.Resource
	for _, c := range creds {
		if c.Status != iamtypes.StatusTypeActive {
			continue
		}
		name, id := aws.ToString(c.UserName), aws.ToString(c.ServiceSpecificCredentialId)
		service := aws.ToString(c.ServiceName)
		found = append(found, engine.Resource{
			ID: id, State: string(c.Status),
			Attributes: map[string]string{attrUserName: name, attrUserARN: arns[name], attrCredentialService: service,
				attrCredentialAlias: aws.ToString(c.ServiceCredentialAlias), attrCreated: stamp(c.CreateDate)},
			Prior: ServiceCredentialPrior{UserName: name, UserARN: arns[name], CredentialID: id, ServiceName: service, Status: string(c.Status)},
		})
	}
	return found, err
}

// list pages through one ListServiceSpecificCredentials request (the SDK
// has no paginator for it).
func (k *IAMServiceCredentials) list(ctx context.Context, in *iam.ListServiceSpecificCredentialsInput) ([]iamtypes.ServiceSpecificCredentialMetadata, error) {
	var out []iamtypes.ServiceSpecificCredentialMetadata
	for {
		page, err := k.api.ListServiceSpecificCredentials(ctx, in)
		if err != nil {
			return out, err
		}
		out = append(out, page.ServiceSpecificCredentials...)
		if !page.IsTruncated || aws.ToString(page.Marker) == "" {
			return out, nil
		}
		next := *in
		next.Marker = page.Marker
		in = &next
	}
}

// perUser lists each user's credentials, a few users at a time. A user
// deleted meanwhile has none; one not reached before ctx ends is counted.
func (k *IAMServiceCredentials) perUser(ctx context.Context, users []iamtypes.User) ([]iamtypes.ServiceSpecificCredentialMetadata, error) {
	results := make([][]iamtypes.ServiceSpecificCredentialMetadata, len(users))
	errs := make([]error, len(users))
	reached := make([]bool, len(users))
	sem := make(chan struct{}, serviceCredentialCalls)
	var wg sync.WaitGroup
	for i, u := range users {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			creds, err := k.list(ctx, &iam.ListServiceSpecificCredentialsInput{UserName: u.UserName})
			results[i] = creds
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case errorCode(err) == "NoSuchEntity":
				err = nil
			case err != nil:
				err = fmt.Errorf("listing the service-specific credentials of IAM user %s: %w", aws.ToString(u.UserName), err)
			}
			errs[i], reached[i] = err, true
		}()
	}
	wg.Wait()
	var out []iamtypes.ServiceSpecificCredentialMetadata
	missed := 0
	for i := range users {
		out = append(out, results[i]...)
		if !reached[i] {
			missed++
		}
	}
	if missed > 0 {
		errs = append(errs, &engine.NotReachedError{Count: missed, Of: len(users), What: "IAM user(s)", Err: ctx.Err()})
	}
	return out, errors.Join(errs...)
}

// Decide deactivates every credential but a break-glass user's.
func (k *IAMServiceCredentials) Decide(r engine.Resource) engine.Decision {
	a := r.Attributes
	what := fmt.Sprintf("active %s credential %s of IAM user %s, created %s", a[attrCredentialService], r.ID, a[attrUserName], a[attrCreated])
	if k.breakGlass[a[attrUserARN]] || k.breakGlass["name/"+a[attrUserName]] {
		return engine.Leave(r, what+"; a break-glass principal's credential is never deactivated")
	}
	return engine.Act(r, VerbDeactivateCredential, what+": it can call "+a[attrCredentialService]+" without an access key")
}

// Contain deactivates each credential. One deleted meanwhile is gone.
func (k *IAMServiceCredentials) Contain(ctx context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		_, err := k.api.UpdateServiceSpecificCredential(ctx, &iam.UpdateServiceSpecificCredentialInput{
			UserName: aws.String(d.Resource.Attributes[attrUserName]), ServiceSpecificCredentialId: aws.String(d.Resource.ID),
			Status: iamtypes.StatusTypeInactive,
		})
		switch {
		case errorCode(err) == "NoSuchEntity":
			return outcomeGone(d, "the credential or its user no longer exists")
		case err != nil:
			return outcomeFailed(d, err, "deactivating the credential")
		}
		return outcomeDone(d)
	})
}
