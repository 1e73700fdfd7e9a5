package resources_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// fakeEKS is a hand-written EKSNodegroupsAPI; UpdateNodegroupConfig changes
// the scaling config at once, as moto does.
type fakeEKS struct {
	mu         sync.Mutex
	clusters   []string
	nodegroups map[string][]*types.Nodegroup // by cluster
	updateErr  map[string]error              // by node group name
	updates    []eks.UpdateNodegroupConfigInput
}

var _ resources.EKSNodegroupsAPI = (*fakeEKS)(nil)

func (f *fakeEKS) add(cluster, name string, minSize, maxSize, desired int32, status types.NodegroupStatus) {
	if f.nodegroups == nil {
		f.nodegroups = map[string][]*types.Nodegroup{}
	}
	if len(f.nodegroups[cluster]) == 0 {
		f.clusters = append(f.clusters, cluster)
	}
	f.nodegroups[cluster] = append(f.nodegroups[cluster], &types.Nodegroup{NodegroupName: aws.String(name), Status: status,
		ScalingConfig: &types.NodegroupScalingConfig{MinSize: aws.Int32(minSize), MaxSize: aws.Int32(maxSize), DesiredSize: aws.Int32(desired)}})
}

func (f *fakeEKS) ListClusters(_ context.Context, in *eks.ListClustersInput, _ ...func(*eks.Options)) (*eks.ListClustersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	page, next := cpage(f.clusters, in.NextToken, 1)
	return &eks.ListClustersOutput{Clusters: page, NextToken: next}, nil
}

func (f *fakeEKS) ListNodegroups(_ context.Context, in *eks.ListNodegroupsInput, _ ...func(*eks.Options)) (*eks.ListNodegroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, ng := range f.nodegroups[aws.ToString(in.ClusterName)] {
		names = append(names, aws.ToString(ng.NodegroupName))
	}
	page, next := cpage(names, in.NextToken, 0)
	return &eks.ListNodegroupsOutput{Nodegroups: page, NextToken: next}, nil
}

func (f *fakeEKS) find(cluster, name string) *types.Nodegroup {
	for _, ng := range f.nodegroups[cluster] {
		if aws.ToString(ng.NodegroupName) == name {
			return ng
		}
	}
	return nil
}

func (f *fakeEKS) DescribeNodegroup(_ context.Context, in *eks.DescribeNodegroupInput, _ ...func(*eks.Options)) (*eks.DescribeNodegroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ng := f.find(aws.ToString(in.ClusterName), aws.ToString(in.NodegroupName))
	if ng == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("No node group found")}
	}
	cp := *ng
	sc := *ng.ScalingConfig
	cp.ScalingConfig = &sc
	return &eks.DescribeNodegroupOutput{Nodegroup: &cp}, nil
}

func (f *fakeEKS) UpdateNodegroupConfig(_ context.Context, in *eks.UpdateNodegroupConfigInput, _ ...func(*eks.Options)) (*eks.UpdateNodegroupConfigOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, *in)
	if err := f.updateErr[aws.ToString(in.NodegroupName)]; err != nil {
		return nil, err
	}
	if aws.ToInt32(in.ScalingConfig.MaxSize) < 1 {
		return nil, &types.InvalidParameterException{Message: aws.String("maxSize must be at least 1")}
	}
	ng := f.find(aws.ToString(in.ClusterName), aws.ToString(in.NodegroupName))
	if ng == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("No node group found")}
	}
	ng.ScalingConfig = in.ScalingConfig
	return &eks.UpdateNodegroupConfigOutput{}, nil
}

func eksKind(f *fakeEKS) *resources.EKSNodegroups {
	return resources.NewEKSNodegroups(func(string) resources.EKSNodegroupsAPI { return f })
}

func TestEKSNodegroupsScaleToZero(t *testing.T) {
	t.Parallel()
	f := &fakeEKS{updateErr: map[string]error{}}
	f.add("k1", "gpu", 2, 20, 10, types.NodegroupStatusActive)
	f.add("k1", "max-zero", 0, 0, 1, types.NodegroupStatusActive) // max below 1 would be refused
	f.add("k1", "idle", 0, 5, 0, types.NodegroupStatusActive)
	f.add("k2", "deleting", 1, 3, 1, types.NodegroupStatusDeleting)
	f.add("k2", "cpu", 1, 3, 3, types.NodegroupStatusActive)

	kr := sweepKind(t, eksKind(f), engine.Policy{})
	if kr.Error != "" {
		t.Fatalf("kind error: %s", kr.Error)
	}
	got := outcomesByID(kr)
	if len(got) != 3 {
		t.Errorf("got %v, want gpu, max-zero and cpu", got)
	}
	o := wantOutcome(t, got, "k1/gpu", engine.StatusDone, resources.VerbScaleNodegroup, "")
	if o.Prior != (resources.NodegroupPrior{MinSize: 2, MaxSize: 20, DesiredSize: 10}) {
		t.Errorf("prior = %#v", o.Prior)
	}
	wantOutcome(t, got, "k1/max-zero", engine.StatusDone, resources.VerbScaleNodegroup, "")
	wantOutcome(t, got, "k2/cpu", engine.StatusDone, resources.VerbScaleNodegroup, "")
	if sc := f.find("k1", "gpu").ScalingConfig; aws.ToInt32(sc.MinSize) != 0 || aws.ToInt32(sc.DesiredSize) != 0 || aws.ToInt32(sc.MaxSize) != 20 {
		t.Errorf("gpu scaling config = %+v, want min 0, desired 0, max kept at 20", sc)
	}

	before := len(f.updates)
	if kr := sweepKind(t, eksKind(f), engine.Policy{}); kr.Found != 0 || len(f.updates) != before {
		t.Errorf("second sweep found %d and made %d more updates", kr.Found, len(f.updates)-before)
	}
}

func TestEKSNodegroupsUpdateFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		status engine.Status
		code   string
	}{
		{"gone", &types.ResourceNotFoundException{Message: aws.String("gone")}, engine.StatusGone, ""},
		{"update in progress", &types.ResourceInUseException{Message: aws.String("busy")}, engine.StatusFailed, "ResourceInUseException"},
		{"denied", apiErr("AccessDeniedException"), engine.StatusFailed, "AccessDeniedException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeEKS{updateErr: map[string]error{"ng": tc.err}}
			f.add("k", "ng", 1, 4, 2, types.NodegroupStatusActive)
			wantOutcome(t, outcomesByID(sweepKind(t, eksKind(f), engine.Policy{})), "k/ng", tc.status, resources.VerbScaleNodegroup, tc.code)
		})
	}
}
