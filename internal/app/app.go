// Package app is the one wiring seam: it builds the kill switch (kinds,
// engine, publisher, handler) from the settings and one aws.Config. The
// Lambda's main, the integration tests, the bench, the demo and the CLI all
// build it here, so none of them wires it differently.
package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/notify"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/internal/settings"
)

// App is the kill switch for the one account that its aws.Config reaches.
type App struct {
	Settings settings.Settings
	Policy   engine.Policy
	Kinds    []engine.Kind
	Engine   *engine.Engine
	// Publisher is nil when no notify topic is set: reports are only logged.
	Publisher handler.Publisher
	Handler   *handler.Handler
}

type options struct {
	extraKinds   []engine.Kind
	publisher    handler.Publisher
	fallback     []string
	functionName string
}

// Option adjusts what New builds, for tests.
type Option func(*options)

// WithExtraKinds adds kinds after the table's own.
func WithExtraKinds(k ...engine.Kind) Option {
	return func(o *options) { o.extraKinds = append(o.extraKinds, k...) }
}

// WithPublisher replaces the SNS publisher.
func WithPublisher(p handler.Publisher) Option { return func(o *options) { o.publisher = p } }

// WithFallbackRegions replaces the built-in regions swept when region
// discovery fails.
func WithFallbackRegions(r []string) Option { return func(o *options) { o.fallback = r } }

// WithFunctionName names the function the report tells the owner to invoke
// to disarm (in Lambda, AWS_LAMBDA_FUNCTION_NAME).
func WithFunctionName(name string) Option { return func(o *options) { o.functionName = name } }

// New builds the kill switch. It holds no global state, so one process can
// build one App per account (an AWS Organization's members, say).
func New(cfg aws.Config, s settings.Settings, log *slog.Logger, opts ...Option) *App {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if s.Quarantine == settings.QuarantineDenyLaunch && s.QuarantinePolicyARN == "" {
		// The stack always wires the policy; only a hand-built environment
		// lacks it, and then there is no policy to attach.
		log.Warn("quarantine is deny-launch but no quarantine policy is set (" + settings.EnvQuarantinePolicyARN + "): IAM principals are not quarantined")
	}
	kinds := append(resources.Kinds(cfg, s, resources.Self{FunctionName: o.functionName, Region: cfg.Region}), o.extraKinds...)
	eng := resources.NewEngine(cfg, kinds, engine.Options{
		Concurrency:     s.RegionConcurrency,
		RegionTimeout:   s.RegionTimeout,
		FallbackRegions: o.fallback,
		Logger:          log,
	})
	pub := o.publisher
	if pub == nil && s.NotifyTopicARN != "" {
		pub = notify.NewSNS(sns.NewFromConfig(cfg), s.NotifyTopicARN)
	}
	policy := resources.Policy(s)
	var store latch.Store
	if s.LatchParameter != "" {
		store = latch.NewSSM(ssm.NewFromConfig(cfg), s.LatchParameter)
	}
	h := handler.New(eng, pub, handler.Config{
		Policy:          policy,
		PolicyLine:      PolicyLine(s),
		TripOnForecast:  s.TripOnForecast,
		BudgetName:      s.BudgetName,
		AlarmName:       s.AlarmName,
		DeadlineReserve: s.DeadlineReserve,
		Latch:           store,
		ResweepMinutes:  s.ResweepMinutes,
		FunctionName:    o.functionName,
	}, log)
	return &App{Settings: s, Policy: policy, Kinds: kinds, Engine: eng, Publisher: pub, Handler: h}
}

// FromEnvironment reads the KILLSWITCH_* settings through getenv and the
// AWS configuration from the standard chain, and builds the App.
func FromEnvironment(ctx context.Context, getenv func(string) string, log *slog.Logger) (*App, error) {
	s, err := settings.Load(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	return New(cfg, s, log, WithFunctionName(getenv("AWS_LAMBDA_FUNCTION_NAME"))), nil
}

// PolicyLine says the owner's choices in a few words, for the report.
func PolicyLine(s settings.Settings) string {
	line := fmt.Sprintf("EC2 action: %s", s.Action)
	if s.Quarantine == settings.QuarantineDenyLaunch && s.QuarantinePolicyARN != "" {
		line += ", IAM quarantine: deny-launch"
	}
	if s.DryRun {
		line += ", dry run"
	}
	return line
}
