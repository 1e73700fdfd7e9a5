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
	a, err := app.FromEnvironment(context.Background(), os.Getenv, log)
	if err != nil {
		// Invalid settings fail every invoke loudly, so the on-failure
		// destination tells the owner.
		lambda.Start(handler.Refuse(err, log))
		return
	}
	lambda.Start(a.Handler.Handle)
}
