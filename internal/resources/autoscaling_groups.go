package resources

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// AutoScalingGroupsAPI is the slice of the Auto Scaling client that group
// containment uses; unit tests put a fake behind it.
type AutoScalingGroupsAPI interface {
	autoscaling.DescribeAutoScalingGroupsAPIClient
	SuspendProcesses(ctx context.Context, in *autoscaling.SuspendProcessesInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error)
	UpdateAutoScalingGroup(ctx context.Context, in *autoscaling.UpdateAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error)
}

// GroupLaunchProcesses are the Auto Scaling processes the kill switch
// suspends, in the order it names them:
//   - Launch is what adds instances: with it suspended nothing else
//     (scaling policies, an attacker's later size change) can launch;
//   - AZRebalance and ReplaceUnhealthy launch replacements, and the EC2
//     instances kind stops what scale-in leaves behind (scale-in protected
//     instances), which health checks would then mark for replacement;
//   - ScheduledActions would put min, max and desired back up at a time the
//     attacker chose.
//
// Terminate is left alone on purpose: scaling to 0 needs it. So are the
// processes that launch nothing (HealthCheck, AlarmNotification,
// AddToLoadBalancer...), to keep the change, and its restore, small.
var GroupLaunchProcesses = []string{"Launch", "AZRebalance", "ReplaceUnhealthy", "ScheduledActions"}

// VerbScaleGroupToZero is what the kill switch does to an Auto Scaling group.
var VerbScaleGroupToZero = engine.Verb{
	Past: "scaled to 0 (launches suspended)",
	Plan: "suspend launches and scale to 0",
	Note: "Auto Scaling terminates their instances; the restore puts the sizes back and resumes only the processes suspended here",
}

// verbSuspendGroupLaunches is the first half of the change, reported on its
// own when the resize after it fails.
var verbSuspendGroupLaunches = engine.Verb{Past: "launches suspended", Plan: "suspend launches"}

// maxGroupCalls bounds the groups one region changes at once: Auto Scaling's
// API rate is an account-wide bucket, lower than EC2's.
const maxGroupCalls = 4

// AutoScalingGroupPrior is a group as found: enough to scale it back and
// resume exactly what the kill switch suspended.
type AutoScalingGroupPrior struct {
	MinSize         int32 `json:"minSize"`
	MaxSize         int32 `json:"maxSize"`
	DesiredCapacity int32 `json:"desiredCapacity"`
	// AlreadySuspended were suspended before the kill switch came; a
	// restore leaves them suspended.
	AlreadySuspended []string `json:"alreadySuspended,omitempty"`
	// Suspends are the processes this change suspends; a restore resumes
	// these and no others.
	Suspends []string `json:"suspends,omitempty"`
}

func (p AutoScalingGroupPrior) Describe() string {
	s := fmt.Sprintf("min %d, max %d, desired %d", p.MinSize, p.MaxSize, p.DesiredCapacity)
	if len(p.AlreadySuspended) > 0 {
		s += "; already suspended: " + strings.Join(p.AlreadySuspended, ", ")
	}
	return s
}

func (p AutoScalingGroupPrior) atZero() bool {
	return p.MinSize == 0 && p.MaxSize == 0 && p.DesiredCapacity == 0
}

// AutoScalingGroups contains Auto Scaling groups: it suspends what launches
// instances and sets min, max and desired to 0, so that stopping or
// terminating the instances is not undone by the group.
type AutoScalingGroups struct {
	client func(region string) AutoScalingGroupsAPI
}

var _ engine.Kind = (*AutoScalingGroups)(nil)

func NewAutoScalingGroups(client func(region string) AutoScalingGroupsAPI) *AutoScalingGroups {
	return &AutoScalingGroups{client: client}
}

// autoScalingClients builds one Auto Scaling client per region from cfg.
func autoScalingClients(cfg aws.Config) func(region string) AutoScalingGroupsAPI {
	rc := newRegionalClients(func(region string) *autoscaling.Client {
		return autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.Region = region })
	})
	return func(region string) AutoScalingGroupsAPI { return rc.get(region) }
}

func (*AutoScalingGroups) Name() string { return "Auto Scaling groups" }
func (*AutoScalingGroups) Noun() string { return "group" }

// Find lists every group not yet at 0/0/0 with its launches suspended.
// Groups being deleted are left out: they can no longer be updated, and
// their deletion terminates their instances anyway.
func (k *AutoScalingGroups) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	var found []engine.Resource
	pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(k.client(region),
		&autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("describing Auto Scaling groups in %s: %w", region, err)
		}
		for _, g := range page.AutoScalingGroups {
			if aws.ToString(g.Status) != "" {
				continue
			}
			prior := groupPrior(g)
			if prior.atZero() && len(prior.Suspends) == 0 {
				continue
			}
			found = append(found, engine.Resource{
				ID:    aws.ToString(g.AutoScalingGroupName),
				State: fmt.Sprintf("desired %d", prior.DesiredCapacity),
				Prior: prior,
			})
		}
	}
	return found, nil
}

