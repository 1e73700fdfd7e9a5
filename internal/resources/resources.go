// Package resources holds the kinds of AWS resource the kill switch can
// contain, one file each, and the table that lists them in the order they
// are contained. It is the only package that talks to the AWS services being
// contained.
package resources

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/awserr"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/integrity"
	"github.com/killswitch/killswitch/internal/settings"
)

// Kinds is the table of every kind, built on one aws.Config and the
// owner's settings, in the order they are contained: what relaunches
// instances (Auto Scaling groups, Spot requests and fleets) must come before
// the instances themselves. Adding a kind is one file and one row here.
func Kinds(cfg aws.Config, s settings.Settings, self Self) []engine.Kind {
	ec2Clients := newRegionalClients(func(region string) *ec2.Client {
		return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
	})
	ecsClients, sageMakerClients, batchClients := ecsRegionalClients(cfg), sageMakerRegionalClients(cfg), batchRegionalClients(cfg)
	iamClient := iam.NewFromConfig(cfg)
	var kinds []engine.Kind
	// The quarantine goes first (the engine runs global kinds before the
	// regions, in this order): it must hold before anything is stopped, so
	// stolen credentials cannot start it again. Without the stack's policy
	// ARN there is nothing to attach; App.New says so in its log.
	quarantined := s.Quarantine == settings.QuarantineDenyLaunch && s.QuarantinePolicyARN != ""
	if quarantined {
		kinds = append(kinds, NewQuarantine(iamClient, QuarantineOptions{PolicyARN: s.QuarantinePolicyARN, BreakGlassARNs: s.BreakGlassARNs,
			OwnRoleIDs: s.OwnRoleIDs, Region: cmp.Or(self.Region, cfg.Region)}))
		kinds = append(kinds, NewIAMServiceCredentials(iamClient, ServiceCredentialOptions{BreakGlassARNs: s.BreakGlassARNs}))
	}
	trail := IAMTrailOptions{
		Lookback:                time.Duration(s.IAMLookbackDays) * 24 * time.Hour,
		DeactivateNewAccessKeys: s.DeactivateNewAccessKeys,
		BreakGlassARNs:          s.BreakGlassARNs,
		OwnRoleIDs:              s.OwnRoleIDs,
	}
	if quarantined {
		// Only a quarantine makes skipping recently examined users safe.
		trail.Recheck = TrailRecheck
	}
	kinds = append(kinds, NewIAMTrail(iamClient, trail))
	// Without the trip topic (the CLI, a hand-built environment) there is
	// no deployment to check; the stack always wires it.
	if s.TripTopicARN != "" {
		kinds = append(kinds, NewSwitchIntegrity(integritySNS(cfg, s), integrityLambda(cfg, s), IntegrityExpect(s, self)))
	}
	kinds = append(kinds, []engine.Kind{
		NewAutoScalingGroups(autoScalingClients(cfg)),
		NewSpotFleetRequests(func(region string) SpotFleetRequestsAPI { return ec2Clients.get(region) }),
		NewEC2Fleets(func(region string) EC2FleetsAPI { return ec2Clients.get(region) }),
		NewSpotInstanceRequests(func(region string) SpotInstanceRequestsAPI { return ec2Clients.get(region) }),
		// Lambda sets AWS_LAMBDA_FUNCTION_NAME and AWS_REGION: the kill
		// switch's own function, never throttled.
		NewLambdaFunctions(lambdaClients(cfg), LambdaFunctionOptions{SelfName: self.FunctionName, SelfRegion: self.Region}),
		NewECSServices(func(region string) ECSServicesAPI { return ecsClients.get(region) }),
		NewECSTasks(func(region string) ECSTasksAPI { return ecsClients.get(region) }),
		NewEKSNodegroups(eksClients(cfg)),
		NewSageMakerNotebooks(func(region string) SageMakerNotebooksAPI { return sageMakerClients.get(region) }),
		NewSageMakerJobs(func(region string) SageMakerJobsAPI { return sageMakerClients.get(region) }),
		NewBatchComputeEnvironments(func(region string) BatchComputeEnvironmentsAPI { return batchClients.get(region) }),
		NewBatchJobs(func(region string) BatchJobsAPI { return batchClients.get(region) }),
		NewEC2Instances(func(region string) EC2InstancesAPI { return ec2Clients.get(region) }, EC2InstanceOptions{
			Terminate:            s.Action == settings.ActionTerminate,
			TerminateUnstoppable: s.TerminateUnstoppable,
			OverrideProtection:   s.OverrideProtection,
			Pacing:               EC2Pacing,
		}),
	}...)
	if s.StopDatabases {
		rdsClients := rdsRegionalClients(cfg)
		kinds = append(kinds,
			NewRDSInstances(func(region string) RDSInstancesAPI { return rdsClients.get(region) }),
			NewRDSClusters(func(region string) RDSClustersAPI { return rdsClients.get(region) }),
		)
	}
	return kinds
}

