package resources_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// fakeEC2 is a hand-written EC2InstancesAPI. DescribeInstances serves
// pre-built pages through NextToken; StopInstances and TerminateInstances
// fail the whole call when any ID in it is bad, the way real EC2 does, and
// record every call.
type fakeEC2 struct {
	mu sync.Mutex

	// pages are served in order; page i's NextToken is "page-<i+1>".
	pages []([]types.Reservation)
	// describeErrAt fails the call for that page index (-1 or unset: never).
	describeErrAt  int
	describeErr    error
	describeInputs []ec2.DescribeInstancesInput

	// stopCode and termCode fail any call holding that ID with that code.
	stopCode map[string]string
	termCode map[string]string
	// Protection attributes, by ID. They are cleared by
	// ModifyInstanceAttribute.
	disableAPIStop        map[string]bool
	disableAPITermination map[string]bool
	// stopNeedsBothOff makes StopInstances also refuse while
	// disableApiTermination is on, so that both attributes must go.
	stopNeedsBothOff bool
	// callErr fails every stop and terminate call (throttling, access).
	callErr error
	// modifyErr fails every ModifyInstanceAttribute call.
	modifyErr error
	// onStop runs at the start of every StopInstances call, outside the
	// fake's lock, so calls can overlap in it.
	onStop func(ids []string)
	// current is what a describe filtered by instance-id shows: the state
	// of each instance now (a missing ID is not listed), for the checks
	// that follow InvalidInstanceID.NotFound and IncorrectInstanceState.
	current map[string]string
	// attrErr fails DescribeInstanceAttribute for that ID.
	attrErr map[string]error

	attrCalls []ec2.DescribeInstanceAttributeInput

	stopCalls   [][]string
	termCalls   [][]string
	modifyCalls []ec2.ModifyInstanceAttributeInput
	stopped     map[string]int // successful stops, by ID
	terminated  map[string]int
}

var _ resources.EC2InstancesAPI = (*fakeEC2)(nil)

func newFakeEC2() *fakeEC2 {
	return &fakeEC2{
		describeErrAt:         -1,
		stopCode:              map[string]string{},
		termCode:              map[string]string{},
		disableAPIStop:        map[string]bool{},
		disableAPITermination: map[string]bool{},
		stopped:               map[string]int{},
		terminated:            map[string]int{},
		current:               map[string]string{},
		attrErr:               map[string]error{},
	}
}

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "fake " + code}
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describeInputs = append(f.describeInputs, *in)
	for _, flt := range in.Filters {
		if aws.ToString(flt.Name) == "instance-id" {
			var insts []types.Instance
			for _, id := range flt.Values {
				if st, ok := f.current[id]; ok {
					insts = append(insts, types.Instance{InstanceId: aws.String(id), State: &types.InstanceState{Name: types.InstanceStateName(st)}})
				}
			}
			return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: insts}}}, nil
		}
	}
	page := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		n, err := strconv.Atoi(tok[len("page-"):])
		if err != nil || n <= 0 || n >= len(f.pages) {
			return nil, apiErr("InvalidParameterValue")
		}
		page = n
	}
	if page == f.describeErrAt {
		return nil, f.describeErr
	}
	out := &ec2.DescribeInstancesOutput{}
	if page < len(f.pages) {
		out.Reservations = f.pages[page]
	}
	if page+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprintf("page-%d", page+1))
	}
	return out, nil
}

func (f *fakeEC2) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	if f.onStop != nil {
		f.onStop(in.InstanceIds)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := append([]string(nil), in.InstanceIds...)
	f.stopCalls = append(f.stopCalls, ids)
	if f.callErr != nil {
		return nil, f.callErr
	}
	for _, id := range ids {
		if code := f.stopCode[id]; code != "" {
			return nil, apiErr(code)
		}
		if f.disableAPIStop[id] || (f.stopNeedsBothOff && f.disableAPITermination[id]) {
			return nil, apiErr("OperationNotPermitted")
		}
	}
	for _, id := range ids {
		f.stopped[id]++
	}
	return &ec2.StopInstancesOutput{}, nil
}

func (f *fakeEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := append([]string(nil), in.InstanceIds...)
	f.termCalls = append(f.termCalls, ids)
	if f.callErr != nil {
		return nil, f.callErr
	}
	for _, id := range ids {
		if code := f.termCode[id]; code != "" {
			return nil, apiErr(code)
		}
		if f.disableAPITermination[id] {
			return nil, apiErr("OperationNotPermitted")
		}
	}
	for _, id := range ids {
		f.terminated[id]++
	}
	return &ec2.TerminateInstancesOutput{}, nil
}

func (f *fakeEC2) DescribeInstanceAttribute(_ context.Context, in *ec2.DescribeInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceAttributeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attrCalls = append(f.attrCalls, *in)
	id := aws.ToString(in.InstanceId)
	if err := f.attrErr[id]; err != nil {
		return nil, err
	}
	out := &ec2.DescribeInstanceAttributeOutput{InstanceId: in.InstanceId}
	switch in.Attribute {
	case types.InstanceAttributeNameDisableApiStop:
		out.DisableApiStop = &types.AttributeBooleanValue{Value: aws.Bool(f.disableAPIStop[id])}
	case types.InstanceAttributeNameDisableApiTermination:
		out.DisableApiTermination = &types.AttributeBooleanValue{Value: aws.Bool(f.disableAPITermination[id])}
	default:
		return nil, apiErr("InvalidParameterValue")
	}
	return out, nil
}

func (f *fakeEC2) ModifyInstanceAttribute(_ context.Context, in *ec2.ModifyInstanceAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.modifyCalls = append(f.modifyCalls, *in)
	if f.modifyErr != nil {
		return nil, f.modifyErr
	}
	id := aws.ToString(in.InstanceId)
	if in.DisableApiStop != nil && !aws.ToBool(in.DisableApiStop.Value) {
		delete(f.disableAPIStop, id)
	}
	if in.DisableApiTermination != nil && !aws.ToBool(in.DisableApiTermination.Value) {
		delete(f.disableAPITermination, id)
	}
	return &ec2.ModifyInstanceAttributeOutput{}, nil
}

// pol is the owner's choices for instances, as the tests write them.
type pol struct {
	Action               engine.Verb
	TerminateUnstoppable bool
	OverrideProtection   bool
}

// kindWith wraps the fake in the real kind, for every region.
func kindWith(f *fakeEC2, p pol) *resources.EC2Instances {
	return kindWithClient(f, p)
}

func kindWithClient(api resources.EC2InstancesAPI, p pol) *resources.EC2Instances {
	return resources.NewEC2Instances(func(string) resources.EC2InstancesAPI { return api }, resources.EC2InstanceOptions{
		Terminate:            p.Action == resources.VerbTerminateInstance,
		TerminateUnstoppable: p.TerminateUnstoppable,
		OverrideProtection:   p.OverrideProtection,
	})
}

// decisionVerb is the decision's verb, or the zero Verb for a Leave.
func decisionVerb(d engine.Decision) engine.Verb {
	if d.Leave {
		return engine.Verb{}
	}
	return d.Verb
}

// instanceIDs makes n distinct 17-hex-digit instance IDs with a prefix
// digit, so that several sets never collide.
func instanceIDs(prefix, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("i-%01x%016x", prefix, i)
	}
	return ids
}
