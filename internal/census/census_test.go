package census_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/census"
)

func TestPriceTableIsSane(t *testing.T) {
	t.Parallel()
	if len(census.Prices) < 40 {
		t.Fatalf("price table has %d entries", len(census.Prices))
	}
	for typ, info := range census.Prices {
		if info.PriceUSD <= 0 || info.VCPUs <= 0 || info.GPUs < 0 {
			t.Errorf("%s: %+v, want price > 0, vCPUs > 0, GPUs >= 0", typ, info)
		}
		if gpu := census.GPUFamily(typ); gpu != (info.GPUs > 0) {
			t.Errorf("%s: GPU family %v but %d GPU(s)", typ, gpu, info.GPUs)
		}
		// An hourly price above $10 a vCPU is a typo (a misplaced point).
		if per := info.PriceUSD / float64(info.VCPUs); per > 1 || per < 0.005 {
			t.Errorf("%s: $%.4f per vCPU-hour is implausible", typ, per)
		}
		if info.PriceUSD/float64(info.VCPUs) > census.FallbackGPUPricePerVCPU {
			t.Errorf("%s: costs more per vCPU than the GPU fallback, so an unknown type would be estimated cheap", typ)
		}
	}
}

// fakeEC2 serves one region's instances and instance types.
type fakeEC2 struct {
	instances []ec2types.Instance
	// types DescribeInstanceTypes knows; a type it does not know fails
	// the whole call with InvalidInstanceType, as EC2 does.
	types     map[string]ec2types.InstanceTypeInfo
	typesErr  error
	listErr   error
	pageSize  int
	mu        sync.Mutex
	typeCalls int
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	size := f.pageSize
	if size == 0 {
		size = 1000
	}
	end := min(start+size, len(f.instances))
	out := &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: f.instances[start:end]}}}
	if end < len(f.instances) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func (f *fakeEC2) DescribeInstanceTypes(_ context.Context, in *ec2.DescribeInstanceTypesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	f.mu.Lock()
	f.typeCalls++
	f.mu.Unlock()
	if f.typesErr != nil {
		return nil, f.typesErr
	}
	out := &ec2.DescribeInstanceTypesOutput{}
	for _, typ := range in.InstanceTypes {
		info, ok := f.types[string(typ)]
		if !ok {
			return nil, &smithy.GenericAPIError{Code: "InvalidInstanceType", Message: "The following supplied instance types do not exist: [" + string(typ) + "]"}
		}
		out.InstanceTypes = append(out.InstanceTypes, info)
	}
	return out, nil
}

type regions struct {
	list []string
	err  error
}

func (r regions) EnabledRegions(context.Context) ([]string, error) { return r.list, r.err }

func running(typ string, n int, spot bool) []ec2types.Instance {
	var out []ec2types.Instance
	for range n {
		in := ec2types.Instance{InstanceType: ec2types.InstanceType(typ), State: &ec2types.InstanceState{Name: ec2types.InstanceStateNameRunning}}
		if spot {
			in.InstanceLifecycle = ec2types.InstanceLifecycleTypeSpot
		}
		out = append(out, in)
	}
	return out
}

func typeInfo(typ string, vcpus, gpus int32) ec2types.InstanceTypeInfo {
	info := ec2types.InstanceTypeInfo{InstanceType: ec2types.InstanceType(typ), VCpuInfo: &ec2types.VCpuInfo{DefaultVCpus: aws.Int32(vcpus)}}
	if gpus > 0 {
		info.GpuInfo = &ec2types.GpuInfo{Gpus: []ec2types.GpuDeviceInfo{{Count: aws.Int32(gpus)}}}
	}
	return info
}

func take(t *testing.T, lister census.RegionLister, fakes map[string]*fakeEC2) *census.Census {
	t.Helper()
	clock := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	taker := census.New(lister, census.Clients{
		EC2: func(region string) census.EC2API {
			if f, ok := fakes[region]; ok {
				return f
			}
			return &fakeEC2{}
		},
	}, census.Options{
		FallbackRegions: []string{"us-east-1", "eu-west-1"},
		Now:             func() time.Time { clock = clock.Add(time.Second); return clock },
	})
	return taker.Take(context.Background())
}

