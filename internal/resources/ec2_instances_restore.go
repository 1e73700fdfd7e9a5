package resources

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// EC2InstancesRestoreAPI is what the restore of instances calls, with the
// operator's credentials (see kinds_restore.go).
type EC2InstancesRestoreAPI interface {
	ec2.DescribeInstancesAPIClient
	StartInstances(ctx context.Context, in *ec2.StartInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error)
	ModifyInstanceAttribute(ctx context.Context, in *ec2.ModifyInstanceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
}

var _ engine.Restorer = (*EC2Instances)(nil)

// Restore starts the instances the trip stopped that were running before
// and are still stopped, then turns back on the protection it turned off.
// Terminated ones cannot come back; ones the owner has started, or that
// were not running before, are left as they are.
func (k *EC2Instances) Restore(ctx context.Context, region string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.client(region).(EC2InstancesRestoreAPI)
	if !ok {
		return failAll(items, "", "this EC2 client cannot start instances")
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	current, err := instanceStates(ctx, api, ids)
	if err != nil {
		return failAll(items, "start", fmt.Sprintf("reading the instances' current state in %s: %v", region, err))
	}

	out := make([]engine.RestoreResult, 0, len(items))
	var start []engine.RestoreItem
	for _, it := range items {
		prior, err := decodePrior[InstancePrior](it)
		state, exists := current[it.ID]
		switch {
		case err != nil:
			out = append(out, engine.LeftAlone(it.ID, fmt.Sprintf("instance %s in %s: %v", it.ID, region, err)))
		case it.Verb == VerbTerminateInstance && it.Status == engine.StatusDone:
			out = append(out, engine.LeftAlone(it.ID, "not restorable: terminated by the trip"))
		case !exists || state == string(types.InstanceStateNameTerminated) || state == string(types.InstanceStateNameShuttingDown):
			out = append(out, engine.LeftAlone(it.ID, "not restorable: terminated"))
		case prior.State != string(types.InstanceStateNameRunning) && prior.State != string(types.InstanceStateNamePending):
			out = append(out, engine.LeftAlone(it.ID, "was "+prior.State+" before the trip, not running"))
		case state == string(types.InstanceStateNameRunning) || state == string(types.InstanceStateNamePending):
			out = append(out, engine.AlreadyRestored(it.ID, "already "+state))
		case state == string(types.InstanceStateNameStopped):
			start = append(start, it)
		default: // stopping: EC2 refuses to start it until it has stopped
			out = append(out, engine.RestoreFailure(it.ID, "start", fmt.Sprintf("instance %s in %s is still %s; run the restore again once it has stopped", it.ID, region, state)))
		}
	}
	if dryRun {
		for _, it := range start {
			out = append(out, engine.Restored(it.ID, startAction(it), true))
		}
		return out
	}
	return append(out, k.start(ctx, api, region, start)...)
}

// start starts the instances, up to 1,000 a call; when a call fails, each
// is tried alone so one bad instance costs only itself.
func (k *EC2Instances) start(ctx context.Context, api EC2InstancesRestoreAPI, region string, items []engine.RestoreItem) []engine.RestoreResult {
	var out []engine.RestoreResult
	for lo := 0; lo < len(items); lo += maxIDsPerCall {
		batch := items[min(lo, len(items)):min(lo+maxIDsPerCall, len(items))]
		ids := make([]string, len(batch))
		for i, it := range batch {
			ids[i] = it.ID
		}
		if _, err := api.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids}); err == nil {
			for _, it := range batch {
				out = append(out, reprotect(ctx, api, region, it))
			}
			continue
		}
		for _, it := range batch {
			if _, err := api.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{it.ID}}); err != nil {
				out = append(out, engine.RestoreFailure(it.ID, "start", fmt.Sprintf("starting instance %s in %s: %v", it.ID, region, err)))
				continue
			}
			out = append(out, reprotect(ctx, api, region, it))
		}
	}
	return out
}

// reprotect turns back on the stop and termination protection the trip
// turned off to let its stop through.
func reprotect(ctx context.Context, api EC2InstancesRestoreAPI, region string, it engine.RestoreItem) engine.RestoreResult {
	for _, c := range it.Also {
		p, err := decodePrior[ProtectionPrior](engine.RestoreItem{Prior: rawOf(c.Prior)})
		if err != nil || !p.Enabled {
			continue
		}
		in := &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(it.ID)}
		switch p.Attribute {
		case attrDisableAPIStop:
			in.DisableApiStop = &types.AttributeBooleanValue{Value: aws.Bool(true)}
		case attrDisableAPITermination:
			in.DisableApiTermination = &types.AttributeBooleanValue{Value: aws.Bool(true)}
		default:
			continue
		}
		if _, err := api.ModifyInstanceAttribute(ctx, in); err != nil {
			return engine.RestoreFailure(it.ID, startAction(it), fmt.Sprintf("instance %s in %s started, but turning %s back on failed: %v", it.ID, region, p.Attribute, err))
		}
	}
	return engine.Restored(it.ID, startAction(it), false)
}

func startAction(it engine.RestoreItem) string {
	a := "start"
	for _, c := range it.Also {
		if p, err := decodePrior[ProtectionPrior](engine.RestoreItem{Prior: rawOf(c.Prior)}); err == nil && p.Enabled {
			a += ", turn " + p.Attribute + " back on"
		}
	}
	return a
}

// rawOf is a change's prior state as JSON, however it was read.
func rawOf(p engine.PriorState) engine.RawPrior {
	if raw, ok := p.(engine.RawPrior); ok {
		return raw
	}
	return nil
}

// instanceStates reads the current state of each instance that still
// exists (terminated ones are listed until EC2 forgets them). A filter,
// unlike InstanceIds, does not fail the whole call for one ID that no
// longer exists.
func instanceStates(ctx context.Context, api ec2.DescribeInstancesAPIClient, ids []string) (map[string]string, error) {
	states := map[string]string{}
	for lo := 0; lo < len(ids); lo += maxFilterValues {
		chunk := ids[lo:min(lo+maxFilterValues, len(ids))]
		pages := ec2.NewDescribeInstancesPaginator(api, &ec2.DescribeInstancesInput{
			Filters: []types.Filter{{Name: aws.String("instance-id"), Values: chunk}}, MaxResults: aws.Int32(1000)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, r := range page.Reservations {
				for _, inst := range r.Instances {
					if inst.State != nil {
						states[aws.ToString(inst.InstanceId)] = string(inst.State.Name)
					}
				}
			}
		}
	}
	return states, nil
}

// failAll answers every item with the same failure.
func failAll(items []engine.RestoreItem, action, detail string) []engine.RestoreResult {
	out := make([]engine.RestoreResult, len(items))
	for i, it := range items {
		out[i] = engine.RestoreFailure(it.ID, action, detail)
	}
	return out
}
