package resources

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// IAMServiceCredentialsRestoreAPI is what reactivating the credentials
// calls, with the operator's credentials (see kinds_restore.go).
type IAMServiceCredentialsRestoreAPI interface {
	ListServiceSpecificCredentials(ctx context.Context, in *iam.ListServiceSpecificCredentialsInput, optFns ...func(*iam.Options)) (*iam.ListServiceSpecificCredentialsOutput, error)
	UpdateServiceSpecificCredential(ctx context.Context, in *iam.UpdateServiceSpecificCredentialInput, optFns ...func(*iam.Options)) (*iam.UpdateServiceSpecificCredentialOutput, error)
}

var _ engine.Restorer = (*IAMServiceCredentials)(nil)

// Restore reactivates exactly the credentials the trip deactivated (Find
// lists only active ones, and each prior records it), after reading each
// one's current state: one already active, or deleted, is left as it is.
func (k *IAMServiceCredentials) Restore(ctx context.Context, _ string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	const act = "reactivate the service-specific credential"
	return restoreEach(ctx, items, func(ctx context.Context, it engine.RestoreItem) engine.RestoreResult {
		prior, err := decodePrior[ServiceCredentialPrior](it)
		if err != nil {
			return engine.LeftAlone(it.ID, fmt.Sprintf("service-specific credential %s: %v", it.ID, err))
		}
		if prior.Status != string(iamtypes.StatusTypeActive) {
			return engine.LeftAlone(it.ID, "it was "+prior.Status+" before the trip, not deactivated by it")
		}
		creds, err := k.list(ctx, &iam.ListServiceSpecificCredentialsInput{UserName: aws.String(prior.UserName)})
		if errorCode(err) == "NoSuchEntity" {
			return engine.AlreadyRestored(it.ID, "IAM user "+prior.UserName+" no longer exists")
		}
		if err != nil {
			return engine.RestoreFailure(it.ID, act, fmt.Sprintf("listing the service-specific credentials of IAM user %s: %v", prior.UserName, err))
		}
		var now *iamtypes.ServiceSpecificCredentialMetadata
		for i := range creds {
			if aws.ToString(creds[i].ServiceSpecificCredentialId) == prior.CredentialID {
				now = &creds[i]
			}
		}
		switch {
		case now == nil:
			return engine.AlreadyRestored(it.ID, "the credential no longer exists")
		case now.Status == iamtypes.StatusTypeActive:
			return engine.AlreadyRestored(it.ID, "the credential is active")
		case dryRun:
			return engine.Restored(it.ID, act, true)
		}
		if _, err := k.api.UpdateServiceSpecificCredential(ctx, &iam.UpdateServiceSpecificCredentialInput{
			UserName: aws.String(prior.UserName), ServiceSpecificCredentialId: aws.String(prior.CredentialID), Status: iamtypes.StatusTypeActive,
		}); err != nil {
			return engine.RestoreFailure(it.ID, act, fmt.Sprintf("reactivating %s of IAM user %s: %v", prior.CredentialID, prior.UserName, err))
		}
		return engine.Restored(it.ID, act, false)
	})
}
