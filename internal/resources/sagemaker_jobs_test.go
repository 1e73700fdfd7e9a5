package resources_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// fakeSageMaker is a hand-written SageMakerNotebooksAPI and
// SageMakerJobsAPI. moto has no StopTrainingJob, StopProcessingJob,
// StopTransformJob or StopHyperParameterTuningJob, and its training jobs
// are Completed at once, so these paths live here.
type fakeSageMaker struct {
	mu        sync.Mutex
	notebooks []*types.NotebookInstanceSummary
	// jobs by type prefix ("training-job"...), each with its status.
	jobs map[string][]*fakeSMJob
	// stopErr fails the stop of that job or notebook name.
	stopErr map[string]error
	listErr map[string]error // by type prefix
	calls   []string         // "<type>/<name>" of every stop, in order
}

type fakeSMJob struct {
	name, status string
	parent       string // tuning job that launched it
}

var (
	_ resources.SageMakerNotebooksAPI = (*fakeSageMaker)(nil)
	_ resources.SageMakerJobsAPI      = (*fakeSageMaker)(nil)
)

func newFakeSageMaker() *fakeSageMaker {
	return &fakeSageMaker{jobs: map[string][]*fakeSMJob{}, stopErr: map[string]error{}, listErr: map[string]error{}}
}

func (f *fakeSageMaker) inProgress(typ string, token *string) ([]string, *string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.listErr[typ]; err != nil {
		return nil, nil, err
	}
	var names []string
	for _, j := range f.jobs[typ] {
		if j.status == "InProgress" {
			names = append(names, j.name)
		}
	}
	page, next := cpage(names, token, 0)
	return page, next, nil
}

func (f *fakeSageMaker) stop(typ, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, typ+"/"+name)
	if err := f.stopErr[name]; err != nil {
		return err
	}
	for _, j := range f.jobs[typ] {
		if j.name != name {
			continue
		}
		if j.status != "InProgress" {
			return apiErr("ValidationException")
		}
		j.status = "Stopping"
		// A tuning job stops the training jobs it launched.
		for _, c := range f.jobs["training-job"] {
			if c.parent == name && c.status == "InProgress" {
				c.status = "Stopping"
			}
		}
		return nil
	}
	return &types.ResourceNotFound{Message: aws.String("not found")}
}

func (f *fakeSageMaker) status(typ, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, j := range f.jobs[typ] {
		if j.name == name {
			return j.status, nil
		}
	}
	return "", &types.ResourceNotFound{Message: aws.String("not found")}
}

func (f *fakeSageMaker) ListNotebookInstances(_ context.Context, in *sagemaker.ListNotebookInstancesInput, _ ...func(*sagemaker.Options)) (*sagemaker.ListNotebookInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []types.NotebookInstanceSummary
	for _, nb := range f.notebooks {
		all = append(all, *nb)
	}
	page, next := cpage(all, in.NextToken, 0)
	return &sagemaker.ListNotebookInstancesOutput{NotebookInstances: page, NextToken: next}, nil
}

func (f *fakeSageMaker) StopNotebookInstance(_ context.Context, in *sagemaker.StopNotebookInstanceInput, _ ...func(*sagemaker.Options)) (*sagemaker.StopNotebookInstanceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.NotebookInstanceName)
	f.calls = append(f.calls, "notebook/"+name)
	if err := f.stopErr[name]; err != nil {
		return nil, err
	}
	for _, nb := range f.notebooks {
		if aws.ToString(nb.NotebookInstanceName) == name && nb.NotebookInstanceStatus == types.NotebookInstanceStatusInService {
			nb.NotebookInstanceStatus = types.NotebookInstanceStatusStopping
			return &sagemaker.StopNotebookInstanceOutput{}, nil
		}
	}
	return nil, apiErr("ValidationException")
}

func (f *fakeSageMaker) ListHyperParameterTuningJobs(_ context.Context, in *sagemaker.ListHyperParameterTuningJobsInput, _ ...func(*sagemaker.Options)) (*sagemaker.ListHyperParameterTuningJobsOutput, error) {
	names, next, err := f.inProgress("hyper-parameter-tuning-job", in.NextToken)
	out := &sagemaker.ListHyperParameterTuningJobsOutput{NextToken: next}
	for _, n := range names {
		out.HyperParameterTuningJobSummaries = append(out.HyperParameterTuningJobSummaries, types.HyperParameterTuningJobSummary{HyperParameterTuningJobName: aws.String(n)})
	}
	return out, err
}

