package app

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/internal/selftest"
	"github.com/killswitch/killswitch/internal/settings"
)

// regionLister is what both the census and the self-test list regions with.
type regionLister interface {
	census.RegionLister
	selftest.RegionLister
}

// skipping leaves the owner's skipRegions out of the self-test: an SCP
// denies them by design, which is no failure.
type skipping struct {
	regionLister
	skip []string
}

func (l skipping) EnabledRegions(ctx context.Context) ([]string, error) {
	regions, err := l.regionLister.EnabledRegions(ctx)
	kept, _ := engine.PlanRegions(regions, l.skip)
	return kept, err
}

// censusParts builds the census, its caps and the daily self-test on the
// same aws.Config and region list as the engine. Each region's clients are
// built once per invocation (clients are cheap, and the census runs once).
func censusParts(cfg aws.Config, s settings.Settings, self resources.Self, lister regionLister, fallback []string, store latch.Store, log *slog.Logger) (handler.Censuser, census.Caps, handler.SelfTester) {
	if fallback == nil {
		fallback = resources.KnownRegions
	}
	ec2In := func(region string) *ec2.Client {
		return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
	}
	taker := census.New(lister, census.Clients{
		EC2: func(region string) census.EC2API { return ec2In(region) },
		AutoScaling: func(region string) census.AutoScalingAPI {
			return autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.Region = region })
		},
		ECS: func(region string) census.ECSAPI {
			return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.Region = region })
		},
		SageMaker: func(region string) census.SageMakerAPI {
			return sagemaker.NewFromConfig(cfg, func(o *sagemaker.Options) { o.Region = region })
		},
	}, census.Options{
		Concurrency:     s.RegionConcurrency,
		RegionTimeout:   s.RegionTimeout,
		FallbackRegions: fallback,
		SkipRegions:     s.SkipRegions,
		Logger:          log,
	})
	caps := census.Caps{
		MaxRunningInstances: s.MaxRunningInstances,
		MaxVCPUs:            s.MaxVCPUs,
		MaxGPUs:             s.MaxGPUs,
		MaxHourlyBurnUSD:    s.MaxHourlyBurnUSD,
		MaxRegionsInUse:     s.MaxRegionsInUse,
	}
	deps := selftest.Deps{
		Regions:  skipping{lister, s.SkipRegions},
		EC2:      func(region string) selftest.StopAPI { return ec2In(region) },
		TopicARN: s.NotifyTopicARN,
	}
	if s.NotifyTopicARN != "" {
		deps.Topic = sns.NewFromConfig(cfg)
	}
	if store != nil {
		deps.Latch = store
	}
	// The same check as the sweep's "Kill switch integrity" kind, wired
	// when the kind is: the stack always sets the trip topic.
	if s.TripTopicARN != "" {
		deps.Integrity = resources.NewIntegrityChecker(cfg, s, self)
	}
	return taker, caps, selftest.New(deps, selftest.Options{Concurrency: s.RegionConcurrency})
}
