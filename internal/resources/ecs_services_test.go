package resources_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// fakeECS is a hand-written ECSServicesAPI and ECSTasksAPI over in-memory
// clusters; UpdateService and StopTask change them the way ECS does.
type fakeECS struct {
	mu       sync.Mutex
	clusters []string                    // cluster ARNs, in listing order
	services map[string][]*types.Service // by cluster ARN
	tasks    map[string][]*types.Task    // by cluster ARN

	listServicesErr map[string]error // by cluster ARN
	updateErr       map[string]error // by service name
	stopErr         map[string]error // by task ARN

	describeServiceSizes []int
	updates              []ecs.UpdateServiceInput
	stops                []ecs.StopTaskInput
}

var (
	_ resources.ECSServicesAPI = (*fakeECS)(nil)
	_ resources.ECSTasksAPI    = (*fakeECS)(nil)
)

func ecsClusterARN(name string) string { return "arn:aws:ecs:eu-west-1:123456789012:cluster/" + name }

func newFakeECS(clusters ...string) *fakeECS {
	f := &fakeECS{services: map[string][]*types.Service{}, tasks: map[string][]*types.Task{},
		listServicesErr: map[string]error{}, updateErr: map[string]error{}, stopErr: map[string]error{}}
	for _, c := range clusters {
		f.clusters = append(f.clusters, ecsClusterARN(c))
	}
	return f
}

func (f *fakeECS) addService(cluster, name string, desired int32, status string) {
	f.services[ecsClusterARN(cluster)] = append(f.services[ecsClusterARN(cluster)], &types.Service{
		ServiceName: aws.String(name), ServiceArn: aws.String("arn:aws:ecs:eu-west-1:123456789012:service/" + cluster + "/" + name),
		DesiredCount: desired, RunningCount: desired, Status: aws.String(status)})
}

func (f *fakeECS) addTask(cluster, id, group, startedBy string) {
	f.tasks[ecsClusterARN(cluster)] = append(f.tasks[ecsClusterARN(cluster)], &types.Task{
		TaskArn: aws.String("arn:aws:ecs:eu-west-1:123456789012:task/" + cluster + "/" + id), Group: aws.String(group),
		StartedBy: aws.String(startedBy), LastStatus: aws.String("RUNNING"), DesiredStatus: aws.String("RUNNING"),
		TaskDefinitionArn: aws.String("arn:aws:ecs:eu-west-1:123456789012:task-definition/miner:3"), LaunchType: types.LaunchTypeFargate})
}

func (f *fakeECS) ListClusters(_ context.Context, in *ecs.ListClustersInput, _ ...func(*ecs.Options)) (*ecs.ListClustersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	arns, next := cpage(f.clusters, in.NextToken, 1)
	return &ecs.ListClustersOutput{ClusterArns: arns, NextToken: next}, nil
}

func (f *fakeECS) ListServices(_ context.Context, in *ecs.ListServicesInput, _ ...func(*ecs.Options)) (*ecs.ListServicesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cluster := aws.ToString(in.Cluster)
	if err := f.listServicesErr[cluster]; err != nil {
		return nil, err
	}
	var arns []string
	for _, s := range f.services[cluster] {
		arns = append(arns, aws.ToString(s.ServiceArn))
	}
	page, next := cpage(arns, in.NextToken, 11)
	return &ecs.ListServicesOutput{ServiceArns: page, NextToken: next}, nil
}

func (f *fakeECS) DescribeServices(_ context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describeServiceSizes = append(f.describeServiceSizes, len(in.Services))
	if len(in.Services) > 10 {
		return nil, &types.InvalidParameterException{Message: aws.String("at most 10 services")}
	}
	out := &ecs.DescribeServicesOutput{}
	for _, arn := range in.Services {
		for _, s := range f.services[aws.ToString(in.Cluster)] {
			if aws.ToString(s.ServiceArn) == arn {
				out.Services = append(out.Services, *s)
			}
		}
	}
	return out, nil
}

func (f *fakeECS) UpdateService(_ context.Context, in *ecs.UpdateServiceInput, _ ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, *in)
	name := aws.ToString(in.Service)
	if err := f.updateErr[name]; err != nil {
		return nil, err
	}
	for _, s := range f.services[aws.ToString(in.Cluster)] {
		if aws.ToString(s.ServiceName) == name {
			s.DesiredCount = aws.ToInt32(in.DesiredCount)
			return &ecs.UpdateServiceOutput{Service: s}, nil
		}
	}
	return nil, &types.ServiceNotFoundException{Message: aws.String("Service not found.")}
}

func (f *fakeECS) ListTasks(_ context.Context, in *ecs.ListTasksInput, _ ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var arns []string
	for _, t := range f.tasks[aws.ToString(in.Cluster)] {
		if aws.ToString(t.DesiredStatus) == string(in.DesiredStatus) {
			arns = append(arns, aws.ToString(t.TaskArn))
		}
	}
	page, next := cpage(arns, in.NextToken, 0)
	return &ecs.ListTasksOutput{TaskArns: page, NextToken: next}, nil
}

