package stack_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/guard"
)

func TestLatchParameter(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	latch := b.one(t, "AWS::SSM::Parameter", "Name", stack.LatchParameterName)
	p := b.props(latch)
	if stack.LatchInitialValue != `{"tripped":false}` {
		t.Errorf("LatchInitialValue = %s", stack.LatchInitialValue)
	}
	if p["Type"] != "String" || p["Value"] != stack.LatchInitialValue {
		t.Errorf("latch parameter: %v; want a String holding {\"tripped\":false}", p)
	}
	assert(t, "latch output", func() {
		b.tmpl.HasOutput(jsii.String("LatchParameterName"), m("Value", ref(latch)))
	})
	// Only the function's role may read or set it, and only it.
	for _, id := range b.ofType("AWS::IAM::Policy") {
		for _, s := range b.props(id)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			for _, a := range list(st["Action"]) {
				if a == "ssm:GetParameter" || a == "ssm:PutParameter" {
					if !containsAny(b.props(id)["Roles"].([]any), ref(b.functionRole(t))) {
						t.Errorf("%s: %s granted to another role", id, a)
					}
					if !reflectEqualJSON(st["Resource"], latchArn(latch)) {
						t.Errorf("%s: %s on %v, want the latch only", id, a, st["Resource"])
					}
				}
			}
		}
	}
}

func TestResweepSchedule(t *testing.T) {
	// One schedule serves the census (while armed) and the re-sweep (while
	// tripped): it runs at the shorter interval of the two.
	for _, tc := range []struct {
		census, resweep int
		expression      string
		maxAge          int
	}{
		{5, 10, "rate(5 minutes)", 300}, // the defaults
		{15, 10, "rate(10 minutes)", 600},
		{5, 1, "rate(1 minute)", 60},
		{1, 60, "rate(1 minute)", 60},
		{60, 60, "rate(60 minutes)", 3600},
	} {
		t.Run(tc.expression, func(t *testing.T) {
			cfg := stack.DefaultConfig()
			cfg.CensusMinutes, cfg.ResweepMinutes = tc.census, tc.resweep
			b := build(t, cfg, "us-east-1")
			fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
			sched := b.one(t, "AWS::Scheduler::Schedule", "Name", stack.ResweepScheduleName)
			p := b.props(sched)
			if p["ScheduleExpression"] != tc.expression {
				t.Errorf("ScheduleExpression = %v, want %s", p["ScheduleExpression"], tc.expression)
			}
			if !reflectEqualJSON(p["FlexibleTimeWindow"], map[string]any{"Mode": "OFF"}) {
				t.Errorf("FlexibleTimeWindow = %v, want OFF", p["FlexibleTimeWindow"])
			}
			if p["State"] != "ENABLED" {
				t.Errorf("State = %v", p["State"])
			}
			target := p["Target"].(map[string]any)
			if !reflectEqualJSON(target["Arn"], getAtt(fn, "Arn")) {
				t.Errorf("target %v, want the function", target["Arn"])
			}
			// Integration tests read the input from the template: it must be
			// exactly the exported constant.
			if stack.ScheduledEventInput != `{"killswitch":"scheduled"}` {
				t.Errorf("ScheduledEventInput = %s", stack.ScheduledEventInput)
			}
			if target["Input"] != stack.ScheduledEventInput {
				t.Errorf("Input = %q, want %q", target["Input"], stack.ScheduledEventInput)
			}
			if !reflectEqualJSON(target["RetryPolicy"], map[string]any{"MaximumEventAgeInSeconds": tc.maxAge}) {
				t.Errorf("RetryPolicy = %v", target["RetryPolicy"])
			}

			// Its role: assumed by the scheduler of this account only, and
			// allowed to invoke the function and nothing else.
			role := target["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			if role == b.functionRole(t) {
				t.Fatal("the schedule uses the function's role")
			}
			// Its trust is guard.ScheduleRoleTrust (the CDK drops the Sid
			// of a trust statement): the scheduler, for the switch's own
			// schedule group of this account only.
			trust := normalizeJSON(resolveCFN(b.props(role)["AssumeRolePolicyDocument"], "aws", "us-east-1", "123456789012"))
			wantDoc := guard.ScheduleRoleTrust().Resolve("aws", "us-east-1", "123456789012")
			wantDoc.Statement[0].Sid = ""
			if want := normalizeJSON(wantDoc); !reflect.DeepEqual(trust, want) {
				g, _ := json.Marshal(trust)
				w, _ := json.Marshal(want)
				t.Errorf("schedule role trust:\n got %s\nwant %s", g, w)
			}
			// The schedule is in the switch's own group, which the stack
			// creates.
			if p["GroupName"] != guard.ScheduleGroupName {
				t.Errorf("schedule in group %v, want %s", p["GroupName"], guard.ScheduleGroupName)
			}
			b.one(t, "AWS::Scheduler::ScheduleGroup", "Name", guard.ScheduleGroupName)
			if p := b.props(role); p["ManagedPolicyArns"] != nil || p["Policies"] != nil {
				t.Errorf("schedule role has other policies: %v", p)
			}
			statements := b.roleStatements(role)
			if len(statements) != 1 || !reflectEqualJSON(statements[0], map[string]any{
				"Sid": "InvokeTheKillSwitchOnly", "Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": getAtt(fn, "Arn"),
			}) {
				t.Errorf("schedule role statements: %v", statements)
			}
			assert(t, "schedule output", func() {
				b.tmpl.HasOutput(jsii.String("ResweepScheduleName"), m("Value", ref(sched)))
			})
		})
	}
}
