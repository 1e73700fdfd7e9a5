package moto_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// The gap filler answers exactly the IAM calls moto lacks, in shapes the
// real SDK decodes, and passes everything else to moto.
func TestGapFillerAnswersOnlyWhatMotoLacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := moto.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cfg, err := moto.Config(ctx, srv.URL, awsconfig.Options{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(cfg)

	// Through to moto.
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatalf("CreateUser through the gap filler: %v", err)
	}
	users, err := c.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil || len(users.Users) != 1 || aws.ToString(users.Users[0].UserName) != "alice" {
		t.Fatalf("ListUsers = %+v, %v; want alice from moto", users, err)
	}

	for name, in := range map[string]*iam.ListServiceSpecificCredentialsInput{
		"every user": {AllUsers: aws.Bool(true)},
		"one user":   {UserName: aws.String("alice")},
	} {
		out, err := c.ListServiceSpecificCredentials(ctx, in)
		if err != nil {
			t.Errorf("ListServiceSpecificCredentials (%s): %v", name, err)
			continue
		}
		if len(out.ServiceSpecificCredentials) != 0 || out.IsTruncated {
			t.Errorf("ListServiceSpecificCredentials (%s) = %+v, want none", name, out)
		}
	}

	_, err = c.UpdateServiceSpecificCredential(ctx, &iam.UpdateServiceSpecificCredentialInput{
		UserName: aws.String("alice"), ServiceSpecificCredentialId: aws.String("ACCA12345678901234567"), Status: iamtypes.StatusTypeInactive,
	})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("UpdateServiceSpecificCredential error = %v, want NoSuchEntity", err)
	}
}
