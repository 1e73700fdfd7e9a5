package resources

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// DescribeRegionsAPI is the one call region discovery needs.
type DescribeRegionsAPI interface {
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// RegionLister asks EC2 which regions are enabled for the account, on every
// trip, so a region the attacker opted into is swept too.
type RegionLister struct{ api DescribeRegionsAPI }

func NewRegionLister(api DescribeRegionsAPI) *RegionLister { return &RegionLister{api: api} }

func (l *RegionLister) EnabledRegions(ctx context.Context) ([]string, error) {
	// AllRegions=false lists exactly the regions the account can use:
	// default ones and opted-in ones.
	out, err := l.api.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(false)})
	if err != nil {
		return nil, fmt.Errorf("listing enabled regions (ec2:DescribeRegions): %w", err)
	}
	regions := make([]string, 0, len(out.Regions))
	for _, r := range out.Regions {
		if name := aws.ToString(r.RegionName); name != "" {
			regions = append(regions, name)
		}
	}
	return regions, nil
}

// KnownRegions is swept only when DescribeRegions fails: the commercial
// regions, default and opt-in, as of 2026. Regions not enabled fail fast
// and show as failed in the report.
var KnownRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ap-southeast-4", "ap-southeast-5", "ap-southeast-7", "ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
	"eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
	"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
}
