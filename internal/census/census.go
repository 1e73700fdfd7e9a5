// Package census takes a read-only census of what is running in every
// enabled region (instances, vCPUs, GPUs, Spot, regions in use, an hourly
// burn estimate, and the relaunchers' counts) and holds it against the
// owner's caps.
//
// Billing data, and with it Budgets and the EstimatedCharges alarm, is
// updated only "at least once per day"; what is running can be read now,
// for free, from the EC2 API. The census runs on the stack's schedule and
// makes no mutating call.
package census

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	sagemakertypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/killswitch/killswitch/internal/awserr"
	"github.com/killswitch/killswitch/internal/engine"
)

// EC2API is what the census reads from EC2 in one region.
type EC2API interface {
	ec2.DescribeInstancesAPIClient
	ec2.DescribeInstanceTypesAPIClient
}

// AutoScalingAPI reads the groups' desired capacity.
type AutoScalingAPI interface {
	autoscaling.DescribeAutoScalingGroupsAPIClient
}

// ECSAPI reads each cluster's running and pending task counts: one
// DescribeClusters answers for up to 100 clusters, far cheaper than listing
// tasks.
type ECSAPI interface {
	ecs.ListClustersAPIClient
	DescribeClusters(ctx context.Context, in *ecs.DescribeClustersInput, optFns ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
}

// SageMakerAPI reads the notebooks in service and the training jobs in
// progress, the SageMaker compute attackers start.
type SageMakerAPI interface {
	sagemaker.ListNotebookInstancesAPIClient
	sagemaker.ListTrainingJobsAPIClient
}

// RegionLister lists the enabled regions (DescribeRegions) at census time.
type RegionLister interface {
	EnabledRegions(ctx context.Context) ([]string, error)
}

// Clients builds one client per region. Only EC2 is required; a nil
// builder leaves that count out.
type Clients struct {
	EC2         func(region string) EC2API
	AutoScaling func(region string) AutoScalingAPI
	ECS         func(region string) ECSAPI
	SageMaker   func(region string) SageMakerAPI
}

// Options tune a Taker.
type Options struct {
	// Concurrency bounds how many regions are read at once.
	Concurrency int
	// RegionTimeout bounds one region's reading.
	RegionTimeout time.Duration
	// FallbackRegions are read when DescribeRegions fails.
	FallbackRegions []string
	// SkipRegions are never read (the owner's skipRegions: regions an SCP
	// denies, where nothing can run).
	SkipRegions []string
	// Now is the clock for the census's time and duration; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Taker takes censuses of one account.
type Taker struct {
	regions RegionLister
	clients Clients
	opts    Options
}

func New(regions RegionLister, clients Clients, opts Options) *Taker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.RegionTimeout <= 0 {
		opts.RegionTimeout = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Taker{regions: regions, clients: clients, opts: opts}
}

// Census is one reading of the account.
type Census struct {
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"durationNs"`
	// Calls counts the API calls made (every page, every service).
	Calls int `json:"calls"`

	Instances     int     `json:"instances"`
	VCPUs         int     `json:"vcpus"`
	GPUs          int     `json:"gpus"`
	Spot          int     `json:"spot"`
	HourlyBurnUSD float64 `json:"hourlyBurnUsd"`
	RegionsInUse  int     `json:"regionsInUse"`
	// The relaunchers' counts, where cheap to read.
	ASGDesired       int `json:"asgDesired"`
	ECSTasks         int `json:"ecsTasks"`
	SageMakerRunning int `json:"sageMakerRunning"`

	Regions       []RegionCount `json:"regions"`
	RegionsRead   int           `json:"regionsRead"`
	RegionsFailed int           `json:"regionsFailed"`
	// TypeSource says where each type's vCPUs and GPUs came from:
	// "DescribeInstanceTypes", "table", or "estimate".
	TypeSource map[string]string `json:"typeSource,omitempty"`
	// Gaps are what the census could not read; it counted everything else.
	Gaps []string `json:"gaps,omitempty"`

	// types is each type's resolved information, for the caps' detail.
	types map[string]TypeInfo
}

// RegionCount is one region's share. Types counts instances by type.
type RegionCount struct {
	Region           string         `json:"region"`
	Instances        int            `json:"instances"`
	VCPUs            int            `json:"vcpus"`
	GPUs             int            `json:"gpus"`
	Spot             int            `json:"spot"`
	HourlyBurnUSD    float64        `json:"hourlyBurnUsd"`
	Types            map[string]int `json:"types,omitempty"`
	ASGDesired       int            `json:"asgDesired,omitempty"`
	ECSTasks         int            `json:"ecsTasks,omitempty"`
	SageMakerRunning int            `json:"sageMakerRunning,omitempty"`
	Error            string         `json:"error,omitempty"`
}

// InUse says whether anything runs in the region.
func (r RegionCount) InUse() bool {
	return r.Instances > 0 || r.ASGDesired > 0 || r.ECSTasks > 0 || r.SageMakerRunning > 0
}

// instance is what the census keeps of one running instance.
type instance struct {
	typ   string
	spot  bool
	vcpus int // from its CPU options; 0 if not given
}

// regionRead is one region's raw reading.
type regionRead struct {
	count     RegionCount
	instances []instance
	calls     int
	gaps      []string
}

// Blind says whether the census could read no region at all: it then saw
// nothing, which must not pass for "nothing running".
func (c *Census) Blind() bool { return c.RegionsRead > 0 && c.RegionsFailed == c.RegionsRead }

// Take reads every enabled region, concurrently and bounded, and never
// fails as a whole: what it could not read is listed in Gaps and in the
// regions' Error, and everything else is counted.
func (t *Taker) Take(ctx context.Context) *Census {
	start := t.opts.Now()
	c := &Census{At: start.UTC(), TypeSource: map[string]string{}}
	regions, err := t.regions.EnabledRegions(ctx)
	c.Calls++
	if err != nil || len(regions) == 0 {
		if err == nil {
			err = errors.New("no enabled regions listed")
		}
		c.Gaps = append(c.Gaps, "enabled regions could not be listed, so a built-in list was read: "+err.Error())
		regions = t.opts.FallbackRegions
	}
	regions, _ = engine.PlanRegions(regions, t.opts.SkipRegions)

	reads := make([]regionRead, len(regions))
	sem := make(chan struct{}, t.opts.Concurrency)
	var wg sync.WaitGroup
	for i, region := range regions {
		reads[i].count.Region = region
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			reads[i].count.Error = "not reached: " + ctx.Err().Error()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			reads[i] = t.readRegion(ctx, region)
		}()
	}
	wg.Wait()

	types := t.enrich(ctx, c, reads)
	c.types = types
	for _, rd := range reads {
		rc := rd.count
		c.Calls += rd.calls
		c.Gaps = append(c.Gaps, rd.gaps...)
		for _, in := range rd.instances {
			info := types[in.typ]
			vcpus := info.VCPUs
			if vcpus == 0 {
				vcpus = in.vcpus
			}
			rc.Instances++
			rc.VCPUs += vcpus
			rc.GPUs += info.GPUs
			if in.spot {
				// Spot is priced at on-demand: errs on the safe side.
				rc.Spot++
			}
			rc.HourlyBurnUSD += info.PriceUSD
			if rc.Types == nil {
				rc.Types = map[string]int{}
			}
			rc.Types[in.typ]++
		}
		c.RegionsRead++
		if rc.Error != "" {
			c.RegionsFailed++
			c.Gaps = append(c.Gaps, rc.Region+": "+rc.Error)
		}
		c.Instances += rc.Instances
		c.VCPUs += rc.VCPUs
		c.GPUs += rc.GPUs
		c.Spot += rc.Spot
		c.HourlyBurnUSD += rc.HourlyBurnUSD
		c.ASGDesired += rc.ASGDesired
		c.ECSTasks += rc.ECSTasks
		c.SageMakerRunning += rc.SageMakerRunning
		if rc.InUse() {
			c.RegionsInUse++
		}
		c.Regions = append(c.Regions, rc)
	}
	c.Duration = t.opts.Now().Sub(start)
	return c
}

// readRegion lists the region's running and pending instances, one
// paginated describe, and the relaunchers' counts.
func (t *Taker) readRegion(ctx context.Context, region string) (rd regionRead) {
	rd.count.Region = region
	ctx, cancel := context.WithTimeout(ctx, t.opts.RegionTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			rd.count.Error = fmt.Sprintf("internal error: %v", r)
		}
	}()

	pages := ec2.NewDescribeInstancesPaginator(t.clients.EC2(region), &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}},
		// MaxResults with a filter is the cheaper, paginated bucket (100
		// burst, 20/s) rather than unfiltered unpaginated (50, 10/s).
		MaxResults: aws.Int32(1000),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		rd.calls++
		if err != nil {
			rd.count.Error = fmt.Sprintf("ec2:DescribeInstances in %s: %v", region, err)
			break
		}
		for _, res := range page.Reservations {
			for _, in := range res.Instances {
				// Checked here too: an emulator may ignore the filter.
				if in.State == nil || (in.State.Name != ec2types.InstanceStateNamePending && in.State.Name != ec2types.InstanceStateNameRunning) {
					continue
				}
				rd.instances = append(rd.instances, instance{
					typ:   string(in.InstanceType),
					spot:  in.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot,
					vcpus: cpuOptionsVCPUs(in.CpuOptions),
				})
			}
		}
	}
	t.readRelaunchers(ctx, region, &rd)
	return rd
}

func cpuOptionsVCPUs(o *ec2types.CpuOptions) int {
	if o == nil {
		return 0
	}
	return int(aws.ToInt32(o.CoreCount) * max(aws.ToInt32(o.ThreadsPerCore), 1))
}

// readRelaunchers counts what relaunches or runs compute without an EC2
// instance of the account's own. A failure here is a gap, never a failed
// region: the instance count stands.
func (t *Taker) readRelaunchers(ctx context.Context, region string, rd *regionRead) {
	gap := func(what string, err error) {
		rd.gaps = append(rd.gaps, fmt.Sprintf("%s: %s not counted: %v", region, what, err))
	}
	if t.clients.AutoScaling != nil {
		pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(t.clients.AutoScaling(region), &autoscaling.DescribeAutoScalingGroupsInput{})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			rd.calls++
			if err != nil {
				gap("Auto Scaling groups (autoscaling:DescribeAutoScalingGroups)", err)
				break
			}
			for _, g := range page.AutoScalingGroups {
				rd.count.ASGDesired += int(aws.ToInt32(g.DesiredCapacity))
			}
		}
	}
	if t.clients.ECS != nil {
		n, calls, err := ecsTasks(ctx, t.clients.ECS(region))
		rd.calls += calls
		rd.count.ECSTasks = n
		if err != nil {
			gap("ECS tasks", err)
		}
	}
	if t.clients.SageMaker != nil {
		api := t.clients.SageMaker(region)
		nb := sagemaker.NewListNotebookInstancesPaginator(api, &sagemaker.ListNotebookInstancesInput{StatusEquals: sagemakertypes.NotebookInstanceStatusInService})
		for nb.HasMorePages() {
			page, err := nb.NextPage(ctx)
			rd.calls++
			if err != nil {
				gap("SageMaker notebooks (sagemaker:ListNotebookInstances)", err)
				break
			}
			rd.count.SageMakerRunning += len(page.NotebookInstances)
		}
		tj := sagemaker.NewListTrainingJobsPaginator(api, &sagemaker.ListTrainingJobsInput{StatusEquals: sagemakertypes.TrainingJobStatusInProgress})
		for tj.HasMorePages() {
			page, err := tj.NextPage(ctx)
			rd.calls++
			if err != nil {
				gap("SageMaker training jobs (sagemaker:ListTrainingJobs)", err)
				break
			}
			rd.count.SageMakerRunning += len(page.TrainingJobSummaries)
		}
	}
}

// ecsDescribeBatch is DescribeClusters' limit of clusters per call.
const ecsDescribeBatch = 100

func ecsTasks(ctx context.Context, api ECSAPI) (n, calls int, err error) {
	var arns []string
	pages := ecs.NewListClustersPaginator(api, &ecs.ListClustersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		calls++
		if err != nil {
			return 0, calls, fmt.Errorf("ecs:ListClusters: %w", err)
		}
		arns = append(arns, page.ClusterArns...)
	}
	for start := 0; start < len(arns); start += ecsDescribeBatch {
		out, err := api.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: arns[start:min(start+ecsDescribeBatch, len(arns))]})
		calls++
		if err != nil {
			return n, calls, fmt.Errorf("ecs:DescribeClusters: %w", err)
		}
		for _, cl := range out.Clusters {
			n += int(cl.RunningTasksCount + cl.PendingTasksCount)
		}
	}
	return n, calls, nil
}

// describeTypesBatch is DescribeInstanceTypes' limit of types per call.
const describeTypesBatch = 100

// enrich finds each type's vCPUs, GPUs and price: DescribeInstanceTypes,
// called once per invocation for the types seen (in a region where each was
// seen), else the embedded table, else an estimate from the size name.
// Its failure never stops the census: one peer dropped a whole region's
// discovery when this call failed, and so stopped nothing.
func (t *Taker) enrich(ctx context.Context, c *Census, reads []regionRead) map[string]TypeInfo {
	where := map[string]string{} // type -> a region where it was seen
	for _, rd := range reads {
		for _, in := range rd.instances {
			if _, ok := where[in.typ]; !ok {
				where[in.typ] = rd.count.Region
			}
		}
	}
	byRegion := map[string][]string{}
	for typ, region := range where {
		byRegion[region] = append(byRegion[region], typ)
	}
	described := map[string]TypeInfo{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, t.opts.Concurrency)
	for region, types := range byRegion {
		sort.Strings(types)
		for start := 0; start < len(types); start += describeTypesBatch {
			batch := types[start:min(start+describeTypesBatch, len(types))]
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				got, calls, err := describeTypes(ctx, t.clients.EC2(region), batch)
				mu.Lock()
				defer mu.Unlock()
				c.Calls += calls
				if err != nil {
					c.Gaps = append(c.Gaps, fmt.Sprintf("%s: ec2:DescribeInstanceTypes for %s failed, so the embedded table was used: %v",
						region, strings.Join(batch, ", "), err))
					t.opts.Logger.Warn("census: DescribeInstanceTypes failed; using the embedded table",
						"region", region, "types", batch, "error", err, "code", awserr.Code(err))
				}
				for k, v := range got {
					described[k] = v
				}
			}()
		}
	}
	wg.Wait()

	out := make(map[string]TypeInfo, len(where))
	for typ := range where {
		info, source := resolve(typ, described, reads)
		out[typ] = info
		c.TypeSource[typ] = source
	}
	return out
}

// resolve merges what DescribeInstanceTypes said with the table.
func resolve(typ string, described map[string]TypeInfo, reads []regionRead) (TypeInfo, string) {
	table, inTable := Prices[typ]
	d, wasDescribed := described[typ]
	switch {
	case wasDescribed:
		info := d
		// Trainium and Inferentia report no GpuInfo: keep the table's
		// accelerator count when it is higher.
		info.GPUs = max(info.GPUs, table.GPUs)
		info.PriceUSD = table.PriceUSD
		if !inTable {
			info.PriceUSD = fallbackPrice(typ, info.VCPUs)
		}
		return info, "DescribeInstanceTypes"
	case inTable:
		return table, "table"
	}
	// Neither: the instance's own CPU options, else the size name. A GPU
	// family counts at least one GPU, so maxGPUs still trips (fail closed).
	vcpus := 0
	for _, rd := range reads {
		for _, in := range rd.instances {
			if in.typ == typ && in.vcpus > 0 {
				vcpus = in.vcpus
			}
		}
	}
	if vcpus == 0 {
		vcpus = sizeVCPUs(typ)
	}
	info := TypeInfo{VCPUs: vcpus, PriceUSD: fallbackPrice(typ, vcpus)}
	if GPUFamily(typ) {
		info.GPUs = 1
	}
	return info, "estimate"
}

func describeTypes(ctx context.Context, api EC2API, types []string) (map[string]TypeInfo, int, error) {
	out := map[string]TypeInfo{}
	in := &ec2.DescribeInstanceTypesInput{}
	for _, t := range types {
		in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(t))
	}
	calls := 0
	pages := ec2.NewDescribeInstanceTypesPaginator(api, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		calls++
		if err != nil {
			// One type the region does not know (InvalidInstanceType) fails
			// the whole call; the table then covers every type of it.
			return out, calls, err
		}
		for _, it := range page.InstanceTypes {
			info := TypeInfo{}
			if it.VCpuInfo != nil {
				info.VCPUs = int(aws.ToInt32(it.VCpuInfo.DefaultVCpus))
			}
			if it.GpuInfo != nil {
				for _, g := range it.GpuInfo.Gpus {
					info.GPUs += int(aws.ToInt32(g.Count))
				}
			}
			if it.InferenceAcceleratorInfo != nil {
				for _, a := range it.InferenceAcceleratorInfo.Accelerators {
					info.GPUs += int(aws.ToInt32(a.Count))
				}
			}
			out[string(it.InstanceType)] = info
		}
	}
	return out, calls, nil
}
