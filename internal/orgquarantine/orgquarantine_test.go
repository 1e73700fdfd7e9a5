package orgquarantine_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/orgquarantine"
)

const mgmt = "999988887777"

func record(event, account, body string) events.SNSEventRecord {
	attrs := map[string]any{}
	if event != "" {
		attrs[guard.AttrEvent] = map[string]any{"Type": "String", "Value": event}
	}
	if account != "" {
		attrs[guard.AttrAccount] = map[string]any{"Type": "String", "Value": account}
	}
	return events.SNSEventRecord{SNS: events.SNSEntity{Subject: "killswitch: contained 3 instance(s)", Message: body, MessageAttributes: attrs}}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		rec         events.SNSEventRecord
		wantAttach  bool
		wantAccount string
	}{
		{"trip with the account attribute", record(guard.EventTripped, "111122223333", "KILLSWITCH TRIPPED\nAccount: 444455556666\n"), true, "111122223333"},
		{"trip naming the account in the body only", record(guard.EventTripped, "", "KILLSWITCH TRIPPED\nAccount: 444455556666\nTime: now"), true, "444455556666"},
		{"info is ignored", record(guard.EventInfo, "111122223333", ""), false, "111122223333"},
		{"no event attribute is ignored", record("", "111122223333", ""), false, "111122223333"},
		{"trip without an account", record(guard.EventTripped, "", "KILLSWITCH TRIPPED\n"), false, ""},
		{"trip with a bad account", record(guard.EventTripped, "1111-2222-3333", ""), false, "1111-2222-3333"},
		{"the management account is never a target", record(guard.EventTripped, mgmt, ""), false, mgmt},
	}
	for _, c := range cases {
		d := orgquarantine.Decide(c.rec.SNS, mgmt)
		if d.Attach != c.wantAttach || d.Account != c.wantAccount || d.Reason == "" {
			t.Errorf("%s: %+v, want attach=%v account=%q and a reason", c.name, d, c.wantAttach, c.wantAccount)
		}
	}
}

type fakeOrg struct {
	attached map[string]bool
	fail     map[string]error
	calls    []string
}

func (f *fakeOrg) AttachPolicy(_ context.Context, policy, target string) error {
	f.calls = append(f.calls, policy+"->"+target)
	if err := f.fail[target]; err != nil {
		return err
	}
	if f.attached[target] {
		return fmt.Errorf("%w: duplicate", orgquarantine.ErrAlreadyAttached)
	}
	f.attached[target] = true
	return nil
}

func TestHandleAttachesToTrippedAccountsOnlyAndReportsFailures(t *testing.T) {
	t.Parallel()
	f := &fakeOrg{attached: map[string]bool{"222233334444": true}, fail: map[string]error{"555566667777": errors.New("TooManyRequestsException")}}
	q, err := orgquarantine.New(f, "p-abcd1234", mgmt, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Handle(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{
		record(guard.EventTripped, "111122223333", ""),
		record(guard.EventInfo, "333344445555", ""),
		record(guard.EventTripped, "222233334444", ""), // already quarantined: a repeat is fine
		record(guard.EventTripped, "555566667777", ""), // throttled: the invocation fails, Lambda retries
		record(guard.EventTripped, mgmt, ""),
	}})
	if err == nil {
		t.Error("a failed attach must fail the invocation, so Lambda retries it")
	}
	want := []string{"p-abcd1234->111122223333", "p-abcd1234->222233334444", "p-abcd1234->555566667777"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %v, want %v", f.calls, want)
	}
	if !reflect.DeepEqual(res.Quarantined, []string{"111122223333", "222233334444"}) || res.Ignored != 2 {
		t.Errorf("result %+v", res)
	}
}

func TestNewRefusesABadConfiguration(t *testing.T) {
	t.Parallel()
	if _, err := orgquarantine.New(&fakeOrg{}, "", mgmt, nil); err == nil {
		t.Errorf("no policy ID accepted")
	}
	if _, err := orgquarantine.New(&fakeOrg{}, "p-abcd1234", "mgmt", nil); err == nil {
		t.Errorf("a bad management account accepted")
	}
}
