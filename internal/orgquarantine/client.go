package orgquarantine

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// AttachPolicyAPI is the one Organizations call the function makes.
type AttachPolicyAPI interface {
	AttachPolicy(ctx context.Context, in *organizations.AttachPolicyInput, optFns ...func(*organizations.Options)) (*organizations.AttachPolicyOutput, error)
}

// Client attaches policies through the SDK's Organizations client.
type Client struct{ api AttachPolicyAPI }

var _ Attacher = (*Client)(nil)

// NewClient wraps an Organizations client (built from the one aws.Config).
func NewClient(api AttachPolicyAPI) *Client { return &Client{api: api} }

// AttachPolicy attaches policyID to targetID. An attachment that already
// exists is ErrAlreadyAttached.
func (c *Client) AttachPolicy(ctx context.Context, policyID, targetID string) error {
	_, err := c.api.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: aws.String(policyID), TargetId: aws.String(targetID)})
	var dup *orgtypes.DuplicatePolicyAttachmentException
	if errors.As(err, &dup) {
		return fmt.Errorf("%w: %s", ErrAlreadyAttached, dup.ErrorMessage())
	}
	if err != nil {
		return fmt.Errorf("attaching SCP %s to account %s: %w", policyID, targetID, err)
	}
	return nil
}
