package resources_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/killswitch/killswitch/internal/resources"
)

type fakeRegionsAPI struct {
	out *ec2.DescribeRegionsOutput
	err error
	in  []*ec2.DescribeRegionsInput
}

func (f *fakeRegionsAPI) DescribeRegions(_ context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	f.in = append(f.in, in)
	return f.out, f.err
}

func TestRegionListerReturnsEnabledRegions(t *testing.T) {
	t.Parallel()
	api := &fakeRegionsAPI{out: &ec2.DescribeRegionsOutput{Regions: []types.Region{
		{RegionName: aws.String("us-east-1"), OptInStatus: aws.String("opt-in-not-required")},
		{RegionName: aws.String("ap-east-2"), OptInStatus: aws.String("opted-in")},
		{RegionName: nil},
		{RegionName: aws.String("eu-west-1")},
	}}}

	got, err := resources.NewRegionLister(api).EnabledRegions(context.Background())
	if err != nil {
		t.Fatalf("EnabledRegions: %v", err)
	}
	if want := []string{"us-east-1", "ap-east-2", "eu-west-1"}; !slices.Equal(got, want) {
		t.Errorf("regions = %v, want %v", got, want)
	}
	if len(api.in) != 1 || aws.ToBool(api.in[0].AllRegions) {
		t.Errorf("DescribeRegions inputs = %+v, want one call listing enabled regions only", api.in)
	}
}

func TestRegionListerWrapsErrors(t *testing.T) {
	t.Parallel()
	cause := apiErr("UnauthorizedOperation")
	got, err := resources.NewRegionLister(&fakeRegionsAPI{err: cause}).EnabledRegions(context.Background())
	if err == nil {
		t.Fatalf("EnabledRegions = %v, want an error", got)
	}
	if !errors.Is(err, cause) {
		t.Errorf("error %v does not wrap the cause", err)
	}
	if !strings.Contains(err.Error(), "ec2:DescribeRegions") {
		t.Errorf("error %q does not name ec2:DescribeRegions", err)
	}
}

func TestKnownRegionsAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range resources.KnownRegions {
		if seen[r] {
			t.Errorf("%s listed twice", r)
		}
		seen[r] = true
	}
	for _, r := range []string{"us-east-1", "eu-west-1", "ap-southeast-5", "mx-central-1"} {
		if !seen[r] {
			t.Errorf("KnownRegions lacks %s", r)
		}
	}
}
