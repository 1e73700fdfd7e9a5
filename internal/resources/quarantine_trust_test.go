package resources_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/resources"
)

func TestCheckTrust(t *testing.T) {
	t.Parallel()
	want := resources.OwnRoleTrust("aws", "eu-west-1", fakeAccount)
	schedule := guard.Resolve(guard.ScheduleGroupARN, "aws", "eu-west-1", fakeAccount)
	if want[guard.ScheduleRoleName].SourceARN != schedule || !strings.HasSuffix(schedule, ":schedule-group/"+guard.ScheduleGroupName) {
		t.Fatalf("scheduler expectation %+v, want SourceArn %s", want[guard.ScheduleRoleName], schedule)
	}
	stmt := func(body string) string { return `{"Version":"2012-10-17","Statement":[` + body + `]}` }
	const lambda = `{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}`
	scheduler := `{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:SourceArn":"` + schedule + `"},"StringEquals":{"aws:SourceAccount":"` + fakeAccount + `"}}}`
	for _, tc := range []struct {
		name, role, doc string
		// drift is "" for none, else a phrase the drift must contain.
		drift string
	}{
		{"function role as deployed", guard.FunctionRoleName, stmt(lambda), ""},
		{"function role, URL-encoded as IAM returns it", guard.FunctionRoleName, url.PathEscape(stmt(lambda)), ""},
		{"statement as an object, service as a list", guard.FunctionRoleName,
			`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com"]},"Action":"sts:AssumeRole"}}`, ""},
		{"Slack role as deployed", guard.SlackRoleName, stmt(`{"Effect":"Allow","Principal":{"Service":"chatbot.amazonaws.com"},"Action":"sts:AssumeRole"}`), ""},
		{"scheduler as deployed", guard.ScheduleRoleName, stmt(scheduler), ""},
		{"scheduler with StringEquals SourceArn only", guard.ScheduleRoleName,
			stmt(`{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceArn":["` + schedule + `"]}}}`), ""},
		{"an AWS principal added", guard.FunctionRoleName, stmt(lambda + `,{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}`),
			"statement 2 trusts AWS arn:aws:iam::999988887777:root"},
		{"the AWS principal beside the service", guard.FunctionRoleName,
			stmt(`{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com","AWS":"arn:aws:iam::` + fakeAccount + `:user/miner"},"Action":"sts:AssumeRole"}`), "AWS arn:aws:iam::" + fakeAccount + ":user/miner"},
		{"everyone", guard.FunctionRoleName, stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), `everyone ("*")`},
		{"an extra service", guard.FunctionRoleName,
			stmt(`{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}`), "Service ec2.amazonaws.com"},
		{"a federated identity", guard.SlackRoleName,
			stmt(`{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}`), "Federated cognito-identity.amazonaws.com"},
		{"NotPrincipal", guard.FunctionRoleName,
			stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::` + fakeAccount + `:root"},"Action":"sts:AssumeRole"}`), "NotPrincipal"},
		{"a Deny of the service stops the switch", guard.FunctionRoleName,
			stmt(lambda + `,{"Effect":"Deny","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}`), `effect "Deny"`},
		{"the wrong service only", guard.SlackRoleName, stmt(lambda), "Service lambda.amazonaws.com"},
		{"no statement", guard.FunctionRoleName, stmt(``), "no statement lets lambda.amazonaws.com"},
		{"scheduler without the condition", guard.ScheduleRoleName,
			stmt(`{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"` + fakeAccount + `"}}}`),
			"no condition aws:SourceArn = " + schedule},
		{"scheduler with another schedule", guard.ScheduleRoleName,
			stmt(`{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:scheduler:eu-west-1:` + fakeAccount + `:schedule/default/disarm"}}}`),
			"aws:SourceArn is [arn:aws:scheduler:eu-west-1:" + fakeAccount + ":schedule/default/disarm]"},
		{"scheduler with a wildcard SourceArn", guard.ScheduleRoleName,
			stmt(`{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:scheduler:*:*:schedule/*"}}}`),
			"condition ArnLike aws:SourceArn"},
		{"scheduler with another account", guard.ScheduleRoleName,
			stmt(`{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:SourceArn":"` + schedule + `"},"StringEquals":{"aws:SourceAccount":"999988887777"}}}`),
			"aws:SourceAccount [999988887777]"},
		{"not a document", guard.FunctionRoleName, "%7Bnot json", "not a readable policy document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			drift := strings.Join(resources.CheckTrust(tc.doc, want[tc.role]), "; ")
			switch {
			case tc.drift == "" && drift != "":
				t.Errorf("drift %q, want none", drift)
			case tc.drift != "" && !strings.Contains(drift, tc.drift):
				t.Errorf("drift %q, want it to contain %q", drift, tc.drift)
			}
		})
	}
}