func (f *fakeSageMaker) ListTrainingJobs(_ context.Context, in *sagemaker.ListTrainingJobsInput, _ ...func(*sagemaker.Options)) (*sagemaker.ListTrainingJobsOutput, error) {
	names, next, err := f.inProgress("training-job", in.NextToken)
	out := &sagemaker.ListTrainingJobsOutput{NextToken: next}
	for _, n := range names {
		out.TrainingJobSummaries = append(out.TrainingJobSummaries, types.TrainingJobSummary{TrainingJobName: aws.String(n)})
	}
	return out, err
}

func (f *fakeSageMaker) ListProcessingJobs(_ context.Context, in *sagemaker.ListProcessingJobsInput, _ ...func(*sagemaker.Options)) (*sagemaker.ListProcessingJobsOutput, error) {
	names, next, err := f.inProgress("processing-job", in.NextToken)
	out := &sagemaker.ListProcessingJobsOutput{NextToken: next}
	for _, n := range names {
		out.ProcessingJobSummaries = append(out.ProcessingJobSummaries, types.ProcessingJobSummary{ProcessingJobName: aws.String(n)})
	}
	return out, err
}

func (f *fakeSageMaker) ListTransformJobs(_ context.Context, in *sagemaker.ListTransformJobsInput, _ ...func(*sagemaker.Options)) (*sagemaker.ListTransformJobsOutput, error) {
	names, next, err := f.inProgress("transform-job", in.NextToken)
	out := &sagemaker.ListTransformJobsOutput{NextToken: next}
	for _, n := range names {
		out.TransformJobSummaries = append(out.TransformJobSummaries, types.TransformJobSummary{TransformJobName: aws.String(n)})
	}
	return out, err
}

func (f *fakeSageMaker) StopHyperParameterTuningJob(_ context.Context, in *sagemaker.StopHyperParameterTuningJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.StopHyperParameterTuningJobOutput, error) {
	return &sagemaker.StopHyperParameterTuningJobOutput{}, f.stop("hyper-parameter-tuning-job", aws.ToString(in.HyperParameterTuningJobName))
}

func (f *fakeSageMaker) StopTrainingJob(_ context.Context, in *sagemaker.StopTrainingJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.StopTrainingJobOutput, error) {
	return &sagemaker.StopTrainingJobOutput{}, f.stop("training-job", aws.ToString(in.TrainingJobName))
}

func (f *fakeSageMaker) StopProcessingJob(_ context.Context, in *sagemaker.StopProcessingJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.StopProcessingJobOutput, error) {
	return &sagemaker.StopProcessingJobOutput{}, f.stop("processing-job", aws.ToString(in.ProcessingJobName))
}

func (f *fakeSageMaker) StopTransformJob(_ context.Context, in *sagemaker.StopTransformJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.StopTransformJobOutput, error) {
	return &sagemaker.StopTransformJobOutput{}, f.stop("transform-job", aws.ToString(in.TransformJobName))
}

func (f *fakeSageMaker) DescribeHyperParameterTuningJob(_ context.Context, in *sagemaker.DescribeHyperParameterTuningJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.DescribeHyperParameterTuningJobOutput, error) {
	s, err := f.status("hyper-parameter-tuning-job", aws.ToString(in.HyperParameterTuningJobName))
	return &sagemaker.DescribeHyperParameterTuningJobOutput{HyperParameterTuningJobStatus: types.HyperParameterTuningJobStatus(s)}, err
}

func (f *fakeSageMaker) DescribeTrainingJob(_ context.Context, in *sagemaker.DescribeTrainingJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingJobOutput, error) {
	s, err := f.status("training-job", aws.ToString(in.TrainingJobName))
	return &sagemaker.DescribeTrainingJobOutput{TrainingJobStatus: types.TrainingJobStatus(s)}, err
}

func (f *fakeSageMaker) DescribeProcessingJob(_ context.Context, in *sagemaker.DescribeProcessingJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.DescribeProcessingJobOutput, error) {
	s, err := f.status("processing-job", aws.ToString(in.ProcessingJobName))
	return &sagemaker.DescribeProcessingJobOutput{ProcessingJobStatus: types.ProcessingJobStatus(s)}, err
}

func (f *fakeSageMaker) DescribeTransformJob(_ context.Context, in *sagemaker.DescribeTransformJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.DescribeTransformJobOutput, error) {
	s, err := f.status("transform-job", aws.ToString(in.TransformJobName))
	return &sagemaker.DescribeTransformJobOutput{TransformJobStatus: types.TransformJobStatus(s)}, err
}

