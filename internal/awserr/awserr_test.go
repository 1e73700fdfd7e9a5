package awserr_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/awserr"
)

func TestCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"API error", &smithy.GenericAPIError{Code: "UnauthorizedOperation"}, "UnauthorizedOperation"},
		{"wrapped API error", fmt.Errorf("describing in eu-west-1: %w", &smithy.GenericAPIError{Code: "RequestLimitExceeded"}), "RequestLimitExceeded"},
		{"not an API error", context.DeadlineExceeded, ""},
		{"nil", nil, ""},
	} {
		if got := awserr.Code(tc.err); got != tc.want {
			t.Errorf("%s: Code = %q, want %q", tc.name, got, tc.want)
		}
	}
}
