// Package attack seeds an emulated account with an attack like the one
// killswitch exists for, and reads the account's state back.
package attack

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Plan describes an attack.
type Plan struct {
	Regions   []string
	Instances int // attacker instances, spread round-robin over Regions
	// PerLaunch is how many instances one RunInstances call launches, so an
	// attack is many reservations, as in real incidents.
	PerLaunch int
	// Every Nth attacker instance gets termination protection, stop
	// protection, or is a Spot instance (0: none).
	TermProtectEvery, StopProtectEvery, SpotEvery int
	// OwnerInstances are the owner's own, exempted by ID at deploy time.
	OwnerInstances int
	// ForgedExemptTag tags one attacker instance as if it were exempt.
	ForgedExemptTag bool
}

// OriginStory is about 300 instances over 17 regions, opt-in ones among
// them, some protected, some Spot, two owner instances and a forged tag.
func OriginStory() Plan {
	return Plan{
		Regions: []string{
			"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
			"eu-west-1", "eu-west-2", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1",
			"ap-southeast-1", "ap-southeast-2", "af-south-1", "ap-east-1", "me-south-1",
		},
		Instances:        298,
		PerLaunch:        4,
		TermProtectEvery: 17,
		StopProtectEvery: 23,
		SpotEvery:        11,
		OwnerInstances:   2,
		ForgedExemptTag:  true,
	}
}

// Seeded is what Seed launched.
type Seeded struct {
	ByRegion      map[string][]string // attacker instance IDs
	Region        map[string]string   // region of every instance
	Exempt        []string            // owner instances, exempted by ID
	TermProtected []string
	StopProtected []string
	Spot          []string
	ForgedTag     string // attacker instance tagged killswitch:exempt=true
}

// Attackers lists every attacker instance ID.
func (s *Seeded) Attackers() []string {
	var all []string
	for _, ids := range s.ByRegion {
		all = append(all, ids...)
	}
	sort.Strings(all)
	return all
}

// AMI is any image ID; moto accepts it.
const AMI = "ami-12c6146b"

// Seed launches the plan's instances, each region concurrently.
func Seed(ctx context.Context, cfg aws.Config, p Plan) (*Seeded, error) {
	if p.PerLaunch <= 0 {
		p.PerLaunch = 1
	}
	perRegion := make(map[string]int)
	for i := range p.Instances {
		perRegion[p.Regions[i%len(p.Regions)]]++
	}
	s := &Seeded{ByRegion: map[string][]string{}, Region: map[string]string{}}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		counter  int
	)
	for ri, region := range p.Regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
			err := seedRegion(ctx, client, region, perRegion[region], ri == 0, p, s, &mu, &counter)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for _, ids := range s.ByRegion {
		sort.Strings(ids)
	}
	return s, nil
}

func seedRegion(ctx context.Context, c *ec2.Client, region string, n int, home bool, p Plan, s *Seeded, mu *sync.Mutex, counter *int) error {
	// next hands out a global sequence number, so the every-Nth rules
	// spread over regions.
	next := func() int {
		mu.Lock()
		defer mu.Unlock()
		*counter++
		return *counter
	}
	record := func(id string, f func()) {
		mu.Lock()
		defer mu.Unlock()
		s.Region[id] = region
		if f != nil {
			f()
		}
	}

	if home {
		for range p.OwnerInstances {
			out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(AMI), InstanceType: types.InstanceTypeT3Micro,
				MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
				TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance,
					Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("owner-dev-box")}}}}})
			if err != nil {
				return fmt.Errorf("launching the owner instance in %s: %w", region, err)
			}
			id := aws.ToString(out.Instances[0].InstanceId)
			record(id, func() { s.Exempt = append(s.Exempt, id) })
		}
	}

	for launched := 0; launched < n; {
		seq := next()
		switch {
		case p.SpotEvery > 0 && seq%p.SpotEvery == 0:
			out, err := c.RequestSpotInstances(ctx, &ec2.RequestSpotInstancesInput{InstanceCount: aws.Int32(1),
				LaunchSpecification: &types.RequestSpotLaunchSpecification{ImageId: aws.String(AMI), InstanceType: types.InstanceTypeG4dnXlarge}})
			if err != nil {
				return fmt.Errorf("requesting a Spot instance in %s: %w", region, err)
			}
			for _, r := range out.SpotInstanceRequests {
				id := aws.ToString(r.InstanceId)
				if id == "" {
					return fmt.Errorf("moto gave no instance for Spot request %s in %s", aws.ToString(r.SpotInstanceRequestId), region)
				}
				record(id, func() { s.Spot = append(s.Spot, id); s.ByRegion[region] = append(s.ByRegion[region], id) })
			}
			launched++
		default:
			count := min(p.PerLaunch, n-launched)
			stopProtect := p.StopProtectEvery > 0 && seq%p.StopProtectEvery == 0
			in := &ec2.RunInstancesInput{ImageId: aws.String(AMI), InstanceType: types.InstanceTypeP32xlarge,
				MinCount: aws.Int32(int32(count)), MaxCount: aws.Int32(int32(count))}
			if stopProtect {
				// moto honours DisableApiStop at launch.
				in.DisableApiStop = aws.Bool(true)
			}
			if p.ForgedExemptTag && seq == 1 {
				in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance,
					Tags: []types.Tag{{Key: aws.String("killswitch:exempt"), Value: aws.String("true")}}}}
			}
			out, err := c.RunInstances(ctx, in)
			if err != nil {
				return fmt.Errorf("launching %d instances in %s: %w", count, region, err)
			}
			for i, inst := range out.Instances {
				id := aws.ToString(inst.InstanceId)
				termProtect := p.TermProtectEvery > 0 && (seq+i)%p.TermProtectEvery == 0
				if termProtect {
					// moto ignores DisableApiTermination at launch: set it after.
					if _, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
						DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
						return fmt.Errorf("protecting %s in %s: %w", id, region, err)
					}
				}
				forged := p.ForgedExemptTag && seq == 1 && i == 0
				record(id, func() {
					s.ByRegion[region] = append(s.ByRegion[region], id)
					if stopProtect {
						s.StopProtected = append(s.StopProtected, id)
					}
					if termProtect {
						s.TermProtected = append(s.TermProtected, id)
					}
					if forged {
						s.ForgedTag = id
					}
				})
			}
			launched += count
		}
	}
	return nil
}

// States reads back the state of every instance in the given regions.
func States(ctx context.Context, cfg aws.Config, regions []string) (map[string]string, error) {
	states := map[string]string{}
	for _, region := range regions {
		c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
		pages := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading instances back in %s: %w", region, err)
			}
			for _, r := range page.Reservations {
				for _, inst := range r.Instances {
					states[aws.ToString(inst.InstanceId)] = string(inst.State.Name)
				}
			}
		}
	}
	return states, nil
}

// RunningByRegion counts running or pending instances per region.
func RunningByRegion(ctx context.Context, cfg aws.Config, regions []string) (map[string]int, error) {
	out := map[string]int{}
	for _, region := range regions {
		states, err := States(ctx, cfg, []string{region})
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			if st == "running" || st == "pending" {
				out[region]++
			}
		}
	}
	return out, nil
}