func sageMakerJobsKind(f *fakeSageMaker) *resources.SageMakerJobs {
	return resources.NewSageMakerJobs(func(string) resources.SageMakerJobsAPI { return f })
}

func TestSageMakerJobsStopsEveryTypeTuningFirst(t *testing.T) {
	t.Parallel()
	f := newFakeSageMaker()
	f.jobs["hyper-parameter-tuning-job"] = []*fakeSMJob{{name: "tune", status: "InProgress"}}
	f.jobs["training-job"] = []*fakeSMJob{
		{name: "tune-001", status: "InProgress", parent: "tune"},
		{name: "train-a", status: "InProgress"},
		{name: "train-b", status: "InProgress"},
		{name: "train-c", status: "InProgress"},
		{name: "old", status: "Completed"},
	}
	f.jobs["processing-job"] = []*fakeSMJob{{name: "proc", status: "InProgress"}}
	f.jobs["transform-job"] = []*fakeSMJob{{name: "xform", status: "InProgress"}}

	kr := sweepKind(t, sageMakerJobsKind(f), engine.Policy{})
	if kr.Error != "" {
		t.Fatalf("kind error: %s", kr.Error)
	}
	got := outcomesByID(kr)
	if len(got) != 7 {
		t.Errorf("got %d outcomes, want 7: %v", len(got), got)
	}
	for _, id := range []string{"hyper-parameter-tuning-job/tune", "training-job/train-a", "training-job/train-c", "processing-job/proc", "transform-job/xform"} {
		o := wantOutcome(t, got, id, engine.StatusDone, resources.VerbStopSageMakerJob, "")
		if p, ok := o.Prior.(resources.SageMakerJobPrior); !ok || p.Status != "InProgress" {
			t.Errorf("%s prior = %#v", id, o.Prior)
		}
	}
	// The tuning job stopped its own training job before the kind reached
	// it; SageMaker's refusal is checked, not taken as a failure.
	if o := wantOutcome(t, got, "training-job/tune-001", engine.StatusGone, resources.VerbStopSageMakerJob, ""); o.Note != "already Stopping" {
		t.Errorf("note = %q", o.Note)
	}
	if len(f.calls) == 0 || f.calls[0] != "hyper-parameter-tuning-job/tune" {
		t.Errorf("calls = %v, want the tuning job stopped first", f.calls)
	}

	before := len(f.calls)
	if kr := sweepKind(t, sageMakerJobsKind(f), engine.Policy{}); kr.Found != 0 || len(f.calls) != before {
		t.Errorf("second sweep found %d and made %d more calls", kr.Found, len(f.calls)-before)
	}
}

func TestSageMakerJobsFailures(t *testing.T) {
	t.Parallel()
	t.Run("stop refused while still in progress", func(t *testing.T) {
		t.Parallel()
		f := newFakeSageMaker()
		f.jobs["processing-job"] = []*fakeSMJob{{name: "p", status: "InProgress"}}
		f.stopErr["p"] = apiErr("AccessDeniedException")
		o := wantOutcome(t, outcomesByID(sweepKind(t, sageMakerJobsKind(f), engine.Policy{})), "processing-job/p", engine.StatusFailed, resources.VerbStopSageMakerJob, "AccessDeniedException")
		if o.Prior == nil {
			t.Error("failure lost its prior state")
		}
	})
	t.Run("gone", func(t *testing.T) {
		t.Parallel()
		f := newFakeSageMaker()
		f.jobs["transform-job"] = []*fakeSMJob{{name: "x", status: "InProgress"}}
		f.stopErr["x"] = &types.ResourceNotFound{Message: aws.String("gone")}
		wantOutcome(t, outcomesByID(sweepKind(t, sageMakerJobsKind(f), engine.Policy{})), "transform-job/x", engine.StatusGone, resources.VerbStopSageMakerJob, "")
	})
	t.Run("one type's listing error keeps the others", func(t *testing.T) {
		t.Parallel()
		f := newFakeSageMaker()
		f.listErr["training-job"] = apiErr("ThrottlingException")
		f.jobs["processing-job"] = []*fakeSMJob{{name: "p", status: "InProgress"}}
		kr := sweepKind(t, sageMakerJobsKind(f), engine.Policy{})
		if kr.Error == "" {
			t.Error("no kind error for the failed listing")
		}
		wantOutcome(t, outcomesByID(kr), "processing-job/p", engine.StatusDone, resources.VerbStopSageMakerJob, "")
	})
}