func TestTake(t *testing.T) {
	t.Parallel()
	stopped := running("p3.2xlarge", 1, false)[0]
	stopped.State.Name = ec2types.InstanceStateNameStopped
	tests := []struct {
		name    string
		lister  regions
		fakes   map[string]*fakeEC2
		want    census.Census // only the totals are compared
		source  map[string]string
		gaps    []string // substrings, one per expected gap
		failed  int
		noTypes bool // DescribeInstanceTypes must not be called
	}{
		{
			name:   "owner's normal use",
			lister: regions{list: []string{"us-east-1", "eu-west-1"}},
			fakes:  map[string]*fakeEC2{"us-east-1": {instances: running("t3.micro", 2, false), types: map[string]ec2types.InstanceTypeInfo{"t3.micro": typeInfo("t3.micro", 2, 0)}}},
			want:   census.Census{Instances: 2, VCPUs: 4, RegionsInUse: 1, HourlyBurnUSD: 0.2},
			source: map[string]string{"t3.micro": "DescribeInstanceTypes"},
		},
		{
			name:   "GPU attack over pages, stopped instances left out, Spot at on-demand",
			lister: regions{list: []string{"us-east-1", "eu-west-1"}},
			fakes: map[string]*fakeEC2{
				"us-east-1": {instances: append(append(running("g4dn.xlarge", 5, true), running("p3.2xlarge", 3, false)...), stopped), pageSize: 2,
					types: map[string]ec2types.InstanceTypeInfo{"g4dn.xlarge": typeInfo("g4dn.xlarge", 4, 1), "p3.2xlarge": typeInfo("p3.2xlarge", 8, 1)}},
				// The census asks in the first region (by name) where a type runs.
				"eu-west-1": {instances: running("p3.2xlarge", 4, false), types: map[string]ec2types.InstanceTypeInfo{"p3.2xlarge": typeInfo("p3.2xlarge", 8, 1)}},
			},
			want:   census.Census{Instances: 12, VCPUs: 20 + 56, GPUs: 12, Spot: 5, RegionsInUse: 2, HourlyBurnUSD: 5*0.526 + 7*3.06},
			source: map[string]string{"g4dn.xlarge": "DescribeInstanceTypes", "p3.2xlarge": "DescribeInstanceTypes"},
		},
		{
			name:   "DescribeInstanceTypes unknown type (moto and old types): the table",
			lister: regions{list: []string{"us-east-1"}},
			fakes:  map[string]*fakeEC2{"us-east-1": {instances: append(running("p3.2xlarge", 3, false), running("g4dn.xlarge", 1, false)...), types: map[string]ec2types.InstanceTypeInfo{"g4dn.xlarge": typeInfo("g4dn.xlarge", 4, 1)}}},
			want:   census.Census{Instances: 4, VCPUs: 28, GPUs: 4, RegionsInUse: 1, HourlyBurnUSD: 3*3.06 + 0.526},
			source: map[string]string{"p3.2xlarge": "table", "g4dn.xlarge": "table"},
			gaps:   []string{"us-east-1: ec2:DescribeInstanceTypes for g4dn.xlarge, p3.2xlarge failed"},
		},
		{
			name:   "DescribeInstanceTypes denied, a type in no table: estimated, a GPU family counts a GPU",
			lister: regions{list: []string{"us-east-1"}},
			fakes: map[string]*fakeEC2{"us-east-1": {instances: append(running("g9x.8xlarge", 2, false), running("zz1.2xlarge", 1, false)...),
				typesErr: &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "no"}}},
			want:   census.Census{Instances: 3, VCPUs: 2*32 + 8, GPUs: 2, RegionsInUse: 1, HourlyBurnUSD: 2*32*census.FallbackGPUPricePerVCPU + 8*census.FallbackPricePerVCPU},
			source: map[string]string{"g9x.8xlarge": "estimate", "zz1.2xlarge": "estimate"},
			gaps:   []string{"UnauthorizedOperation"},
		},
		{
			name:   "a region that cannot be listed is a gap; the rest is counted",
			lister: regions{list: []string{"us-east-1", "eu-west-1"}},
			fakes: map[string]*fakeEC2{
				"us-east-1": {listErr: &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "denied"}},
				"eu-west-1": {instances: running("p3.2xlarge", 2, false)},
			},
			want:   census.Census{Instances: 2, VCPUs: 16, GPUs: 2, RegionsInUse: 1, HourlyBurnUSD: 6.12},
			source: map[string]string{"p3.2xlarge": "table"},
			gaps:   []string{"us-east-1: ec2:DescribeInstances in us-east-1", "DescribeInstanceTypes"},
			failed: 1,
		},
		{
			name:    "DescribeRegions failing reads the built-in list",
			lister:  regions{err: errors.New("throttled")},
			fakes:   map[string]*fakeEC2{"eu-west-1": {instances: running("t3.micro", 1, false), types: map[string]ec2types.InstanceTypeInfo{"t3.micro": typeInfo("t3.micro", 2, 0)}}},
			want:    census.Census{Instances: 1, VCPUs: 2, RegionsInUse: 1, HourlyBurnUSD: 0.1},
			source:  map[string]string{"t3.micro": "DescribeInstanceTypes"},
			gaps:    []string{"enabled regions could not be listed"},
			noTypes: false,
		},
		{
			name:    "an empty account calls no DescribeInstanceTypes",
			lister:  regions{list: []string{"us-east-1"}},
			fakes:   map[string]*fakeEC2{"us-east-1": {}},
			source:  map[string]string{},
			noTypes: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := take(t, tc.lister, tc.fakes)
			if d := c.HourlyBurnUSD - tc.want.HourlyBurnUSD; d > 0.001 || d < -0.001 {
				t.Errorf("burn = %.4f, want %.4f", c.HourlyBurnUSD, tc.want.HourlyBurnUSD)
			}
			got := [5]int{c.Instances, c.VCPUs, c.GPUs, c.Spot, c.RegionsInUse}
			if want := [5]int{tc.want.Instances, tc.want.VCPUs, tc.want.GPUs, tc.want.Spot, tc.want.RegionsInUse}; got != want {
				t.Errorf("instances, vCPUs, GPUs, Spot, regions = %v, want %v", got, want)
			}
			if len(c.TypeSource) != len(tc.source) {
				t.Errorf("type sources = %v, want %v", c.TypeSource, tc.source)
			}
			for typ, src := range tc.source {
				if c.TypeSource[typ] != src {
					t.Errorf("%s from %q, want %q", typ, c.TypeSource[typ], src)
				}
			}
			if len(c.Gaps) != len(tc.gaps) {
				t.Errorf("gaps = %q, want %d like %q", c.Gaps, len(tc.gaps), tc.gaps)
			}
			for _, g := range tc.gaps {
				if !slices.ContainsFunc(c.Gaps, func(s string) bool { return strings.Contains(s, g) }) {
					t.Errorf("no gap says %q: %q", g, c.Gaps)
				}
			}
			if c.RegionsFailed != tc.failed {
				t.Errorf("regions failed = %d, want %d", c.RegionsFailed, tc.failed)
			}
			calls := 0
			for _, f := range tc.fakes {
				calls += f.typeCalls
			}
			if tc.noTypes && calls != 0 {
				t.Errorf("%d DescribeInstanceTypes call(s) for an empty account", calls)
			}
			if c.Duration <= 0 || c.Calls == 0 {
				t.Errorf("duration %v, calls %d: not measured", c.Duration, c.Calls)
			}
		})
	}
}

