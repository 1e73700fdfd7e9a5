package resources

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// EC2InstancesAPI is the slice of the EC2 client that instance containment
// uses; unit tests put a fake behind it.
type EC2InstancesAPI interface {
	ec2.DescribeInstancesAPIClient
	StopInstances(ctx context.Context, in *ec2.StopInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
	// DescribeInstanceAttribute reads protection where it is dense, from
	// the describe bucket rather than the mutating one.
	DescribeInstanceAttribute(ctx context.Context, in *ec2.DescribeInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstanceAttributeOutput, error)
}

// EC2 caps StopInstances and TerminateInstances at 1,000 IDs a call.
const maxIDsPerCall = 1000

// Attribute keys EC2Instances puts on a Resource.
const (
	attrLifecycle    = "lifecycle"   // "spot", "capacity-block", or "" for on-demand
	attrRootDevice   = "root-device" // "ebs" or "instance-store"
	attrInstanceType = "instance-type"
)

// Verbs of EC2 instances, and of the protection they turn off on the way.
var (
	VerbStopInstance      = engine.Verb{Past: "stopped", Plan: "stop", Note: "their disks (EBS) are kept; start them again when safe"}
	VerbTerminateInstance = engine.Verb{Past: "terminated", Plan: "terminate"}
	verbStopProtectionOff = engine.Verb{Past: "stop protection (disableApiStop) turned off", Plan: "turn off stop protection"}
	verbTermProtectionOff = engine.Verb{Past: "termination protection (disableApiTermination) turned off", Plan: "turn off termination protection"}
)

// InstancePrior is an instance as found, before it was stopped or
// terminated: a restore starts the ones that were running.
type InstancePrior struct {
	State        string `json:"state"`
	InstanceType string `json:"instanceType,omitempty"`
	Lifecycle    string `json:"lifecycle,omitempty"`
}

func (p InstancePrior) Describe() string { return p.State }

// ProtectionPrior is a protection attribute as it was before it was turned
// off to let the action through.
type ProtectionPrior struct {
	Attribute string `json:"attribute"`
	Enabled   bool   `json:"enabled"`
}

func (p ProtectionPrior) Describe() string {
	return fmt.Sprintf("%s=%t", p.Attribute, p.Enabled)
}

// EC2InstanceOptions are the owner's deploy-time choices for instances.
type EC2InstanceOptions struct {
	// Terminate terminates every instance instead of stopping it.
	Terminate bool
	// TerminateUnstoppable terminates, in stop mode, what cannot be stopped:
	// an instance-store root (known from the describe data) or a one-time
	// Spot instance (known when EC2 refuses the stop). Otherwise it is left
	// running and reported.
	TerminateUnstoppable bool
	// OverrideProtection turns off stop and termination protection that
	// blocks the action, then retries it.
	OverrideProtection bool
	// Pacing keeps the calls within EC2's request buckets (EC2Pacing in
	// production); the zero Pacing paces nothing.
	Pacing Pacing
}

// EC2Instances contains EC2 instances: stop by default, which keeps EBS data
// so a false alarm loses nothing; terminate where the owner chose it or
// where an instance cannot be stopped.
type EC2Instances struct {
	client func(region string) EC2InstancesAPI
	opts   EC2InstanceOptions
}

var _ engine.Kind = (*EC2Instances)(nil)

func NewEC2Instances(client func(region string) EC2InstancesAPI, opts EC2InstanceOptions) *EC2Instances {
	return &EC2Instances{client: client, opts: opts}
}

func (*EC2Instances) Name() string { return "EC2 instances" }
func (*EC2Instances) Noun() string { return "instance" }

// Find lists instances worth acting on, over every page and every
// reservation: an attack is many RunInstances calls, hence many reservations.
// Stop mode skips stopped and stopping instances, so a second run makes no
// needless calls; terminate mode takes stopped ones too, since the attacker
// could start them again.
func (k *EC2Instances) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	states := []string{"pending", "running"}
	if k.opts.Terminate {
		states = append(states, "stopping", "stopped")
	}
	in := &ec2.DescribeInstancesInput{
		// The instance-lifecycle filter is not used: lifecycle is read from
		// the describe data (and moto cannot serve that filter).
		Filters:    []types.Filter{{Name: aws.String("instance-state-name"), Values: states}},
		MaxResults: aws.Int32(1000),
	}
	var found []engine.Resource
	pages := ec2.NewDescribeInstancesPaginator(k.client(region), in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("describing instances in %s: %w", region, err)
		}
		for _, res := range page.Reservations {
			for _, inst := range res.Instances {
				found = append(found, instanceResource(inst))
			}
		}
	}
	return found, nil
}

