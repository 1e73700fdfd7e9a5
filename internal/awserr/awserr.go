// Package awserr reads AWS API errors the way every part of the switch
// reports them.
package awserr

import (
	"errors"

	"github.com/aws/smithy-go"
)

// Code is the AWS error code of err (such as "UnauthorizedOperation"), or
// "" when err is not an API error (a network failure, a deadline).
func Code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
