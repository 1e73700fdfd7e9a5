package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// BatchJobsAPI is the slice of the Batch client that job containment uses;
// unit tests put a fake behind it.
type BatchJobsAPI interface {
	batch.DescribeJobQueuesAPIClient
	batch.ListJobsAPIClient
	TerminateJob(ctx context.Context, in *batch.TerminateJobInput, optFns ...func(*batch.Options)) (*batch.TerminateJobOutput, error)
}

// batchLiveStatuses are the job states that hold or will take compute:
// ListJobs filters on one status a call.
var batchLiveStatuses = []types.JobStatus{
	types.JobStatusSubmitted, types.JobStatusPending, types.JobStatusRunnable,
	types.JobStatusStarting, types.JobStatusRunning,
}

const attrQueue = "queue"

// VerbTerminateBatchJob terminates a Batch job.
var VerbTerminateBatchJob = engine.Verb{Past: "terminated", Plan: "terminate",
	Note: "a terminated job does not resume; submit it again if it was yours"}

// BatchJobPrior is a job as found. A terminated job cannot be resumed; the
// record says what was queued or running, and where.
type BatchJobPrior struct {
	Status string `json:"status"`
	Name   string `json:"name"`
	Queue  string `json:"queue"`
}

func (p BatchJobPrior) Describe() string { return p.Status }

// BatchJobs terminates AWS Batch jobs that are queued or running in any
// job queue: a disabled compute environment lets running jobs finish, and
// an attacker's run until they are stopped. ID is the job ID.
type BatchJobs struct {
	client func(region string) BatchJobsAPI
}

var _ engine.Kind = (*BatchJobs)(nil)

func NewBatchJobs(client func(region string) BatchJobsAPI) *BatchJobs {
	return &BatchJobs{client: client}
}

func (*BatchJobs) Name() string { return "Batch jobs" }
func (*BatchJobs) Noun() string { return "job" }

// Find lists the live jobs of every queue. A queue that cannot be listed
// does not stop the others.
func (k *BatchJobs) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	api := k.client(region)
	var queues []string
	pages := batch.NewDescribeJobQueuesPaginator(api, &batch.DescribeJobQueuesInput{MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing Batch job queues in %s: %w", region, err)
		}
		for _, q := range page.JobQueues {
			queues = append(queues, aws.ToString(q.JobQueueName))
		}
	}
	var found []engine.Resource
	var errs []error
	seen := map[string]bool{}
	for _, queue := range queues {
		for _, status := range batchLiveStatuses {
			jobs := batch.NewListJobsPaginator(api, &batch.ListJobsInput{JobQueue: aws.String(queue), JobStatus: status, MaxResults: aws.Int32(100)})
			for jobs.HasMorePages() {
				page, err := jobs.NextPage(ctx)
				if err != nil {
					errs = append(errs, fmt.Errorf("listing %s Batch jobs of queue %s in %s: %w", status, queue, region, err))
					break
				}
				for _, j := range page.JobSummaryList {
					id := aws.ToString(j.JobId)
					// A job can move between the per-status listings.
					if seen[id] {
						continue
					}
					seen[id] = true
					found = append(found, engine.Resource{
						ID:         id,
						State:      string(j.Status),
						Attributes: map[string]string{attrQueue: queue},
						Prior:      BatchJobPrior{Status: string(j.Status), Name: aws.ToString(j.JobName), Queue: queue},
					})
				}
			}
		}
	}
	return found, errors.Join(errs...)
}

func (*BatchJobs) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, VerbTerminateBatchJob, "a queued or running job takes compute")
}

// Contain terminates each job. TerminateJob covers every live state
// (CancelJob only the queued ones), and terminating an array job's parent
// ends its children.
func (k *BatchJobs) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		_, err := api.TerminateJob(ctx, &batch.TerminateJobInput{JobId: aws.String(d.Resource.ID), Reason: aws.String(stopReason)})
		if err != nil {
			return outcomeFailed(d, err, fmt.Sprintf("terminating Batch job %s in %s", d.Resource.ID, region))
		}
		return outcomeDone(d)
	})
}
