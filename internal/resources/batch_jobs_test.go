package resources_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

func batchJobsKind(f *fakeBatch) *resources.BatchJobs {
	return resources.NewBatchJobs(func(string) resources.BatchJobsAPI { return f })
}

func TestBatchJobsTerminatesLiveJobs(t *testing.T) {
	t.Parallel()
	f := newFakeBatch()
	f.queues = []string{"q1", "q2"}
	statuses := []types.JobStatus{types.JobStatusSubmitted, types.JobStatusPending, types.JobStatusRunnable,
		types.JobStatusStarting, types.JobStatusRunning, types.JobStatusRunning, types.JobStatusSucceeded, types.JobStatusFailed}
	for i, s := range statuses {
		q := f.queues[i%2]
		f.jobs[q] = append(f.jobs[q], &types.JobSummary{JobId: aws.String("job-" + string(s) + "-" + q), JobName: aws.String("mine"), Status: s})
	}
	f.termErr["job-RUNNING-q2"] = &types.ClientException{Message: aws.String("denied")}

	kr := sweepKind(t, batchJobsKind(f), engine.Policy{})
	if kr.Error != "" {
		t.Fatalf("kind error: %s", kr.Error)
	}
	got := outcomesByID(kr)
	if len(got) != 6 {
		t.Errorf("got %d outcomes, want the 6 live jobs: %v", len(got), got)
	}
	o := wantOutcome(t, got, "job-RUNNABLE-q1", engine.StatusDone, resources.VerbTerminateBatchJob, "")
	if o.Prior != (resources.BatchJobPrior{Status: "RUNNABLE", Name: "mine", Queue: "q1"}) {
		t.Errorf("prior = %#v", o.Prior)
	}
	wantOutcome(t, got, "job-RUNNING-q2", engine.StatusFailed, resources.VerbTerminateBatchJob, "ClientException")
	for _, id := range []string{"job-SUCCEEDED-q1", "job-FAILED-q2"} {
		if _, ok := got[id]; ok {
			t.Errorf("finished job %s was acted on", id)
		}
	}

	delete(f.termErr, "job-RUNNING-q2")
	sweepKind(t, batchJobsKind(f), engine.Policy{})
	before := len(f.terms)
	if kr := sweepKind(t, batchJobsKind(f), engine.Policy{}); kr.Found != 0 || len(f.terms) != before {
		t.Errorf("settled sweep found %d and terminated %d more", kr.Found, len(f.terms)-before)
	}
}
