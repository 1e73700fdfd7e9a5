package selftest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/selftest"
)

type fakeStop struct{ err error }

func (f fakeStop) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	if !aws.ToBool(in.DryRun) {
		return nil, errors.New("the self-test made a real StopInstances call")
	}
	return nil, f.err
}

type fakeTopic struct{ err error }

func (f fakeTopic) GetTopicAttributes(context.Context, *sns.GetTopicAttributesInput, ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error) {
	return &sns.GetTopicAttributesOutput{}, f.err
}

type fakeLatch struct{ err error }

func (f fakeLatch) Load(context.Context) (latch.State, error) { return latch.State{}, f.err }

type lister struct {
	regions []string
	err     error
}

func (l lister) EnabledRegions(context.Context) ([]string, error) { return l.regions, l.err }

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func TestSelfTest(t *testing.T) {
	t.Parallel()
	dry := apiErr("DryRunOperation")
	tests := []struct {
		name     string
		regions  lister
		ec2      map[string]error // per region; missing: DryRunOperation
		topic    error
		latch    error
		noTopic  bool
		problems []string // substrings, one per failed check
	}{
		{name: "healthy", regions: lister{regions: []string{"us-east-1", "eu-west-1"}}},
		{name: "permission lost in one region", regions: lister{regions: []string{"us-east-1", "eu-west-1"}},
			ec2: map[string]error{"eu-west-1": apiErr("UnauthorizedOperation")}, problems: []string{"permission LOST: the function may no longer stop instances in eu-west-1 (UnauthorizedOperation)"}},
		{name: "region unreachable", regions: lister{regions: []string{"ap-east-1"}},
			ec2: map[string]error{"ap-east-1": errors.New("dial tcp: connection refused")}, problems: []string{"cannot reach EC2 in ap-east-1"}},
		{name: "topic deleted", regions: lister{regions: []string{"us-east-1"}}, topic: apiErr("NotFound"), problems: []string{"is GONE (deleted)"}},
		{name: "no topic configured", regions: lister{regions: []string{"us-east-1"}}, noTopic: true, problems: []string{"no notify topic"}},
		{name: "latch unreadable", regions: lister{regions: []string{"us-east-1"}}, latch: errors.New("AccessDeniedException"), problems: []string{"cannot read the latch"}},
		{name: "regions unlisted", regions: lister{err: apiErr("UnauthorizedOperation")}, problems: []string{"cannot list the enabled regions"}},
		{name: "a DryRun that succeeds is no proof", regions: lister{regions: []string{"us-east-1"}},
			ec2: map[string]error{"us-east-1": nil}, problems: []string{"without DryRunOperation"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := selftest.Deps{
				Regions: tc.regions,
				EC2: func(region string) selftest.StopAPI {
					if err, ok := tc.ec2[region]; ok {
						return fakeStop{err: err}
					}
					return fakeStop{err: dry}
				},
				Topic: fakeTopic{err: tc.topic}, TopicARN: "arn:aws:sns:us-east-1:123456789012:killswitch-notify",
				Latch: fakeLatch{err: tc.latch},
			}
			if tc.noTopic {
				d.Topic = nil
			}
			res := selftest.New(d, selftest.Options{}).Run(context.Background())
			failed := res.Failed()
			if len(failed) != len(tc.problems) {
				t.Fatalf("failed checks %+v, want %d", failed, len(tc.problems))
			}
			msg := res.Message("123456789012")
			for i, p := range tc.problems {
				if !strings.Contains(failed[i].Problem, p) {
					t.Errorf("problem %q, want %q", failed[i].Problem, p)
				}
				if !strings.Contains(msg.Body, p) || !strings.Contains(msg.Subject, "SELF-TEST FAILED") || len(msg.Subject) > 100 {
					t.Errorf("warning does not name %q:\n%s\n%s", p, msg.Subject, msg.Body)
				}
			}
			if want := len(tc.regions.regions) + 2; tc.regions.err == nil && len(res.Checks) != want {
				t.Errorf("%d checks, want %d (each region, the topic, the latch)", len(res.Checks), want)
			}
		})
	}
}
