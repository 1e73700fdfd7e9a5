package resources_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// hangingRegionsAPI never answers: it holds the call until its context
// ends, as a hung endpoint does.
type hangingRegionsAPI struct{ asked chan struct{} }

func (h *hangingRegionsAPI) DescribeRegions(ctx context.Context, _ *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	close(h.asked)
	<-ctx.Done()
	return nil, ctx.Err()
}

// A hung home endpoint costs only the lister's own timeout, then the second
// region is asked. The timeout is tiny, and nothing here depends on how
// long anything takes: the hung call returns only when its context ends.
func TestRegionListerTimesOutAndAsksASecondRegion(t *testing.T) {
	t.Parallel()
	home := &hangingRegionsAPI{asked: make(chan struct{})}
	second := &fakeRegionsAPI{out: &ec2.DescribeRegionsOutput{Regions: []types.Region{{RegionName: aws.String("eu-west-1")}}}}
	l := resources.NewRegionListerIn([]string{"eu-central-1", "us-east-1"}, func(region string) resources.DescribeRegionsAPI {
		if region == "eu-central-1" {
			return home
		}
		return second
	})
	l.Timeout = time.Millisecond

	got, err := l.EnabledRegions(context.Background())

	if err != nil {
		t.Fatalf("EnabledRegions: %v", err)
	}
	if !slices.Equal(got, []string{"eu-west-1"}) {
		t.Errorf("regions = %v, want the second region's answer", got)
	}
	select {
	case <-home.asked:
	default:
		t.Error("the home region was never asked")
	}
}

func TestRegionListerNamesEveryRegionAskedWhenAllFail(t *testing.T) {
	t.Parallel()
	l := resources.NewRegionListerIn([]string{"eu-central-1", "us-east-1"}, func(string) resources.DescribeRegionsAPI {
		return &fakeRegionsAPI{err: apiErr("UnauthorizedOperation")}
	})
	_, err := l.EnabledRegions(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"eu-central-1", "us-east-1", "UnauthorizedOperation", "ec2:DescribeRegions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestSecondRegionIsNeverHome(t *testing.T) {
	t.Parallel()
	for _, home := range []string{"us-east-1", "us-west-2", "eu-west-1", ""} {
		if SecondRegion := resources.SecondRegion(home); SecondRegion == home || SecondRegion == "" {
			t.Errorf("SecondRegion(%q) = %q", home, SecondRegion)
		}
	}
}

// KnownRegions must hold every region of the commercial partition that the
// pinned SDK knows, read from the endpoint metadata the SDK embeds (in the
// module cache), so that a new region cannot be missed silently.
func TestKnownRegionsCoverTheSDKsPartitionMetadata(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2").Output()
	if err != nil {
		t.Fatalf("finding the pinned aws-sdk-go-v2 in the module cache: %v", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "internal", "endpoints", "awsrulesfn", "partitions.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the SDK's partition metadata: %v", err)
	}
	var meta struct {
		Partitions []struct {
			ID      string                     `json:"id"`
			Regions map[string]json.RawMessage `json:"regions"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	known := map[string]bool{}
	for _, r := range resources.KnownRegions {
		known[r] = true
	}
	checked := 0
	for _, p := range meta.Partitions {
		if p.ID != "aws" {
			continue
		}
		for region := range p.Regions {
			if strings.HasSuffix(region, "-global") {
				continue // an endpoint alias, not a region
			}
			checked++
			if !known[region] {
				t.Errorf("the SDK knows region %s; add it to KnownRegions", region)
			}
		}
	}
	if checked < 30 {
		t.Fatalf("found only %d commercial regions in %s", checked, path)
	}
}
