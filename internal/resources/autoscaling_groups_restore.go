package resources

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// AutoScalingGroupsRestoreAPI is what the restore of groups calls, with the
// operator's credentials (see kinds_restore.go).
type AutoScalingGroupsRestoreAPI interface {
	autoscaling.DescribeAutoScalingGroupsAPIClient
	UpdateAutoScalingGroup(ctx context.Context, in *autoscaling.UpdateAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error)
	ResumeProcesses(ctx context.Context, in *autoscaling.ResumeProcessesInput, optFns ...func(*autoscaling.Options)) (*autoscaling.ResumeProcessesOutput, error)
}

var _ engine.Restorer = (*AutoScalingGroups)(nil)

// maxGroupNamesPerDescribe is DescribeAutoScalingGroups' limit on names.
const maxGroupNamesPerDescribe = 100

// Restore sets each group back to its prior sizes and resumes exactly the
// processes the trip suspended (not the ones the owner had suspended). A
// group whose sizes are neither the trip's 0/0/0 nor the prior ones was
// changed since by someone, and is left as it is.
func (k *AutoScalingGroups) Restore(ctx context.Context, region string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.client(region).(AutoScalingGroupsRestoreAPI)
	if !ok {
		return failAll(items, "", "this Auto Scaling client cannot resume processes")
	}
	groups, err := describeGroups(ctx, api, items)
	if err != nil {
		return failAll(items, "", fmt.Sprintf("describing Auto Scaling groups in %s: %v", region, err))
	}
	return restoreEach(ctx, items, func(ctx context.Context, it engine.RestoreItem) engine.RestoreResult {
		prior, err := decodePrior[AutoScalingGroupPrior](it)
		if err != nil {
			return engine.LeftAlone(it.ID, fmt.Sprintf("Auto Scaling group %s in %s: %v", it.ID, region, err))
		}
		g, ok := groups[it.ID]
		if !ok {
			return engine.LeftAlone(it.ID, "not restorable: the group no longer exists")
		}
		now := groupPrior(g)
		resize := false
		switch {
		case sameSizes(now, prior):
		case now.atZero():
			resize = true
		default:
			return engine.LeftAlone(it.ID, fmt.Sprintf("changed since: now min %d, max %d, desired %d (before the trip: min %d, max %d, desired %d)",
				now.MinSize, now.MaxSize, now.DesiredCapacity, prior.MinSize, prior.MaxSize, prior.DesiredCapacity))
		}
		var resume []string
		for _, p := range prior.Suspends {
			if slices.Contains(now.AlreadySuspended, p) {
				resume = append(resume, p)
			}
		}
		if !resize && len(resume) == 0 {
			return engine.AlreadyRestored(it.ID, "sizes and processes as before the trip")
		}
		var action []string
		if resize {
			action = append(action, fmt.Sprintf("set min %d, max %d, desired %d", prior.MinSize, prior.MaxSize, prior.DesiredCapacity))
		}
		if len(resume) > 0 {
			action = append(action, "resume "+strings.Join(resume, ", "))
		}
		act := strings.Join(action, "; ")
		if dryRun {
			return engine.Restored(it.ID, act, true)
		}
		// Sizes first, then the processes: resuming Launch on a group still
		// at 0 launches nothing, and sizes set under a suspended Launch wait
		// for it.
		if resize {
			if _, err := api.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
				AutoScalingGroupName: aws.String(it.ID),
				MinSize:              aws.Int32(prior.MinSize), MaxSize: aws.Int32(prior.MaxSize), DesiredCapacity: aws.Int32(prior.DesiredCapacity),
			}); err != nil {
				return engine.RestoreFailure(it.ID, act, fmt.Sprintf("setting the sizes of Auto Scaling group %s in %s: %v", it.ID, region, err))
			}
		}
		if len(resume) > 0 {
			if _, err := api.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{
				AutoScalingGroupName: aws.String(it.ID), ScalingProcesses: resume}); err != nil {
				return engine.RestoreFailure(it.ID, act, fmt.Sprintf("resuming the processes of Auto Scaling group %s in %s: %v", it.ID, region, err))
			}
		}
		return engine.Restored(it.ID, act, false)
	})
}

func sameSizes(a, b AutoScalingGroupPrior) bool {
	return a.MinSize == b.MinSize && a.MaxSize == b.MaxSize && a.DesiredCapacity == b.DesiredCapacity
}

// describeGroups reads the named groups that still exist and are not being
// deleted.
func describeGroups(ctx context.Context, api autoscaling.DescribeAutoScalingGroupsAPIClient, items []engine.RestoreItem) (map[string]types.AutoScalingGroup, error) {
	out := map[string]types.AutoScalingGroup{}
	for lo := 0; lo < len(items); lo += maxGroupNamesPerDescribe {
		var names []string
		for _, it := range items[lo:min(lo+maxGroupNamesPerDescribe, len(items))] {
			names = append(names, it.ID)
		}
		pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(api, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, g := range page.AutoScalingGroups {
				if aws.ToString(g.Status) == "" {
					out[aws.ToString(g.AutoScalingGroupName)] = g
				}
			}
		}
	}
	return out, nil
}
