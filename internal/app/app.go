// Package app is the one wiring seam: it builds the kill switch (kinds,
// engine, publisher, handler) from the settings and one aws.Config. The
// Lambda's main, the integration tests, the bench, the demo and the CLI all
// build it here, so none of them wires it differently.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/disarmproof"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/manifest"
	"github.com/killswitch/killswitch/internal/metrics"
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
	// Manifests is the restore manifest bucket; nil when none is set.
	Manifests *manifest.Store
	// Latch is the latch store; nil when none is set.
	Latch latch.Store
	// Census takes the read-only live-usage census the schedule takes.
	Census handler.Censuser
}

type options struct {
	extraKinds   []engine.Kind
	publisher    handler.Publisher
	fallback     []string
	functionName string
	regionTimer  func(region string, d time.Duration, end func()) (stop func() bool)
	regions      []string
	onRegion     func(engine.RegionReport)
	keep         func(engine.Kind) bool
	metrics      io.Writer
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

// WithRegionTimer replaces the engine's wall-clock region timeout (see
// engine.Options.RegionTimer), so tests end a region when they choose.
func WithRegionTimer(f func(region string, d time.Duration, end func()) (stop func() bool)) Option {
	return func(o *options) { o.regionTimer = f }
}

// WithRegions sweeps exactly these regions instead of asking EC2 which are
// enabled: the CLI's --regions.
func WithRegions(r []string) Option { return func(o *options) { o.regions = r } }

// WithProgress is called as each region's sweep finishes: the CLI's
// progress lines.
func WithProgress(f func(engine.RegionReport)) Option { return func(o *options) { o.onRegion = f } }

// WithKinds keeps only the kinds keep accepts: the CLI's scan leaves out
// the account-wide IAM kinds, which list every principal.
func WithKinds(keep func(engine.Kind) bool) Option { return func(o *options) { o.keep = keep } }

// WithMetrics writes each run's metrics, in CloudWatch embedded metric
// format, to w: in Lambda the function's stdout, which CloudWatch Logs
// turns into the metrics the stack's dashboard and alarms read. Without
// it no metrics are written (the CLI, the bench and most tests).
func WithMetrics(w io.Writer) Option { return func(o *options) { o.metrics = w } }

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
	self := resources.Self{FunctionName: o.functionName, Region: cfg.Region}
	kinds := append(resources.Kinds(cfg, s, self), o.extraKinds...)
	if o.keep != nil {
		kinds = slices.DeleteFunc(kinds, func(k engine.Kind) bool { return !o.keep(k) })
	}
	eopts := engine.Options{
		Concurrency:     s.RegionConcurrency,
		RegionTimeout:   s.RegionTimeout,
		FallbackRegions: o.fallback,
		SkipRegions:     s.SkipRegions,
		RegionTimer:     o.regionTimer,
		Logger:          log,
		OnRegion:        o.onRegion,
	}
	eng := resources.NewEngine(cfg, kinds, eopts)
	var lister regionLister = resources.NewRegionLister(ec2.NewFromConfig(cfg))
	if len(o.regions) > 0 {
		eng = engine.New(fixedRegions(o.regions), kinds, eopts)
		lister = fixedRegions(o.regions)
	}
	pub := o.publisher
	if pub == nil && s.NotifyTopicARN != "" {
		var nopts []notify.Option
		if s.SlackEnabled {
			nopts = append(nopts, notify.WithChatbot())
		}
		pub = notify.NewSNS(sns.NewFromConfig(cfg), s.NotifyTopicARN, nopts...)
	}
	if s.CentralTopicARN != "" {
		// In an AWS Organization every report also reaches the org's
		// central topic, which the org quarantine listens to.
		pub = notify.NewCentral(pub, sns.NewFromConfig(cfg), s.CentralTopicARN)
	}
	policy := resources.Policy(s)
	var store latch.Store
	if s.LatchParameter != "" {
		store = latch.NewSSM(ssm.NewFromConfig(cfg), s.LatchParameter)
	}
	var manifests *manifest.Store
	var journal func(trip, sweep time.Time) engine.Journal
	if s.ManifestBucket != "" {
		// Few attempts: the engine waits for each plan write before it
		// contains, and contains anyway when the write fails.
		manifests = manifest.NewStore(s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.RetryMaxAttempts = 3
			// The manifest is read back byte for byte after each write, which
			// checks it better than a checksum the response may lack; the SDK
			// would otherwise log each such read on stderr.
			o.DisableLogOutputChecksumValidationSkipped = true
		}), s.ManifestBucket)
		journal = func(trip, sweep time.Time) engine.Journal {
			return manifests.Journal(manifest.TripID(trip), manifest.SweepID(sweep))
		}
	}
	// The function verifies disarm proofs with its own role (kms:VerifyMac
	// only); the CLI makes them with the operator's credentials.
	var disarmKMS *kms.Client
	if s.DisarmKeyARN != "" {
		disarmKMS = kms.NewFromConfig(cfg)
	}
	takeCensus, caps, selfTest := censusParts(cfg, s, self, lister, o.fallback, store, log)
	h := handler.New(eng, pub, handler.Config{
		Policy:          policy,
		PolicyLine:      PolicyLine(s),
		TripOnForecast:  s.TripOnForecast,
		BudgetName:      s.BudgetName,
		AlarmName:       s.AlarmName,
		DeadlineReserve: s.DeadlineReserve,
		Latch:           store,
		// The one schedule runs at the shorter of the census and re-sweep
		// intervals, and re-sweeps on every run while tripped.
		ResweepMinutes: s.ScheduleMinutes(),
		FunctionName:   o.functionName,
		Region:         cfg.Region,
		DisarmKeyARN:   s.DisarmKeyARN,
		DisarmKMS:      disarmVerifier(disarmKMS),
		Journal:        journal,
		Census:         takeCensus,
		CensusLog:      censusLog(manifests),
		Caps:           caps,
		SelfTest:       selfTest,
		Metrics:        metricsWriter(o.metrics),
	}, log)
	return &App{Settings: s, Policy: policy, Kinds: kinds, Engine: eng, Publisher: pub, Handler: h,
		Manifests: manifests, Latch: store, Census: takeCensus}
}

