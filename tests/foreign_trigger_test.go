package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/internal/trigger"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

const billingAlarm = "testdata/cloudwatch-billing-alarm.json"

// Only the owner's alarms pull the trip. Anyone in the account who can
// create a CloudWatch alarm or a budget could otherwise point it at the trip
// topic and, with action terminate, delete every instance. The topic's
// policy already refuses such publishes by exact aws:SourceArn (moto does
// not enforce topic policies; infra/stack's template tests cover that), so
// the function is the second line: through the real handler, with the
// stack's environment, an ALARM from another alarm and an ACTUAL alert for
// another budget change nothing and tell the owner, while the stack's own
// alarm and budget still trip.
func TestForeignTriggersDoNotTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		event string
		// alarm says the event is an alarm's, not a budget's.
		alarm bool
		// foreign replaces the stack's own name in the event, if set.
		foreign string
		trips   bool
	}{
		{name: "another alarm's ALARM", event: billingAlarm, alarm: true, foreign: "ci-runner-estimated-charges"},
		{name: "another budget's ACTUAL alert", event: budgetActual, foreign: "team-sandbox-monthly"},
		{name: "the stack's own alarm", event: billingAlarm, alarm: true, trips: true},
		{name: "the stack's own budget", event: budgetActual, trips: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner := settings.Default()
			owner.BreakGlassARNs = breakGlassARNs()
			r := newRig(t, attack.Plan{Regions: []string{moto.Region}, Instances: 2}, stackEnv(owner, ""))
			// The name the function was told is its own, as the stack
			// wires it.
			own := r.settings.BudgetName
			if tc.alarm {
				own = r.settings.AlarmName
			}
			createQuarantinePolicy(t, r)
			seed := seedIAM(t, r)

			raw, err := os.ReadFile(tc.event)
			if err != nil {
				t.Fatal(err)
			}
			event := string(raw)
			if !strings.Contains(event, own) {
				t.Fatalf("%s does not carry the stack's name %q", tc.event, own)
			}
			if tc.foreign != "" {
				// Every mention (subject, ARN, body), as the other alarm or
				// budget would really send it.
				event = strings.ReplaceAll(event, own, tc.foreign)
			}
			path := filepath.Join(t.TempDir(), "event.json")
			if err := os.WriteFile(path, []byte(event), 0o600); err != nil {
				t.Fatal(err)
			}

			res, err := r.invoke(path)
			if err != nil {
				t.Fatalf("handler: %v", err)
			}
			st := r.states()
			q := quarantined(t, r)
			msgs := r.notify.receive(t, 1)
			if n := r.calls.Calls("SNS", "", "Publish"); n != 1 {
				t.Errorf("%d notices published, want 1", n)
			}

			if tc.trips {
				if !res.Tripped || res.Report == nil {
					t.Fatalf("the stack's own %s did not trip: %+v", own, res.Triggers)
				}
				for _, id := range r.seeded.Attackers() {
					if st[id] != "stopped" {
						t.Errorf("attacker %s: %q, want stopped", id, st[id])
					}
				}
				if !q[minerUser] || !q[ownerUser] || q[breakGlassUser] {
					t.Errorf("the trip's quarantine = %v, want the attacker's and the owner's users, not break-glass", q)
				}
				if !strings.Contains(msgs[0].Body, "KILLSWITCH TRIPPED") || !strings.Contains(msgs[0].Body, own) {
					t.Errorf("trip notice does not say it tripped on %s: %q\n%s", own, msgs[0].Subject, msgs[0].Body)
				}
				return
			}

			if res.Tripped || res.Report != nil {
				t.Errorf("a trigger from %s tripped: %+v", tc.foreign, res)
			}
			if len(res.Triggers) != 1 || res.Triggers[0].Source != trigger.SourceUnrecognised ||
				!strings.Contains(res.Triggers[0].Problem, tc.foreign) || !strings.Contains(res.Triggers[0].Problem, "not this kill switch's") {
				t.Errorf("triggers = %+v, want one unrecognised, naming %s as not the kill switch's", res.Triggers, tc.foreign)
			}
			// Nothing changed in the account: no call but the notice's
			// Publish, and the account reads back as it was seeded.
			for k, n := range r.calls.Mutating() {
				if k.Service == "SNS" && k.Operation == "Publish" {
					continue
				}
				t.Errorf("foreign trigger made %d %s %s call(s) in %s", n, k.Service, k.Operation, k.Region)
			}
			for _, id := range r.seeded.Attackers() {
				if st[id] != "running" {
					t.Errorf("attacker %s: %q after a foreign trigger, want still running", id, st[id])
				}
			}
			for name, has := range q {
				if has {
					t.Errorf("%s quarantined by a foreign trigger", name)
				}
			}
			if len(q) < len(seed.arn) {
				t.Errorf("read back %d principals, seeded %d; the quarantine check proves nothing", len(q), len(seed.arn))
			}
			// The owner is told, so a forged alert cannot go unseen.
			if !strings.Contains(msgs[0].Subject, "unrecognised trigger, no action taken") ||
				!strings.Contains(msgs[0].Body, "NO action") || !strings.Contains(msgs[0].Body, tc.foreign) {
				t.Errorf("notice does not say the trigger from %s was unrecognised and nothing was done: %q\n%s", tc.foreign, msgs[0].Subject, msgs[0].Body)
			}
		})
	}
}