func TestCapsEvaluate(t *testing.T) {
	t.Parallel()
	attack := take(t, regions{list: []string{"us-east-1", "eu-west-1", "ap-east-1"}}, map[string]*fakeEC2{
		"us-east-1": {instances: running("t3.micro", 2, false), types: map[string]ec2types.InstanceTypeInfo{"t3.micro": typeInfo("t3.micro", 2, 0)}},
		"eu-west-1": {instances: running("p3.2xlarge", 3, false)},
		"ap-east-1": {instances: running("p3.2xlarge", 1, false)},
	})
	// 6 instances, 36 vCPUs, 4 GPUs, about $12.44/hour, 3 regions.
	loose := census.Caps{MaxRunningInstances: 100, MaxVCPUs: 1000, MaxGPUs: 100, MaxHourlyBurnUSD: 1000, MaxRegionsInUse: 10}
	tests := []struct {
		name    string
		caps    func(c *census.Caps)
		want    string
		line    []string
		regions []string
	}{
		{"instances", func(c *census.Caps) { c.MaxRunningInstances = 5 }, census.CapRunningInstances,
			[]string{"6 running instance(s)", "limit 5", "eu-west-1 (3)", "p3.2xlarge (4)", "t3.micro (2)"}, []string{"eu-west-1 (3)", "us-east-1 (2)", "ap-east-1 (1)"}},
		{"vCPUs", func(c *census.Caps) { c.MaxVCPUs = 35 }, census.CapVCPUs,
			[]string{"36 vCPU(s) running", "limit 35", "p3.2xlarge (32)"}, []string{"eu-west-1 (24)", "ap-east-1 (8)", "us-east-1 (4)"}},
		{"GPUs", func(c *census.Caps) { c.MaxGPUs = 0 }, census.CapGPUs,
			[]string{"4 GPU(s) running", "limit 0", "p3.2xlarge (4)"}, []string{"eu-west-1 (3)", "ap-east-1 (1)"}},
		{"burn", func(c *census.Caps) { c.MaxHourlyBurnUSD = 12 }, census.CapHourlyBurnUSD,
			[]string{"12.44 USD per hour estimated burn", "limit 12", "p3.2xlarge (12.24)"}, []string{"eu-west-1 (9.18)", "ap-east-1 (3.06)", "us-east-1 (0.20)"}},
		{"regions", func(c *census.Caps) { c.MaxRegionsInUse = 2 }, census.CapRegionsInUse,
			[]string{"3 region(s) in use", "limit 2"}, []string{"eu-west-1 (3)", "us-east-1 (2)", "ap-east-1 (1)"}},
		{"at the limit does not trip", func(c *census.Caps) { c.MaxRunningInstances = 6; c.MaxGPUs = 4 }, "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			caps := loose
			tc.caps(&caps)
			got := caps.Evaluate(attack)
			if tc.want == "" {
				if len(got) != 0 {
					t.Errorf("breaches %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Cap != tc.want {
				t.Fatalf("breaches %+v, want only %s", got, tc.want)
			}
			line := got[0].Line()
			for _, s := range append([]string{tc.want}, tc.line...) {
				if !strings.Contains(line, s) {
					t.Errorf("line %q lacks %q", line, s)
				}
			}
			if !slices.Equal(got[0].Regions, tc.regions) {
				t.Errorf("regions %q, want %q", got[0].Regions, tc.regions)
			}
		})
	}
}