func instanceResource(inst types.Instance) engine.Resource {
	state := ""
	if inst.State != nil {
		state = string(inst.State.Name)
	}
	return engine.Resource{
		ID:    aws.ToString(inst.InstanceId),
		State: state,
		Attributes: map[string]string{
			attrLifecycle:    string(inst.InstanceLifecycle),
			attrRootDevice:   string(inst.RootDeviceType),
			attrInstanceType: string(inst.InstanceType),
		},
		Prior:  InstancePrior{State: state, InstanceType: string(inst.InstanceType), Lifecycle: string(inst.InstanceLifecycle)},
		Parent: launcher(inst.Tags),
	}
}

// launcherTags name what launched an instance. Tags under "aws:" are set by
// AWS alone (users cannot create or change them), so unlike the
// killswitch:exempt tag an attacker might forge, they can be trusted.
var launcherTags = []string{"aws:autoscaling:groupName", "aws:ec2spot:fleet-request-id", "aws:ec2:fleet-id"}

func launcher(tags []types.Tag) string {
	for _, key := range launcherTags {
		for _, t := range tags {
			if aws.ToString(t.Key) == key {
				return aws.ToString(t.Value)
			}
		}
	}
	return ""
}

// Decide chooses from the describe data alone, never from error text.
func (k *EC2Instances) Decide(r engine.Resource) engine.Decision {
	switch {
	case r.State == "shutting-down" || r.State == "terminated":
		return engine.Leave(r, "already "+r.State)
	case k.opts.Terminate:
		return engine.Act(r, VerbTerminateInstance, "action is terminate")
	case r.State == "stopped" || r.State == "stopping":
		return engine.Leave(r, "already "+r.State)
	}
	why := unstoppableReason(r)
	switch {
	case why == "" && isSpot(r):
		// Stopped first like any other: a persistent request's instance can
		// be stopped, which disables the request, while terminating it would
		// make EC2 launch a replacement. A one-time Spot instance is refused
		// with UnsupportedOperation, and only then terminated.
		return engine.Act(r, VerbStopInstance, "action is stop; a Spot instance is stopped first, and terminated only if EC2 refuses (one-time Spot)")
	case why == "":
		return engine.Act(r, VerbStopInstance, "action is stop")
	case k.opts.TerminateUnstoppable:
		return engine.Act(r, VerbTerminateInstance, why+", so it is terminated (KILLSWITCH_TERMINATE_UNSTOPPABLE=true)")
	default:
		return engine.Leave(r, why+"; left RUNNING because KILLSWITCH_TERMINATE_UNSTOPPABLE=false")
	}
}

// unstoppableReason says why EC2 would refuse to stop r, or "" if it would
// not. A Spot instance is not named here: the describe data does not say
// whether its request is one-time (unstoppable) or persistent (stoppable),
// so EC2's answer to the stop decides.
func unstoppableReason(r engine.Resource) string {
	if r.Attributes[attrRootDevice] == string(types.DeviceTypeInstanceStore) {
		return "instance-store root cannot be stopped"
	}
	return ""
}

func isSpot(r engine.Resource) bool {
	return r.Attributes[attrLifecycle] == string(types.InstanceLifecycleTypeSpot)
}

// Contain stops and terminates in batches of at most 1,000 IDs. Spot
// instances are stopped in batches of their own: each one-time Spot
// instance fails its whole batch, and the split that finds it should not
// cost the other instances' batches extra calls.
func (k *EC2Instances) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	c := newInstanceContainer(k.client(region), k.opts)
	var stops, spotStops, terms []string
	for _, d := range todo {
		id := d.Resource.ID
		switch {
		case d.Verb != VerbStopInstance:
			terms = append(terms, id)
		case isSpot(d.Resource):
			spotStops = append(spotStops, id)
		default:
			stops = append(stops, id)
		}
		c.states[id] = d.Resource.State
		c.priors[id] = d.Resource.Prior
	}
	for _, group := range []struct {
		action instanceAction
		ids    []string
	}{{actionStop, stops}, {actionStop, spotStops}, {actionTerminate, terms}} {
		for start := 0; start < len(group.ids); start += maxIDsPerCall {
			end := min(start+maxIDsPerCall, len(group.ids))
			c.batch(ctx, group.action, group.ids[start:end])
		}
	}
	c.verify(ctx)
	return c.outcomes
}