func groupPrior(g types.AutoScalingGroup) AutoScalingGroupPrior {
	p := AutoScalingGroupPrior{
		MinSize:         aws.ToInt32(g.MinSize),
		MaxSize:         aws.ToInt32(g.MaxSize),
		DesiredCapacity: aws.ToInt32(g.DesiredCapacity),
	}
	for _, sp := range g.SuspendedProcesses {
		p.AlreadySuspended = append(p.AlreadySuspended, aws.ToString(sp.ProcessName))
	}
	slices.Sort(p.AlreadySuspended)
	for _, proc := range GroupLaunchProcesses {
		if !slices.Contains(p.AlreadySuspended, proc) {
			p.Suspends = append(p.Suspends, proc)
		}
	}
	return p
}

func (*AutoScalingGroups) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, VerbScaleGroupToZero, "an Auto Scaling group replaces the instances that are stopped or terminated")
}

// Contain changes each group with its own calls (Auto Scaling has no batch
// form of them), a few groups at a time.
func (k *AutoScalingGroups) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	out := make([]engine.Outcome, len(todo))
	sem := make(chan struct{}, maxGroupCalls)
	var wg sync.WaitGroup
	for i, d := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i] = engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusFailed,
				Code: errorCode(ctx.Err()), Message: fmt.Sprintf("Auto Scaling group %s in %s not reached: %v", d.Resource.ID, region, ctx.Err()),
				Prior: d.Resource.Prior}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// A panic is this group's failure, not the process's end.
			defer func() {
				if r := recover(); r != nil {
					out[i] = engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusFailed, Code: "InternalError",
						Message: fmt.Sprintf("internal error while containing Auto Scaling group %s in %s: %v", d.Resource.ID, region, r), Prior: d.Resource.Prior}
				}
			}()
			out[i] = containGroup(ctx, api, region, d)
		}()
	}
	wg.Wait()
	return out
}

// containGroup suspends launches first, so that a failed resize still
// leaves a group that launches nothing, then scales it to 0.
func containGroup(ctx context.Context, api AutoScalingGroupsAPI, region string, d engine.Decision) engine.Outcome {
	name := d.Resource.ID
	o := engine.Outcome{ID: name, Verb: d.Verb, Prior: d.Resource.Prior}
	suspend, resize := GroupLaunchProcesses, true
	if p, ok := d.Resource.Prior.(AutoScalingGroupPrior); ok {
		suspend, resize = p.Suspends, !p.atZero()
	}
	if len(suspend) > 0 {
		_, err := api.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{
			AutoScalingGroupName: aws.String(name), ScalingProcesses: suspend})
		if err != nil {
			return groupFailed(ctx, api, region, o, "suspending the launch processes of", err)
		}
	}
	if resize {
		_, err := api.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(name),
			MinSize:              aws.Int32(0), MaxSize: aws.Int32(0), DesiredCapacity: aws.Int32(0)})
		if err != nil {
			if len(suspend) > 0 {
				// Half done: the report and the restore must see the
				// suspension that did go through.
				o.Also = []engine.Change{{Verb: verbSuspendGroupLaunches, Prior: d.Resource.Prior}}
			}
			return groupFailed(ctx, api, region, o, "scaling to 0", err)
		}
	}
	o.Status = engine.StatusDone
	return o
}

// groupFailed records a failed call. Auto Scaling answers ValidationError
// both for a group that no longer exists and for bad input, so the group is
// reported gone only when a describe confirms it.
func groupFailed(ctx context.Context, api AutoScalingGroupsAPI, region string, o engine.Outcome, doing string, err error) engine.Outcome {
	code := errorCode(err)
	if code == "ValidationError" {
		if gone, _ := groupGone(ctx, api, o.ID); gone {
			o.Status, o.Also, o.Note = engine.StatusGone, nil, "deleted or being deleted"
			return o
		}
	}
	o.Status, o.Code = engine.StatusFailed, code
	o.Message = fmt.Sprintf("%s Auto Scaling group %s in %s: %v", doing, o.ID, region, err)
	return o
}

func groupGone(ctx context.Context, api AutoScalingGroupsAPI, name string) (bool, error) {
	out, err := api.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{name}})
	if err != nil {
		return false, err
	}
	for _, g := range out.AutoScalingGroups {
		if aws.ToString(g.AutoScalingGroupName) == name && aws.ToString(g.Status) == "" {
			return false, nil
		}
	}
	return true, nil
}
