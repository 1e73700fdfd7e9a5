// Package resources holds the kinds of AWS resource the kill switch can
// contain, one file each, and the table that lists them in the order they
// are contained. It is the only package that talks to the AWS services being
// contained.
package resources

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/engine"
)

// Kinds lists every kind, built on one aws.Config. Order matters: what
// relaunches instances (Auto Scaling groups, Spot requests and fleets) must
// be contained before the instances themselves.
func Kinds(cfg aws.Config) []engine.Kind {
	ec2Clients := newRegionalClients(func(region string) *ec2.Client {
		return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
	})
	return []engine.Kind{
		NewEC2Instances(func(region string) EC2InstancesAPI { return ec2Clients.get(region) }),
	}
}

// NewEngine wires the region lister and every kind of this package into an
// engine for the account that cfg reaches.
func NewEngine(cfg aws.Config, opts engine.Options) *engine.Engine {
	if opts.FallbackRegions == nil {
		opts.FallbackRegions = KnownRegions
	}
	return engine.New(NewRegionLister(ec2.NewFromConfig(cfg)), Kinds(cfg), opts)
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
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "DeadlineExceeded"
	}
	if errors.Is(err, context.Canceled) {
		return "Canceled"
	}
	return ""
}
