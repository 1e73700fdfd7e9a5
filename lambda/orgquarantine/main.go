// Command orgquarantine is the org stack's function: it attaches the
// deny-by-default SCP to a member account whose kill switch reports a trip on
// the central topic. The logic lives in internal/orgquarantine.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/orgquarantine"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx := context.Background()
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{})
	if err == nil {
		var q *orgquarantine.Quarantiner
		q, err = orgquarantine.New(orgquarantine.NewClient(organizations.NewFromConfig(cfg)),
			os.Getenv(orgquarantine.EnvPolicyID), os.Getenv(orgquarantine.EnvManagementAccount), log)
		if err == nil {
			lambda.Start(q.Handle)
			return
		}
	}
	// A broken configuration fails every invoke loudly.
	log.Error("refusing to run", "error", err)
	lambda.Start(func(context.Context, events.SNSEvent) error { return err })
}