// disarmVerifier keeps a nil client a nil interface.
func disarmVerifier(c *kms.Client) disarmproof.Verifier {
	if c == nil {
		return nil
	}
	return c
}

// censusLog is where the census is recorded: the manifest bucket, when one
// is set. A nil *manifest.Store must stay a nil interface.
func censusLog(m *manifest.Store) handler.CensusRecorder {
	if m == nil {
		return nil
	}
	return m
}

func metricsWriter(w io.Writer) *metrics.Writer {
	if w == nil {
		return nil
	}
	return metrics.NewWriter(w, nil)
}

// fixedRegions is a region list given by the operator, not discovered.
type fixedRegions []string

func (r fixedRegions) EnabledRegions(context.Context) ([]string, error) { return r, nil }

// FromEnvironment reads the KILLSWITCH_* settings through getenv and the
// AWS configuration from the standard chain, and builds the App with opts.
func FromEnvironment(ctx context.Context, getenv func(string) string, log *slog.Logger, opts ...Option) (*App, error) {
	s, err := settings.Load(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	return New(cfg, s, log, append([]Option{WithFunctionName(getenv("AWS_LAMBDA_FUNCTION_NAME"))}, opts...)...), nil
}

// PolicyLine says the owner's choices in a few words, for the report.
func PolicyLine(s settings.Settings) string {
	line := fmt.Sprintf("EC2 action: %s", s.Action)
	if s.Quarantine == settings.QuarantineDenyLaunch && s.QuarantinePolicyARN != "" {
		line += ", IAM quarantine: deny by default"
	}
	if s.DryRun {
		line += ", dry run"
	}
	return line
}
