package tests

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/orgquarantine"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// The org quarantine against moto's Organizations: an organization with
// member accounts, the deny-by-default SCP created from guard.OrgQuarantineSCP,
// and a trip report from one member. Only that account gets the SCP, a
// repeated report is not an error, and a report that is not a trip
// attaches nothing. moto does not evaluate SCPs: that the attached policy
// denies what it should is asserted on its document (internal/guard).
func TestOrgQuarantineAttachesTheSCPToTheTrippedAccountOnly(t *testing.T) {
	ctx := context.Background()
	if err := motoServer.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := moto.Config(ctx, motoServer.URL, awsconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	api := organizations.NewFromConfig(cfg)
	if _, err := api.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	var accounts []string
	for _, name := range []string{"alpha", "bravo", "charlie"} {
		out, err := api.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, aws.ToString(out.CreateAccountStatus.AccountId))
	}
	doc, _ := json.Marshal(guard.OrgQuarantineSCP([]string{"arn:aws:iam::*:role/stacksets-exec-*"}).Resolve("aws", "*", "*"))
	policy, err := api.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String(guard.OrgQuarantineSCPName),
		Type: orgtypes.PolicyTypeServiceControlPolicy, Description: aws.String("test"), Content: aws.String(string(doc))})
	if err != nil {
		t.Fatal(err)
	}
	policyID := aws.ToString(policy.Policy.PolicySummary.Id)
	org := orgquarantine.NewClient(api)

	q, err := orgquarantine.New(org, policyID, moto.Account, nil)
	if err != nil {
		t.Fatal(err)
	}
	tripped := accounts[1]
	rec := func(event, account string) events.SNSEventRecord {
		return events.SNSEventRecord{SNS: events.SNSEntity{Message: "KILLSWITCH TRIPPED", MessageAttributes: map[string]any{
			guard.AttrEvent:   map[string]any{"Type": "String", "Value": event},
			guard.AttrAccount: map[string]any{"Type": "String", "Value": account},
		}}}
	}
	for round := 0; round < 2; round++ { // the second round is SNS redelivering the same reports
		res, err := q.Handle(ctx, events.SNSEvent{Records: []events.SNSEventRecord{
			rec(guard.EventTripped, tripped), rec(guard.EventInfo, accounts[2]),
		}})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(res.Quarantined) != 1 || res.Quarantined[0] != tripped {
			t.Fatalf("round %d: quarantined %v, want only %s", round, res.Quarantined, tripped)
		}
	}

	for _, a := range accounts {
		out, err := api.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(a), Filter: orgtypes.PolicyTypeServiceControlPolicy})
		if err != nil {
			t.Fatal(err)
		}
		has := false
		for _, p := range out.Policies {
			has = has || aws.ToString(p.Id) == policyID
		}
		if has != (a == tripped) {
			t.Errorf("account %s has the org quarantine: %v, want %v", a, has, a == tripped)
		}
	}
	// An account outside the organization is an error the invocation returns.
	if _, err := q.Handle(ctx, events.SNSEvent{Records: []events.SNSEventRecord{rec(guard.EventTripped, "000011112222")}}); err == nil {
		t.Error("attaching to an account outside the organization did not fail")
	}
}
