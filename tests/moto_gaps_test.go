package tests

import (
	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/engine"
)

// motoKinds leaves out the kinds whose AWS API moto 5.2.1 lacks (it answers
// them with a 500 the SDK retries, and the kind rightly reports the sweep
// incomplete): IAM service credentials, whose ListServiceSpecificCredentials
// moto/iam/responses.py does not have. internal/resources tests that kind
// against a fake.
func motoKinds() app.Option {
	return app.WithKinds(func(k engine.Kind) bool { return k.Name() != "IAM service credentials" })
}
