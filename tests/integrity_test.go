package tests

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/tests/internal/attack"
)

// integritySwitch is what the stack deploys around the function, on moto:
// the trip topic with the function's subscription and its permission, and
// the owner's email subscription to the notify topic. moto confirms an
// email subscription at once, authenticated (PendingConfirmation false,
// ConfirmationWasAuthenticated true), so it cannot show an unconfirmed or a
// link-confirmed one: internal/integrity's fakes cover those. moto's Lambda
// stores functions and their policies without Docker; only invoking needs it.
type integritySwitch struct {
	tripTopic, ownerSub, tripSub string
}

const integrityOwner = "owner@example.com"

func deployIntegritySwitch(t *testing.T, r *rig) integritySwitch {
	t.Helper()
	ctx := context.Background()
	snsc, lam := sns.NewFromConfig(r.plain), lambda.NewFromConfig(r.plain)
	trip, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("killswitch-trip")})
	if err != nil {
		t.Fatal(err)
	}
	role, err := iam.NewFromConfig(r.plain).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("killswitch-function"), Path: aws.String("/killswitch/"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	var code bytes.Buffer
	zw := zip.NewWriter(&code)
	if w, err := zw.Create("bootstrap"); err != nil {
		t.Fatal(err)
	} else if _, err := w.Write([]byte("#!/bin/sh\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	fn, err := lam.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("killswitch"), Role: role.Role.Arn,
		Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &lambdatypes.FunctionCode{ZipFile: code.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	// What LambdaSubscription adds: SNS may invoke it from the trip topic.
	if _, err := lam.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("killswitch"), StatementId: aws.String("TripTopicInvoke"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("sns.amazonaws.com"), SourceArn: trip.TopicArn}); err != nil {
		t.Fatal(err)
	}
	tripSub, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: trip.TopicArn, Protocol: aws.String("lambda"), Endpoint: fn.FunctionArn, ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(r.notify.topicARN), Protocol: aws.String("email"),
		Endpoint: aws.String(integrityOwner), ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	r.settings.TripTopicARN = aws.ToString(trip.TopicArn)
	r.settings.NotifyEmails = []string{integrityOwner}
	return integritySwitch{tripTopic: aws.ToString(trip.TopicArn), ownerSub: aws.ToString(owner.SubscriptionArn), tripSub: aws.ToString(tripSub.SubscriptionArn)}
}

// The attacker puts a filter policy on the owner's email subscription and
// opens the function to another account: the trip's report names both,
// each with its fix, among the failures. Sequential: it resets the shared
// moto.
func TestIntegrityReportsABlindedOwnerOnMoto(t *testing.T) {
	r := newRig(t, attack.Plan{Regions: []string{"us-east-1"}, OwnerInstances: 1}, nil)
	d := deployIntegritySwitch(t, r)
	ctx := context.Background()
	if _, err := sns.NewFromConfig(r.plain).SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(d.ownerSub),
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"never":["sent"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := lambda.NewFromConfig(r.plain).AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String("killswitch"), StatementId: aws.String("backdoor"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("999999999999")}); err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := r.invokeWith(cctx, budgetActual, app.WithFunctionName("killswitch"), app.WithRegions([]string{"us-east-1"}))
	// Drift is a failure of the sweep, so the run fails as an incomplete
	// containment does (Lambda's retries and on-failure destination see it).
	if err == nil || res == nil || res.Report == nil {
		t.Fatalf("handler: result %v, err %v; want a report and the failures as its error", res, err)
	}
	var failed []engine.Outcome
	for _, rr := range res.Report.Regions {
		for _, kr := range rr.Kinds {
			if kr.Kind == "Kill switch integrity" {
				failed = append(failed, kr.Failed()...)
			}
		}
	}
	byID := map[string]engine.Outcome{}
	for _, o := range failed {
		byID[o.ID] = o
	}
	filter := byID["notify subscription "+short(d.ownerSub)+" has a filter policy"]
	if !strings.Contains(filter.Message, "--attribute-name FilterPolicy --attribute-value '{}'") {
		t.Errorf("no filter-policy failure with its fix among %s", outcomesJSON(failed))
	}
	// moto writes an account principal as the bare ID; AWS as {"AWS":"arn:…:root"}.
	backdoor := byID[`function policy statement "backdoor" (principal 999999999999) is not the stack's`]
	if !strings.Contains(backdoor.Message, "aws lambda remove-permission --region us-east-1 --function-name killswitch --statement-id backdoor") {
		t.Errorf("no function-policy failure with its fix among %s", outcomesJSON(failed))
	}
	// The test's SQS mailbox is not one the stack made, and is reported so;
	// the function's trip subscription and the stack's statement are not.
	for _, o := range failed {
		if strings.Contains(o.ID, d.tripSub) || strings.Contains(o.ID, "TripTopicInvoke") {
			t.Errorf("the stack's own %s reported: %s", o.ID, o.Message)
		}
	}
	if len(failed) != 3 {
		t.Errorf("integrity failures %s, want the filter policy, the backdoor and the test's SQS mailbox", outcomesJSON(failed))
	}
	mail := r.notify.receive(t, 1)[0]
	for _, want := range []string{"notify subscription " + short(d.ownerSub) + " has a filter policy", "backdoor"} {
		if !strings.Contains(mail.Body, want) {
			t.Errorf("the email does not name %q:\n%s", want, mail.Body)
		}
	}
}

func outcomesJSON(outs []engine.Outcome) string {
	b, _ := json.MarshalIndent(outs, "", " ")
	return string(b)
}

// short is a subscription ARN as a summary names it.
func short(arn string) string { return "arn:…" + arn[strings.LastIndex(arn, ":"):] }

// The daily self-test on moto: a filter policy on the owner's notify
// subscription fails it, with a check named after the subscription, and
// the warning says so. (An unconfirmed one cannot be made on moto, which
// confirms every email at once: internal/selftest covers it with a fake.)
func TestSelfTestNamesAFilteredNotifySubscriptionOnMoto(t *testing.T) {
	r := selfTestRig(t)
	d := deployIntegritySwitch(t, r)
	if _, err := sns.NewFromConfig(r.plain).SetSubscriptionAttributes(context.Background(), &sns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(d.ownerSub),
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"never":["sent"]}`)}); err != nil {
		t.Fatal(err)
	}
	res, err := r.invokeIn(selfTestRegions, scheduledEvent(t))
	if err != nil {
		t.Fatalf("scheduled run: %v", err)
	}
	if res.SelfTest == nil {
		t.Fatal("the self-test did not run")
	}
	want := "notify subscription " + short(d.ownerSub) + " has a filter policy"
	var names []string
	for _, c := range res.SelfTest.Failed() {
		names = append(names, c.Name)
	}
	// The test's SQS mailbox is the other failure: not one the stack made.
	if len(names) != 2 || !slices.Contains(names, want) {
		t.Errorf("failed checks %q, want %q and the mailbox", names, want)
	}
	msgs := r.notify.receive(t, 1)
	if !strings.Contains(msgs[0].Subject+"\n"+msgs[0].Body, want) || !strings.Contains(msgs[0].Body, "--attribute-name FilterPolicy --attribute-value '{}'") {
		t.Errorf("the warning does not name %q with its fix:\n%s\n%s", want, msgs[0].Subject, msgs[0].Body)
	}
}