// Self is the kill switch's own deployment, which no kind may touch. The
// caller reads it (in Lambda, AWS_LAMBDA_FUNCTION_NAME and AWS_REGION), so
// the kinds read no process environment.
type Self struct {
	FunctionName string
	Region       string
}

// IntegrityExpect is what the stack deployed, for the integrity check of
// every sweep and of the daily self-test.
func IntegrityExpect(s settings.Settings, self Self) integrity.Expect {
	return integrity.Expect{
		NotifyTopicARN: s.NotifyTopicARN,
		NotifyEmails:   s.NotifyEmails,
		Slack:          s.SlackEnabled,
		TripTopicARN:   s.TripTopicARN,
		FunctionName:   self.FunctionName,
	}
}

// NewIntegrityChecker is the integrity check the self-test runs, on the
// same clients and expectations as the kind.
func NewIntegrityChecker(cfg aws.Config, s settings.Settings, self Self) *integrity.Checker {
	return integrity.New(integritySNS(cfg, s), integrityLambda(cfg, s), IntegrityExpect(s, self))
}

// integritySNS and integrityLambda reach the topics and the function in
// their own region: the stack's, which the topic ARNs name.
func integritySNS(cfg aws.Config, s settings.Settings) *sns.Client {
	return sns.NewFromConfig(cfg, func(o *sns.Options) { o.Region = stackRegion(cfg, s) })
}

func integrityLambda(cfg aws.Config, s settings.Settings) *lambda.Client {
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.Region = stackRegion(cfg, s) })
}

func stackRegion(cfg aws.Config, s settings.Settings) string {
	for _, arn := range []string{s.TripTopicARN, s.NotifyTopicARN} {
		if parts := strings.SplitN(arn, ":", 5); len(parts) == 5 && parts[3] != "" {
			return parts[3]
		}
	}
	return cfg.Region
}

// Policy is what the settings say for every kind: dry run and exemptions.
func Policy(s settings.Settings) engine.Policy {
	p := engine.Policy{DryRun: s.DryRun, Exempt: map[string]string{}}
	for _, id := range s.ExemptInstanceIDs {
		p.Exempt[id] = settings.EnvExemptInstanceIDs
	}
	for _, name := range s.ExemptNames {
		p.Exempt[name] = settings.EnvExemptNames
	}
	// Break-glass principals are exempt by their ARN, which is the ID the
	// IAM kinds give a user or role.
	for _, arn := range s.BreakGlassARNs {
		p.Exempt[arn] = settings.EnvBreakGlassARNs
	}
	return p
}

// NewEngine wires the region lister and the kinds into an engine for the
// account that cfg reaches.
func NewEngine(cfg aws.Config, kinds []engine.Kind, opts engine.Options) *engine.Engine {
	if opts.FallbackRegions == nil {
		opts.FallbackRegions = KnownRegions
	}
	// The home region first, then a second one: one region's endpoint
	// failing must not leave the sweep to the built-in list.
	lister := NewRegionListerIn([]string{cfg.Region, SecondRegion(cfg.Region)}, func(region string) DescribeRegionsAPI {
		return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
	})
	return engine.New(lister, kinds, opts)
}

// regionalClients builds one client per region on first use and reuses it,
// so the adaptive retryer's view of throttling lasts the whole sweep.
type regionalClients[C any] struct {
	mu      sync.Mutex
	build   func(region string) C
	clients map[string]C
}

func newRegionalClients[C any](build func(string) C) *regionalClients[C] {
	return &regionalClients[C]{build: build, clients: map[string]C{}}
}

func (rc *regionalClients[C]) get(region string) C {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	c, ok := rc.clients[region]
	if !ok {
		c = rc.build(region)
		rc.clients[region] = c
	}
	return c
}

// errorCode is the AWS error code of err, or "" for errors that are not API
// errors (network, deadline).
func errorCode(err error) string {
	if code := awserr.Code(err); code != "" {
		return code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "DeadlineExceeded"
	}
	if errors.Is(err, context.Canceled) {
		return "Canceled"
	}
	return ""
}
