package resources

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// SageMakerJobsAPI is the slice of the SageMaker client that job
// containment uses; unit tests put a fake behind it.
type SageMakerJobsAPI interface {
	sagemaker.ListHyperParameterTuningJobsAPIClient
	sagemaker.ListTrainingJobsAPIClient
	sagemaker.ListProcessingJobsAPIClient
	sagemaker.ListTransformJobsAPIClient
	StopHyperParameterTuningJob(ctx context.Context, in *sagemaker.StopHyperParameterTuningJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.StopHyperParameterTuningJobOutput, error)
	StopTrainingJob(ctx context.Context, in *sagemaker.StopTrainingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.StopTrainingJobOutput, error)
	StopProcessingJob(ctx context.Context, in *sagemaker.StopProcessingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.StopProcessingJobOutput, error)
	StopTransformJob(ctx context.Context, in *sagemaker.StopTransformJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.StopTransformJobOutput, error)
	DescribeHyperParameterTuningJob(ctx context.Context, in *sagemaker.DescribeHyperParameterTuningJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeHyperParameterTuningJobOutput, error)
	DescribeTrainingJob(ctx context.Context, in *sagemaker.DescribeTrainingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingJobOutput, error)
	DescribeProcessingJob(ctx context.Context, in *sagemaker.DescribeProcessingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeProcessingJobOutput, error)
	DescribeTransformJob(ctx context.Context, in *sagemaker.DescribeTransformJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeTransformJobOutput, error)
}

// VerbStopSageMakerJob stops a SageMaker job.
var VerbStopSageMakerJob = engine.Verb{Past: "stopped", Plan: "stop",
	Note: "a stopped job does not resume; run it again if it was yours"}

// SageMakerJobPrior is a job as found. A stopped job cannot be restarted;
// the record says what was running.
type SageMakerJobPrior struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

func (p SageMakerJobPrior) Describe() string { return p.Type + " " + p.Status }

// sageMakerJobType is one kind of SageMaker job: how to list the ones in
// progress, stop one, and read one's status back.
type sageMakerJobType struct {
	// prefix starts the Resource ID, "training-job/NAME", as in the job's ARN.
	prefix string
	list   func(ctx context.Context, api SageMakerJobsAPI, add func(name string)) error
	stop   func(ctx context.Context, api SageMakerJobsAPI, name string) error
	status func(ctx context.Context, api SageMakerJobsAPI, name string) (string, error)
}

// Every list below asks for InProgress jobs only, at the API's page maximum.
var inProgress = "InProgress"