func (f *fakeECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(in.Tasks) > 100 {
		return nil, &types.InvalidParameterException{Message: aws.String("at most 100 tasks")}
	}
	out := &ecs.DescribeTasksOutput{}
	for _, arn := range in.Tasks {
		for _, t := range f.tasks[aws.ToString(in.Cluster)] {
			if aws.ToString(t.TaskArn) == arn {
				out.Tasks = append(out.Tasks, *t)
			}
		}
	}
	return out, nil
}

func (f *fakeECS) StopTask(_ context.Context, in *ecs.StopTaskInput, _ ...func(*ecs.Options)) (*ecs.StopTaskOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, *in)
	if err := f.stopErr[aws.ToString(in.Task)]; err != nil {
		return nil, err
	}
	for _, t := range f.tasks[aws.ToString(in.Cluster)] {
		if aws.ToString(t.TaskArn) == aws.ToString(in.Task) {
			t.DesiredStatus = aws.String("STOPPED")
			return &ecs.StopTaskOutput{Task: t}, nil
		}
	}
	return nil, &types.InvalidParameterException{Message: aws.String("task not found")}
}

func ecsServicesKind(f *fakeECS) *resources.ECSServices {
	return resources.NewECSServices(func(string) resources.ECSServicesAPI { return f })
}

func TestECSServicesScaleToZero(t *testing.T) {
	t.Parallel()
	f := newFakeECS("mining", "web")
	for i := range 12 {
		f.addService("mining", fmt.Sprintf("miner-%02d", i), 10, "ACTIVE")
	}
	f.addService("web", "already-zero", 0, "ACTIVE")
	f.addService("web", "draining", 3, "DRAINING")
	f.addService("web", "owner", 2, "ACTIVE")

	kr := sweepKind(t, ecsServicesKind(f), engine.Policy{Exempt: map[string]string{"web/owner": "KILLSWITCH_EXEMPT_NAMES"}})
	if kr.Error != "" {
		t.Fatalf("kind error: %s", kr.Error)
	}
	got := outcomesByID(kr)
	if len(got) != 12 {
		t.Errorf("got %d outcomes, want the 12 miners: %v", len(got), got)
	}
	o := wantOutcome(t, got, "mining/miner-03", engine.StatusDone, resources.VerbScaleService, "")
	if p, ok := o.Prior.(resources.ServicePrior); !ok || p.DesiredCount != 10 {
		t.Errorf("prior = %#v, want desired 10", o.Prior)
	}
	if len(kr.Refused) != 1 || kr.Refused[0].ID != "web/owner" {
		t.Errorf("refused = %+v, want web/owner exempt", kr.Refused)
	}
	for _, n := range f.describeServiceSizes {
		if n > 10 {
			t.Errorf("DescribeServices got %d services, max is 10", n)
		}
	}
	for _, u := range f.updates {
		if aws.ToInt32(u.DesiredCount) != 0 || aws.ToString(u.Cluster) != ecsClusterARN("mining") {
			t.Errorf("unexpected update %+v", u)
		}
	}

	// Idempotent: everything is at 0 now, so a second sweep changes nothing.
	before := len(f.updates)
	if kr := sweepKind(t, ecsServicesKind(f), engine.Policy{Exempt: map[string]string{"web/owner": "x"}}); kr.Found != 1 || len(f.updates) != before {
		t.Errorf("second sweep found %d (want only the exempt one) and made %d new updates", kr.Found, len(f.updates)-before)
	}
}

func TestECSServicesContainOutcomes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		status engine.Status
		code   string
	}{
		{"gone", &types.ServiceNotFoundException{Message: aws.String("Service not found.")}, engine.StatusGone, ""},
		{"being deleted", &types.ServiceNotActiveException{Message: aws.String("Service was not ACTIVE.")}, engine.StatusGone, ""},
		{"denied", apiErr("AccessDeniedException"), engine.StatusFailed, "AccessDeniedException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeECS("c")
			f.addService("c", "s", 4, "ACTIVE")
			f.updateErr["s"] = tc.err
			o := wantOutcome(t, outcomesByID(sweepKind(t, ecsServicesKind(f), engine.Policy{})), "c/s", tc.status, resources.VerbScaleService, tc.code)
			if o.Prior == nil {
				t.Error("outcome lost its prior state")
			}
			if tc.status == engine.StatusFailed && !strings.Contains(o.Message, "c/s") {
				t.Errorf("message %q does not name the service", o.Message)
			}
		})
	}
}

func TestECSServicesListingErrorKeepsOtherClusters(t *testing.T) {
	t.Parallel()
	f := newFakeECS("broken", "fine")
	f.addService("fine", "miner", 5, "ACTIVE")
	f.listServicesErr[ecsClusterARN("broken")] = apiErr("ThrottlingException")
	found, err := ecsServicesKind(f).Find(context.Background(), computeRegion)
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), computeRegion) {
		t.Errorf("error %v should name the cluster and region", err)
	}
	var apiE interface{ ErrorCode() string }
	if !errors.As(err, &apiE) || apiE.ErrorCode() != "ThrottlingException" {
		t.Errorf("error %v does not wrap the API error", err)
	}
	if len(found) != 1 || found[0].ID != "fine/miner" {
		t.Errorf("found %+v, want fine/miner despite the other cluster's error", found)
	}
}
