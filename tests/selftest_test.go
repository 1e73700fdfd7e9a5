package tests

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/faultproxy"
)

// selfTestRegions keep the self-test tests short: moto lists 38 regions,
// and three prove the per-region checks.
var selfTestRegions = []string{"ap-east-1", "eu-west-1", "us-east-1"}

func selfTestRig(t *testing.T) *rig {
	t.Helper()
	r := newRig(t, attack.Plan{Regions: []string{"us-east-1"}, OwnerInstances: 1}, map[string]string{settings.EnvLatchParameter: latchParameter})
	armLatch(t, r, false) // the self-test is due
	r.calls.Reset()
	return r
}

// On a healthy account the day's first scheduled run proves every region,
// the topic and the latch, publishes nothing, and records the day; the next
// run does not test again.
func TestSelfTestPassesOnAHealthyAccount(t *testing.T) {
	r := selfTestRig(t)
	res, err := r.invokeIn(selfTestRegions, scheduledEvent(t))
	if err != nil {
		t.Fatalf("scheduled run: %v", err)
	}
	if res.SelfTest == nil {
		t.Fatal("the self-test did not run")
	}
	if failed := res.SelfTest.Failed(); len(failed) > 0 || res.Notified {
		t.Errorf("healthy account: failed %+v, notified %v", failed, res.Notified)
	}
	regions := res.Census.RegionsRead
	if got := r.calls.Calls("EC2", "", "StopInstances"); got != regions {
		t.Errorf("%d DryRun StopInstances, want one in each of %d regions", got, regions)
	}
	if got := r.calls.Calls("SNS", "", "GetTopicAttributes"); got != 1 {
		t.Errorf("%d GetTopicAttributes, want 1", got)
	}
	if r.calls.Calls("SNS", "", "Publish") != 0 {
		t.Error("a passing self-test published")
	}
	if st := r.latch(); st.LastSelfTest.IsZero() || st.Tripped {
		t.Errorf("latch after the self-test = %+v, want the day recorded, not tripped", st)
	}
	for _, id := range r.seeded.Exempt {
		if s := r.states()[id]; s != "running" {
			t.Errorf("owner instance %s is %s after a DryRun", id, s)
		}
	}

	r.calls.Reset()
	if res, err = r.invokeIn(selfTestRegions, scheduledEvent(t)); err != nil || res.SelfTest != nil {
		t.Errorf("second run: err %v, self-test ran again: %v", err, res.SelfTest != nil)
	}
	if got := r.calls.Calls("EC2", "", "StopInstances"); got != 0 {
		t.Errorf("second run made %d StopInstances calls", got)
	}
}

// EC2 answering UnauthorizedOperation to the DryRun (the role lost
// ec2:StopInstances) is a warning naming the lost permission and the
// regions.
func TestSelfTestReportsLostPermission(t *testing.T) {
	r := selfTestRig(t)
	behindProxy(t, r, faultproxy.Config{FailOperations: map[string]string{"StopInstances": "UnauthorizedOperation"}}, awsconfig.Options{})
	res, err := r.invokeIn(selfTestRegions, scheduledEvent(t))
	if err != nil {
		t.Fatalf("scheduled run: %v", err)
	}
	if res.SelfTest == nil || len(res.SelfTest.Failed()) != res.Census.RegionsRead {
		t.Fatalf("self-test = %+v; want every region's check failed", res.SelfTest)
	}
	msgs := r.notify.receive(t, 1)
	for _, want := range []string{"SELF-TEST FAILED", "permission LOST: the function may no longer stop instances in us-east-1 (UnauthorizedOperation)", "eu-west-1"} {
		if !strings.Contains(msgs[0].Subject+"\n"+msgs[0].Body, want) {
			t.Errorf("warning lacks %q:\n%s\n%s", want, msgs[0].Subject, msgs[0].Body)
		}
	}
	if st := r.latch(); st.Tripped {
		t.Error("a failed self-test tripped the switch")
	}
}

// A deleted notify topic is named as such. No warning can reach the owner
// through it, so the run fails: the function's errors and its on-failure
// destination show it.
func TestSelfTestReportsADeletedTopic(t *testing.T) {
	r := selfTestRig(t)
	if _, err := sns.NewFromConfig(r.plain).DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: aws.String(r.notify.topicARN)}); err != nil {
		t.Fatal(err)
	}
	res, err := r.invokeIn(selfTestRegions, scheduledEvent(t))
	if err == nil {
		t.Fatal("the run succeeded although the warning could not be sent")
	}
	failed := res.SelfTest.Failed()
	if len(failed) != 1 || !strings.Contains(failed[0].Problem, "is GONE (deleted)") || !strings.Contains(failed[0].Problem, r.notify.topicARN) {
		t.Errorf("failed checks %+v, want the topic named as gone", failed)
	}
	if res.Notified || res.NotifyError == "" {
		t.Errorf("notified %v, notify error %q", res.Notified, res.NotifyError)
	}
}
