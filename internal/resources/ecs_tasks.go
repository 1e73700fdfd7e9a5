package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// ECSTasksAPI is the slice of the ECS client that standalone-task
// containment uses; unit tests put a fake behind it.
type ECSTasksAPI interface {
	ecs.ListClustersAPIClient
	ecs.ListServicesAPIClient
	ecs.ListTasksAPIClient
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	StopTask(ctx context.Context, in *ecs.StopTaskInput, optFns ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
}

// DescribeTasks takes at most 100 tasks a call.
const maxECSTasksPerDescribe = 100

// stopReason is what the kill switch tells the services that keep a reason.
const stopReason = "killswitch: AWS billing kill switch tripped"

const attrTask = "task" // task ARN

// VerbStopTask stops a standalone ECS task.
var VerbStopTask = engine.Verb{Past: "stopped", Plan: "stop",
	Note: "a stopped task cannot be resumed; its task definition is kept, so run it again if it was yours"}

// TaskPrior is a standalone task as found: what a restore would run again.
type TaskPrior struct {
	LastStatus     string `json:"lastStatus"`
	TaskDefinition string `json:"taskDefinition"`
	LaunchType     string `json:"launchType,omitempty"`
	Group          string `json:"group,omitempty"`
	StartedBy      string `json:"startedBy,omitempty"`
}

func (p TaskPrior) Describe() string {
	return fmt.Sprintf("%s (%s)", p.LastStatus, arnName(p.TaskDefinition))
}

// ECSTasks stops running ECS tasks that belong to no service (RunTask,
// scheduled tasks): ECSServices contains the others by scaling their
// service to 0. ID is "cluster/task-id".
type ECSTasks struct {
	client func(region string) ECSTasksAPI
}

var _ engine.Kind = (*ECSTasks)(nil)

func NewECSTasks(client func(region string) ECSTasksAPI) *ECSTasks {
	return &ECSTasks{client: client}
}

func (*ECSTasks) Name() string { return "ECS standalone tasks" }
func (*ECSTasks) Noun() string { return "task" }

// Find lists the tasks of every cluster that ECS still means to run and
// that no existing service owns.
func (k *ECSTasks) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	api := k.client(region)
	clusters, err := listECSClusters(ctx, api)
	if err != nil {
		return nil, fmt.Errorf("listing ECS clusters in %s: %w", region, err)
	}
	var found []engine.Resource
	var errs []error
	for _, cluster := range clusters {
		tasks, err := k.standaloneTasks(ctx, api, cluster)
		found = append(found, tasks...)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing tasks of ECS cluster %s in %s: %w", arnName(cluster), region, err))
		}
	}
	return found, errors.Join(errs...)
}

func (k *ECSTasks) standaloneTasks(ctx context.Context, api ECSTasksAPI, cluster string) ([]engine.Resource, error) {
	// A task's group and startedBy are free text that RunTask accepts from
	// anyone, so "service:x" alone proves nothing: a task counts as a
	// service's only when that service exists in the cluster.
	services := map[string]bool{}
	svcPages := ecs.NewListServicesPaginator(api, &ecs.ListServicesInput{Cluster: aws.String(cluster), MaxResults: aws.Int32(100)})
	for svcPages.HasMorePages() {
		page, err := svcPages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, arn := range page.ServiceArns {
			services["service:"+arnName(arn)] = true
		}
	}
	var found []engine.Resource
	pages := ecs.NewListTasksPaginator(api, &ecs.ListTasksInput{
		Cluster: aws.String(cluster), DesiredStatus: types.DesiredStatusRunning, MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return found, err
		}
		for start := 0; start < len(page.TaskArns); start += maxECSTasksPerDescribe {
			end := min(start+maxECSTasksPerDescribe, len(page.TaskArns))
			desc, err := api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: page.TaskArns[start:end]})
			if err != nil {
				return found, err
			}
			for _, t := range desc.Tasks {
				if services[aws.ToString(t.Group)] || aws.ToString(t.DesiredStatus) != string(types.DesiredStatusRunning) {
					continue
				}
				found = append(found, taskResource(cluster, t))
			}
		}
	}
	return found, nil
}

func taskResource(clusterARN string, t types.Task) engine.Resource {
	arn := aws.ToString(t.TaskArn)
	return engine.Resource{
		ID:         arnName(clusterARN) + "/" + arnName(arn),
		State:      aws.ToString(t.LastStatus),
		Attributes: map[string]string{attrCluster: clusterARN, attrTask: arn},
		Prior: TaskPrior{
			LastStatus:     aws.ToString(t.LastStatus),
			TaskDefinition: aws.ToString(t.TaskDefinitionArn),
			LaunchType:     string(t.LaunchType),
			Group:          aws.ToString(t.Group),
			StartedBy:      aws.ToString(t.StartedBy),
		},
	}
}

func (*ECSTasks) Decide(r engine.Resource) engine.Decision {
	return engine.Act(r, VerbStopTask, "no service owns it")
}

// Contain stops each task.
func (k *ECSTasks) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		_, err := api.StopTask(ctx, &ecs.StopTaskInput{
			Cluster: aws.String(d.Resource.Attributes[attrCluster]),
			Task:    aws.String(d.Resource.Attributes[attrTask]),
			Reason:  aws.String(stopReason),
		})
		var noCluster *types.ClusterNotFoundException
		switch {
		case err == nil:
			return outcomeDone(d)
		case errors.As(err, &noCluster):
			return outcomeGone(d, "its cluster no longer exists")
		}
		return outcomeFailed(d, err, fmt.Sprintf("stopping ECS task %s in %s", d.Resource.ID, region))
	})
}
