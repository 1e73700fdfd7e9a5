package attack

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// RelauncherPlan is an attack made of what relaunches instances, in one
// region: Auto Scaling groups, persistent Spot requests, a Spot Fleet and an
// EC2 Fleet, each of type that replaces lost capacity.
type RelauncherPlan struct {
	Region string
	// Groups maps an Auto Scaling group's name to its desired capacity.
	Groups map[string]int32
	// PersistentSpot is how many persistent Spot requests to open.
	PersistentSpot int32
	// SpotFleetCapacity and EC2FleetCapacity are the target capacities of
	// one maintain fleet each (0: none).
	SpotFleetCapacity, EC2FleetCapacity int32
}

// SeededRelaunchers is what SeedRelaunchers created.
type SeededRelaunchers struct {
	LaunchTemplateID string
	Groups           []string
	SpotRequests     []string
	SpotFleets       []string
	EC2Fleets        []string
}

// SeedRelaunchers creates the plan's relaunchers, all from one launch
// template, and lets each launch its capacity.
func SeedRelaunchers(ctx context.Context, cfg aws.Config, p RelauncherPlan) (*SeededRelaunchers, error) {
	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = p.Region })
	asc := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.Region = p.Region })
	s := &SeededRelaunchers{}

	lt, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("attacker-gpu"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(AMI), InstanceType: types.InstanceTypeP548xlarge},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the launch template: %w", err)
	}
	s.LaunchTemplateID = aws.ToString(lt.LaunchTemplate.LaunchTemplateId)

	for _, name := range sortedKeys(p.Groups) {
		desired := p.Groups[name]
		_, err := asc.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(name),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{
				LaunchTemplateId: aws.String(s.LaunchTemplateID), Version: aws.String("$Latest")},
			MinSize: aws.Int32(1), MaxSize: aws.Int32(desired + 10), DesiredCapacity: aws.Int32(desired),
			AvailabilityZones: []string{p.Region + "a"},
		})
		if err != nil {
			return nil, fmt.Errorf("creating Auto Scaling group %s: %w", name, err)
		}
		s.Groups = append(s.Groups, name)
	}

	if p.PersistentSpot > 0 {
		out, err := ec2c.RequestSpotInstances(ctx, &ec2.RequestSpotInstancesInput{
			InstanceCount: aws.Int32(p.PersistentSpot),
			Type:          types.SpotInstanceTypePersistent,
			LaunchSpecification: &types.RequestSpotLaunchSpecification{
				ImageId: aws.String(AMI), InstanceType: types.InstanceTypeP548xlarge},
		})
		if err != nil {
			return nil, fmt.Errorf("requesting persistent Spot instances: %w", err)
		}
		for _, r := range out.SpotInstanceRequests {
			s.SpotRequests = append(s.SpotRequests, aws.ToString(r.SpotInstanceRequestId))
		}
	}

	if p.SpotFleetCapacity > 0 {
		out, err := ec2c.RequestSpotFleet(ctx, &ec2.RequestSpotFleetInput{SpotFleetRequestConfig: &types.SpotFleetRequestConfigData{
			IamFleetRole:   aws.String("arn:aws:iam::123456789012:role/attacker-fleet"),
			TargetCapacity: aws.Int32(p.SpotFleetCapacity),
			Type:           types.FleetTypeMaintain,
			// moto requires an allocation strategy.
			AllocationStrategy:   types.AllocationStrategyLowestPrice,
			LaunchSpecifications: []types.SpotFleetLaunchSpecification{{ImageId: aws.String(AMI), InstanceType: types.InstanceTypeP548xlarge}},
		}})
		if err != nil {
			return nil, fmt.Errorf("requesting a Spot Fleet: %w", err)
		}
		s.SpotFleets = append(s.SpotFleets, aws.ToString(out.SpotFleetRequestId))
	}

	if p.EC2FleetCapacity > 0 {
		out, err := ec2c.CreateFleet(ctx, &ec2.CreateFleetInput{
			Type: types.FleetTypeMaintain,
			LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
				LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
					LaunchTemplateId: aws.String(s.LaunchTemplateID), Version: aws.String("$Latest")}}},
			TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
				TotalTargetCapacity: aws.Int32(p.EC2FleetCapacity), OnDemandTargetCapacity: aws.Int32(p.EC2FleetCapacity),
				DefaultTargetCapacityType: types.DefaultTargetCapacityTypeOnDemand},
		})
		if err != nil {
			return nil, fmt.Errorf("creating an EC2 Fleet: %w", err)
		}
		s.EC2Fleets = append(s.EC2Fleets, aws.ToString(out.FleetId))
	}
	return s, nil
}

// GroupState is an Auto Scaling group as read back.
type GroupState struct {
	Min, Max, Desired int32
	Suspended         []string // sorted
	Instances         int
}

// Groups reads back every Auto Scaling group of a region by name.
func Groups(ctx context.Context, cfg aws.Config, region string) (map[string]GroupState, error) {
	c := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.Region = region })
	out := map[string]GroupState{}
	pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(c, &autoscaling.DescribeAutoScalingGroupsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing Auto Scaling groups in %s: %w", region, err)
		}
		for _, g := range page.AutoScalingGroups {
			st := GroupState{Min: aws.ToInt32(g.MinSize), Max: aws.ToInt32(g.MaxSize), Desired: aws.ToInt32(g.DesiredCapacity), Instances: len(g.Instances)}
			for _, sp := range g.SuspendedProcesses {
				st.Suspended = append(st.Suspended, aws.ToString(sp.ProcessName))
			}
			slices.Sort(st.Suspended)
			out[aws.ToString(g.AutoScalingGroupName)] = st
		}
	}
	return out, nil
}

// SpotRequestStates reads back every Spot Instance request of a region that
// EC2 still lists, by ID. (moto drops a request from the listing once it is
// cancelled.)
func SpotRequestStates(ctx context.Context, cfg aws.Config, region string) (map[string]string, error) {
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
	out := map[string]string{}
	pages := ec2.NewDescribeSpotInstanceRequestsPaginator(c, &ec2.DescribeSpotInstanceRequestsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing Spot Instance requests in %s: %w", region, err)
		}
		for _, r := range page.SpotInstanceRequests {
			out[aws.ToString(r.SpotInstanceRequestId)] = string(r.State)
		}
	}
	return out, nil
}

// SpotFleetStates reads back every Spot Fleet request of a region that EC2
// still lists, by ID. (moto drops a fleet from the listing once it is
// cancelled.)
func SpotFleetStates(ctx context.Context, cfg aws.Config, region string) (map[string]string, error) {
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
	out := map[string]string{}
	pages := ec2.NewDescribeSpotFleetRequestsPaginator(c, &ec2.DescribeSpotFleetRequestsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing Spot Fleet requests in %s: %w", region, err)
		}
		for _, f := range page.SpotFleetRequestConfigs {
			out[aws.ToString(f.SpotFleetRequestId)] = string(f.SpotFleetRequestState)
		}
	}
	return out, nil
}

// EC2FleetStates reads back every EC2 Fleet of a region by ID.
func EC2FleetStates(ctx context.Context, cfg aws.Config, region string) (map[string]string, error) {
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
	out := map[string]string{}
	pages := ec2.NewDescribeFleetsPaginator(c, &ec2.DescribeFleetsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing EC2 Fleets in %s: %w", region, err)
		}
		for _, f := range page.Fleets {
			out[aws.ToString(f.FleetId)] = string(f.FleetState)
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
