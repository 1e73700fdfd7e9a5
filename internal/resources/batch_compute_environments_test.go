package resources_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// fakeBatch is a hand-written BatchComputeEnvironmentsAPI and BatchJobsAPI.
// moto ignores computeResources in UpdateComputeEnvironment and needs
// Docker to run jobs, so vCPU limits and jobs are covered here.
type fakeBatch struct {
	mu      sync.Mutex
	envs    []*types.ComputeEnvironmentDetail
	queues  []string
	jobs    map[string][]*types.JobSummary // by queue
	refuse0 bool                           // refuse a maxvCpus of 0, as Batch may
	updErr  map[string]error               // by environment name
	termErr map[string]error               // by job ID
	updates []batch.UpdateComputeEnvironmentInput
	terms   []batch.TerminateJobInput
}

var (
	_ resources.BatchComputeEnvironmentsAPI = (*fakeBatch)(nil)
	_ resources.BatchJobsAPI                = (*fakeBatch)(nil)
)

func newFakeBatch() *fakeBatch {
	return &fakeBatch{jobs: map[string][]*types.JobSummary{}, updErr: map[string]error{}, termErr: map[string]error{}}
}

func (f *fakeBatch) addEnv(name string, typ types.CEType, state types.CEState, cr *types.ComputeResource) {
	if cr != nil {
		c := *cr
		cr = &c
	}
	f.envs = append(f.envs, &types.ComputeEnvironmentDetail{ComputeEnvironmentName: aws.String(name), Type: typ,
		State: state, Status: types.CEStatusValid, ComputeResources: cr})
}

func (f *fakeBatch) DescribeComputeEnvironments(_ context.Context, in *batch.DescribeComputeEnvironmentsInput, _ ...func(*batch.Options)) (*batch.DescribeComputeEnvironmentsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []types.ComputeEnvironmentDetail
	for _, e := range f.envs {
		cp := *e
		if e.ComputeResources != nil {
			cr := *e.ComputeResources
			cp.ComputeResources = &cr
		}
		all = append(all, cp)
	}
	page, next := cpage(all, in.NextToken, 0)
	return &batch.DescribeComputeEnvironmentsOutput{ComputeEnvironments: page, NextToken: next}, nil
}

func (f *fakeBatch) UpdateComputeEnvironment(_ context.Context, in *batch.UpdateComputeEnvironmentInput, _ ...func(*batch.Options)) (*batch.UpdateComputeEnvironmentOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, *in)
	name := aws.ToString(in.ComputeEnvironment)
	if err := f.updErr[name]; err != nil {
		return nil, err
	}
	for _, e := range f.envs {
		if aws.ToString(e.ComputeEnvironmentName) != name {
			continue
		}
		if cr := in.ComputeResources; cr != nil {
			if e.ComputeResources == nil {
				return nil, &types.ClientException{Message: aws.String("unmanaged environments have no compute resources")}
			}
			if cr.MaxvCpus != nil && *cr.MaxvCpus == 0 && f.refuse0 {
				return nil, &types.ClientException{Message: aws.String("maxvCpus must be positive")}
			}
			if cr.MaxvCpus != nil {
				e.ComputeResources.MaxvCpus = cr.MaxvCpus
			}
			if cr.MinvCpus != nil {
				e.ComputeResources.MinvCpus = cr.MinvCpus
			}
		}
		e.State = in.State
		return &batch.UpdateComputeEnvironmentOutput{}, nil
	}
	return nil, &types.ClientException{Message: aws.String("no such environment")}
}

func (f *fakeBatch) DescribeJobQueues(_ context.Context, in *batch.DescribeJobQueuesInput, _ ...func(*batch.Options)) (*batch.DescribeJobQueuesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names, next := cpage(f.queues, in.NextToken, 1)
	out := &batch.DescribeJobQueuesOutput{NextToken: next}
	for _, n := range names {
		out.JobQueues = append(out.JobQueues, types.JobQueueDetail{JobQueueName: aws.String(n)})
	}
	return out, nil
}

func (f *fakeBatch) ListJobs(_ context.Context, in *batch.ListJobsInput, _ ...func(*batch.Options)) (*batch.ListJobsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []types.JobSummary
	for _, j := range f.jobs[aws.ToString(in.JobQueue)] {
		if j.Status == in.JobStatus {
			match = append(match, *j)
		}
	}
	page, next := cpage(match, in.NextToken, 0)
	return &batch.ListJobsOutput{JobSummaryList: page, NextToken: next}, nil
}

func (f *fakeBatch) TerminateJob(_ context.Context, in *batch.TerminateJobInput, _ ...func(*batch.Options)) (*batch.TerminateJobOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.terms = append(f.terms, *in)
	if err := f.termErr[aws.ToString(in.JobId)]; err != nil {
		return nil, err
	}
	if aws.ToString(in.Reason) == "" {
		return nil, &types.ClientException{Message: aws.String("reason is required")}
	}
	for _, js := range f.jobs {
		for _, j := range js {
			if aws.ToString(j.JobId) == aws.ToString(in.JobId) {
				j.Status = types.JobStatusFailed
			}
		}
	}
	return &batch.TerminateJobOutput{}, nil
}

func batchEnvKind(f *fakeBatch) *resources.BatchComputeEnvironments {
	return resources.NewBatchComputeEnvironments(func(string) resources.BatchComputeEnvironmentsAPI { return f })
}

