package resources

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// DescribeRegionsAPI is the one call region discovery needs.
type DescribeRegionsAPI interface {
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// DiscoveryTimeout bounds each DescribeRegions ask. It is short: a hung
// endpoint must not eat the sweep window before the fallback starts, and
// the call is one small request.
const DiscoveryTimeout = 10 * time.Second

// RegionLister asks EC2 which regions are enabled for the account, on every
// trip, so a region the attacker opted into is swept too. It asks each of
// its endpoints in turn (the home region, then a second one), each within
// its own Timeout, and stops at the first answer.
type RegionLister struct {
	apis  []DescribeRegionsAPI
	names []string
	// Timeout bounds each ask; zero means DiscoveryTimeout.
	Timeout time.Duration
}

// NewRegionLister asks api first, then each of more.
func NewRegionLister(api DescribeRegionsAPI, more ...DescribeRegionsAPI) *RegionLister {
	l := &RegionLister{apis: append([]DescribeRegionsAPI{api}, more...)}
	for i := range l.apis {
		l.names = append(l.names, fmt.Sprintf("endpoint %d", i+1))
	}
	return l
}

// NewRegionListerIn asks the EC2 endpoint of each region in turn.
func NewRegionListerIn(regions []string, client func(region string) DescribeRegionsAPI) *RegionLister {
	l := &RegionLister{}
	for _, r := range regions {
		l.apis = append(l.apis, client(r))
		l.names = append(l.names, r)
	}
	return l
}

// SecondRegion is the region asked when home does not answer: another
// long-standing region, on other infrastructure.
func SecondRegion(home string) string {
	if home == "us-east-1" {
		return "us-west-2"
	}
	return "us-east-1"
}

func (l *RegionLister) EnabledRegions(ctx context.Context) ([]string, error) {
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = DiscoveryTimeout
	}
	var errs []error
	for i, api := range l.apis {
		if ctx.Err() != nil {
			break
		}
		regions, err := l.ask(ctx, api, timeout)
		if err == nil {
			return regions, nil
		}
		errs = append(errs, fmt.Errorf("asking %s: %w", l.names[i], err))
	}
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return nil, fmt.Errorf("listing enabled regions (ec2:DescribeRegions): %w", errors.Join(errs...))
}

func (l *RegionLister) ask(ctx context.Context, api DescribeRegionsAPI, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// AllRegions=false lists exactly the regions the account can use:
	// default ones and opted-in ones.
	out, err := api.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(false)})
	if err != nil {
		return nil, err
	}
	regions := make([]string, 0, len(out.Regions))
	for _, r := range out.Regions {
		if name := aws.ToString(r.RegionName); name != "" {
			regions = append(regions, name)
		}
	}
	if len(regions) == 0 {
		return nil, errors.New("no region listed")
	}
	return regions, nil
}

// KnownRegions is swept only when DescribeRegions fails: every region of
// the commercial (aws) partition that the pinned SDK's endpoint metadata
// knows, default and opt-in. A test checks it against that metadata, so a
// new region cannot be missed silently. Regions not enabled fail fast and
// show as failed in the report.
var KnownRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
	"eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "me-west-1", "mx-central-1",
	"sa-east-1", "sa-west-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
}
