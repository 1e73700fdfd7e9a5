// Command bootstrap is the killswitch Lambda. It only wires things up; the
// logic lives in internal/.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/notify"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/internal/settings"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	s, err := settings.Load(os.Getenv)
	if err != nil {
		lambda.Start(handler.Refuse(err, log))
		return
	}
	cfg, err := awsconfig.Load(context.Background(), awsconfig.Options{})
	if err != nil {
		lambda.Start(handler.Refuse(err, log))
		return
	}
	eng := resources.NewEngine(cfg, engine.Options{
		Concurrency:   s.RegionConcurrency,
		RegionTimeout: s.RegionTimeout,
		Logger:        log,
	})
	var pub handler.Publisher
	if s.NotifyTopicARN != "" {
		pub = notify.NewSNS(sns.NewFromConfig(cfg), s.NotifyTopicARN)
	}
	lambda.Start(handler.New(eng, pub, s, log).Handle)
}