func TestBatchComputeEnvironments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		typ     types.CEType
		state   types.CEState
		cr      *types.ComputeResource
		refuse0 bool
		verb    engine.Verb // zero: not found at all
		wantMin *int32      // after the sweep
		wantMax *int32
	}{
		{name: "managed EC2", typ: types.CETypeManaged, state: types.CEStateEnabled,
			cr:   &types.ComputeResource{Type: types.CRTypeEc2, MinvCpus: aws.Int32(4), MaxvCpus: aws.Int32(256), DesiredvCpus: aws.Int32(8)},
			verb: resources.VerbDisableScaleCE, wantMin: aws.Int32(0), wantMax: aws.Int32(0)},
		{name: "managed Fargate has no minimum", typ: types.CETypeManaged, state: types.CEStateEnabled,
			cr:   &types.ComputeResource{Type: types.CRTypeFargate, MaxvCpus: aws.Int32(256)},
			verb: resources.VerbDisableScaleCE, wantMax: aws.Int32(0)},
		{name: "unmanaged has no limits", typ: types.CETypeUnmanaged, state: types.CEStateEnabled,
			verb: resources.VerbDisableCE},
		{name: "disabled but holding its minimum", typ: types.CETypeManaged, state: types.CEStateDisabled,
			cr:   &types.ComputeResource{Type: types.CRTypeSpot, MinvCpus: aws.Int32(16), MaxvCpus: aws.Int32(64)},
			verb: resources.VerbDisableScaleCE, wantMin: aws.Int32(0), wantMax: aws.Int32(0)},
		{name: "disabled at minimum 0 is contained", typ: types.CETypeManaged, state: types.CEStateDisabled,
			cr: &types.ComputeResource{Type: types.CRTypeEc2, MinvCpus: aws.Int32(0), MaxvCpus: aws.Int32(64)}},
		{name: "maximum 0 refused: disabled with minimum 0", typ: types.CETypeManaged, state: types.CEStateEnabled, refuse0: true,
			cr:   &types.ComputeResource{Type: types.CRTypeEc2, MinvCpus: aws.Int32(4), MaxvCpus: aws.Int32(256)},
			verb: resources.VerbDisableCE, wantMin: aws.Int32(0), wantMax: aws.Int32(256)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeBatch()
			f.refuse0 = tc.refuse0
			f.addEnv("miner-ce", tc.typ, tc.state, tc.cr)
			kr := sweepKind(t, batchEnvKind(f), engine.Policy{})
			got := outcomesByID(kr)
			if tc.verb == (engine.Verb{}) {
				if kr.Found != 0 || len(f.updates) != 0 {
					t.Fatalf("found %d, updates %d; want nothing", kr.Found, len(f.updates))
				}
				return
			}
			o := wantOutcome(t, got, "miner-ce", engine.StatusDone, tc.verb, "")
			p, ok := o.Prior.(resources.ComputeEnvironmentPrior)
			if !ok || p.State != string(tc.state) {
				t.Errorf("prior = %#v", o.Prior)
			}
			if tc.cr != nil && (aws.ToInt32(p.MaxvCpus) != aws.ToInt32(tc.cr.MaxvCpus) || (p.MinvCpus == nil) != (tc.cr.MinvCpus == nil)) {
				t.Errorf("prior %s does not hold the limits %+v", p.Describe(), tc.cr)
			}
			if tc.refuse0 && o.Note == "" {
				t.Error("no note says maxvCpus 0 was refused")
			}
			e := f.envs[0]
			if e.State != types.CEStateDisabled {
				t.Errorf("state = %s, want DISABLED", e.State)
			}
			if tc.cr != nil {
				if tc.wantMin != nil && aws.ToInt32(e.ComputeResources.MinvCpus) != *tc.wantMin {
					t.Errorf("minvCpus = %d, want %d", aws.ToInt32(e.ComputeResources.MinvCpus), *tc.wantMin)
				}
				if tc.wantMin == nil && e.ComputeResources.MinvCpus != nil {
					t.Error("minvCpus set on an environment that has none")
				}
				if aws.ToInt32(e.ComputeResources.MaxvCpus) != aws.ToInt32(tc.wantMax) {
					t.Errorf("maxvCpus = %d, want %d", aws.ToInt32(e.ComputeResources.MaxvCpus), aws.ToInt32(tc.wantMax))
				}
			}
			before := len(f.updates)
			if kr := sweepKind(t, batchEnvKind(f), engine.Policy{}); kr.Found != 0 || len(f.updates) != before {
				t.Errorf("second sweep found %d and made %d more updates", kr.Found, len(f.updates)-before)
			}
		})
	}
}

func TestBatchComputeEnvironmentUpdateFails(t *testing.T) {
	t.Parallel()
	f := newFakeBatch()
	f.addEnv("ce", types.CETypeUnmanaged, types.CEStateEnabled, nil)
	f.updErr["ce"] = apiErr("AccessDeniedException")
	o := wantOutcome(t, outcomesByID(sweepKind(t, batchEnvKind(f), engine.Policy{})), "ce", engine.StatusFailed, resources.VerbDisableCE, "AccessDeniedException")
	if o.Prior == nil {
		t.Error("failure lost its prior state")
	}
}
