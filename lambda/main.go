// Command bootstrap is the killswitch Lambda. It only wires things up,
// through internal/app; the logic lives in internal/.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/handler"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	// The run's metrics go to stdout as EMF lines, beside the JSON logs:
	// CloudWatch Logs extracts them, with no API call and no permission.
	a, err := app.FromEnvironment(context.Background(), os.Getenv, log, app.WithMetrics(os.Stdout))
	if err != nil {
		// Invalid settings fail every invoke loudly, so the on-failure
		// destination tells the owner.
		lambda.Start(handler.Refuse(err, log))
		return
	}
	lambda.Start(a.Handler.Handle)
}