// sageMakerJobTypes are in containment order: a tuning job launches
// training jobs, so it is stopped first.
var sageMakerJobTypes = []sageMakerJobType{
	{
		prefix: "hyper-parameter-tuning-job",
		list: func(ctx context.Context, api SageMakerJobsAPI, add func(string)) error {
			p := sagemaker.NewListHyperParameterTuningJobsPaginator(api, &sagemaker.ListHyperParameterTuningJobsInput{
				StatusEquals: types.HyperParameterTuningJobStatus(inProgress), MaxResults: aws.Int32(100)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, j := range page.HyperParameterTuningJobSummaries {
					add(aws.ToString(j.HyperParameterTuningJobName))
				}
			}
			return nil
		},
		stop: func(ctx context.Context, api SageMakerJobsAPI, name string) error {
			_, err := api.StopHyperParameterTuningJob(ctx, &sagemaker.StopHyperParameterTuningJobInput{HyperParameterTuningJobName: aws.String(name)})
			return err
		},
		status: func(ctx context.Context, api SageMakerJobsAPI, name string) (string, error) {
			out, err := api.DescribeHyperParameterTuningJob(ctx, &sagemaker.DescribeHyperParameterTuningJobInput{HyperParameterTuningJobName: aws.String(name)})
			if err != nil {
				return "", err
			}
			return string(out.HyperParameterTuningJobStatus), nil
		},
	},
	{
		prefix: "training-job",
		list: func(ctx context.Context, api SageMakerJobsAPI, add func(string)) error {
			p := sagemaker.NewListTrainingJobsPaginator(api, &sagemaker.ListTrainingJobsInput{
				StatusEquals: types.TrainingJobStatus(inProgress), MaxResults: aws.Int32(100)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, j := range page.TrainingJobSummaries {
					add(aws.ToString(j.TrainingJobName))
				}
			}
			return nil
		},
		stop: func(ctx context.Context, api SageMakerJobsAPI, name string) error {
			_, err := api.StopTrainingJob(ctx, &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String(name)})
			return err
		},
		status: func(ctx context.Context, api SageMakerJobsAPI, name string) (string, error) {
			out, err := api.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
			if err != nil {
				return "", err
			}
			return string(out.TrainingJobStatus), nil
		},
	},
	{
		prefix: "processing-job",
		list: func(ctx context.Context, api SageMakerJobsAPI, add func(string)) error {
			p := sagemaker.NewListProcessingJobsPaginator(api, &sagemaker.ListProcessingJobsInput{
				StatusEquals: types.ProcessingJobStatus(inProgress), MaxResults: aws.Int32(100)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, j := range page.ProcessingJobSummaries {
					add(aws.ToString(j.ProcessingJobName))
				}
			}
			return nil
		},
		stop: func(ctx context.Context, api SageMakerJobsAPI, name string) error {
			_, err := api.StopProcessingJob(ctx, &sagemaker.StopProcessingJobInput{ProcessingJobName: aws.String(name)})
			return err
		},
		status: func(ctx context.Context, api SageMakerJobsAPI, name string) (string, error) {
			out, err := api.DescribeProcessingJob(ctx, &sagemaker.DescribeProcessingJobInput{ProcessingJobName: aws.String(name)})
			if err != nil {
				return "", err
			}
			return string(out.ProcessingJobStatus), nil
		},
	},
	{
		prefix: "transform-job",
		list: func(ctx context.Context, api SageMakerJobsAPI, add func(string)) error {
			p := sagemaker.NewListTransformJobsPaginator(api, &sagemaker.ListTransformJobsInput{
				StatusEquals: types.TransformJobStatus(inProgress), MaxResults: aws.Int32(100)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, j := range page.TransformJobSummaries {
					add(aws.ToString(j.TransformJobName))
				}
			}
			return nil
		},
		stop: func(ctx context.Context, api SageMakerJobsAPI, name string) error {
			_, err := api.StopTransformJob(ctx, &sagemaker.StopTransformJobInput{TransformJobName: aws.String(name)})
			return err
		},
		status: func(ctx context.Context, api SageMakerJobsAPI, name string) (string, error) {
			out, err := api.DescribeTransformJob(ctx, &sagemaker.DescribeTransformJobInput{TransformJobName: aws.String(name)})
			if err != nil {
				return "", err
			}
			return string(out.TransformJobStatus), nil
		},
	},
}

// SageMakerJobs stops SageMaker hyperparameter tuning, training,
// processing and batch transform jobs in progress: each runs on
// SageMaker's own GPU instances, billed like EC2's. ID is
// "<type>-job/NAME" (e.g. "training-job/my-job"), as in the job's ARN.
type SageMakerJobs struct {
	client func(region string) SageMakerJobsAPI
}

var _ engine.Kind = (*SageMakerJobs)(nil)

func NewSageMakerJobs(client func(region string) SageMakerJobsAPI) *SageMakerJobs {
	return &SageMakerJobs{client: client}
}

func (*SageMakerJobs) Name() string { return "SageMaker jobs" }
func (*SageMakerJobs) Noun() string { return "job" }

// Find lists the jobs in progress of every type; one type's failure does
// not hide the others.
func (k *SageMakerJobs) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	api := k.client(region)
	var found []engine.Resource
	var errs []error
	for _, jt := range sageMakerJobTypes {
		err := jt.list(ctx, api, func(name string) {
			found = append(found, engine.Resource{
				ID:    jt.prefix + "/" + name,
				State: inProgress,
				Prior: SageMakerJobPrior{Type: jt.prefix, Status: inProgress},
			})
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("listing SageMaker %ss in %s: %w", jt.prefix, region, err))
		}
	}
	return found, errors.Join(errs...)
}

func (*SageMakerJobs) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, VerbStopSageMakerJob, "a job bills for its instances while in progress")
}

// Contain stops the tuning jobs first, then every other job.
func (k *SageMakerJobs) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	var out []engine.Outcome
	for _, jt := range sageMakerJobTypes {
		var mine []engine.Decision
		for _, d := range todo {
			if strings.HasPrefix(d.Resource.ID, jt.prefix+"/") {
				mine = append(mine, d)
			}
		}
		out = append(out, containEach(ctx, mine, func(ctx context.Context, d engine.Decision) engine.Outcome {
			return stopSageMakerJob(ctx, api, jt, region, d)
		})...)
	}
	return out
}

func stopSageMakerJob(ctx context.Context, api SageMakerJobsAPI, jt sageMakerJobType, region string, d engine.Decision) engine.Outcome {
	name := strings.TrimPrefix(d.Resource.ID, jt.prefix+"/")
	err := jt.stop(ctx, api, name)
	if err == nil {
		return outcomeDone(d)
	}
	var notFound *types.ResourceNotFound
	if errors.As(err, &notFound) {
		return outcomeGone(d, "no longer exists")
	}
	// SageMaker refuses to stop a job that has left InProgress with a bare
	// ValidationException; its status says whether it is already ending
	// (e.g. stopped with its tuning job).
	if status, sErr := jt.status(ctx, api, name); sErr == nil && status != inProgress {
		return outcomeGone(d, "already "+status)
	}
	return outcomeFailed(d, err, fmt.Sprintf("stopping SageMaker %s in %s", d.Resource.ID, region))
}
