// Package chain wires the deployed killswitch path on emulators, for the
// demo and the end-to-end test: an alert published to the trip topic
// reaches the real bootstrap under the Lambda runtime emulator (through the
// SNS relay), which contains the moto account and reports to the notify
// topic, which an SQS queue (the owner's inbox) receives.
//
// It mirrors what the CDK stack deploys: topics killswitch-trip and
// killswitch-notify, the function subscribed to the trip topic, and the
// function's KILLSWITCH_* environment.
package chain

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/lambdarun"
	"github.com/killswitch/killswitch/tests/internal/moto"
	"github.com/killswitch/killswitch/tests/internal/relay"
)

// Topic and queue names, as the stack names them.
const (
	TripTopic   = "killswitch-trip"
	NotifyTopic = "killswitch-notify"
	InboxQueue  = "owner-inbox"
)

// Binaries are the built emulator and bootstrap.
type Binaries struct{ Emulator, Bootstrap string }

// Build builds the emulator and the bootstrap (host OS and arch) into
// repoRoot/build/<sub>. progress, if set, hears about each step.
func Build(ctx context.Context, repoRoot, sub string, progress func(string)) (Binaries, error) {
	say := func(s string) {
		if progress != nil {
			progress(s)
		}
	}
	dir := filepath.Join(repoRoot, "build", sub)
	say("building the Lambda runtime interface emulator (pinned in go.mod)…")
	emu, err := lambdarun.BuildEmulator(ctx, repoRoot, dir)
	if err != nil {
		return Binaries{}, err
	}
	say("building the Lambda (bootstrap, host arch, -tags lambda.norpc)…")
	boot, err := lambdarun.BuildBootstrap(ctx, repoRoot, dir)
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{Emulator: emu, Bootstrap: boot}, nil
}

// Options describe one chain.
type Options struct {
	// Config reaches moto (moto.Config); MotoURL is the same moto's URL,
	// handed to the function through AWS_ENDPOINT_URL.
	Config  aws.Config
	MotoURL string
	Bin     Binaries
	// NotifyTopicARN is the topic the function reports to (see NewInbox).
	NotifyTopicARN string
	// Exempt are the owner's instance IDs (KILLSWITCH_EXEMPT_INSTANCE_IDS).
	Exempt []string
	// Env adds or overrides KILLSWITCH_* variables ("NAME=value").
	Env []string
	// FunctionLogs receives the emulator's and bootstrap's output.
	FunctionLogs io.Writer
	// Logf hears about relay activity.
	Logf func(format string, args ...any)
}

// Chain is the trip topic, the relay subscribed to it and the function.
type Chain struct {
	TripTopicARN    string
	SubscriptionARN string
	Function        *lambdarun.Function
	Relay           *relay.Relay

	sns *sns.Client
}

// LatchParameter is the latch the stack creates, and so does Start.
const LatchParameter = "/killswitch/latch"

// ManifestBucket is the restore manifests' bucket, named as the stack names
// it for moto's account and region; Start creates it.
var ManifestBucket = strings.NewReplacer("${Account}", moto.Account, "${Region}", moto.Region).Replace(guard.ManifestBucketName)

// FunctionEnv is the function's environment as the stack writes it (the
// settings' defaults, through the same table), with the owner's exempt
// instances, the notify topic and the latch, plus what reaches moto.
// Nothing else from the caller's environment is passed.
func FunctionEnv(o Options) []string {
	s := settings.Default()
	s.ExemptInstanceIDs = o.Exempt
	s.NotifyTopicARN = o.NotifyTopicARN
	s.LatchParameter = LatchParameter
	s.ManifestBucket = ManifestBucket
	var env []string
	for name, value := range s.Environment() {
		env = append(env, name+"="+value)
	}
	sort.Strings(env)
	env = append(env,
		"AWS_LAMBDA_FUNCTION_NAME=killswitch",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=300",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		// No shared config or credential files: only moto's test keys.
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"TZ=UTC",
	)
	env = append(env, moto.Env(o.MotoURL)...)
	return append(env, o.Env...) // later entries win in the child
}

// Start creates the trip topic, starts the relay and subscribes it over
// http, and starts the function under the emulator. Close undoes what
// Start started (moto's resources go with moto's reset).
func Start(ctx context.Context, o Options) (_ *Chain, err error) {
	if o.NotifyTopicARN == "" {
		return nil, fmt.Errorf("chain: no notify topic ARN")
	}
	c := &Chain{sns: sns.NewFromConfig(o.Config)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	topic, err := c.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(TripTopic)})
	if err != nil {
		return nil, fmt.Errorf("creating the trip topic: %w", err)
	}
	c.TripTopicARN = aws.ToString(topic.TopicArn)
	if _, err := ssm.NewFromConfig(o.Config).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(LatchParameter),
		Value: aws.String(`{"tripped":false}`), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
		return nil, fmt.Errorf("creating the latch parameter: %w", err)
	}
	if _, err := s3.NewFromConfig(o.Config).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(ManifestBucket)}); err != nil {
		return nil, fmt.Errorf("creating the manifest bucket: %w", err)
	}

	c.Function, err = lambdarun.Start(ctx, lambdarun.Options{
		Emulator:  o.Bin.Emulator,
		Bootstrap: o.Bin.Bootstrap,
		Env:       FunctionEnv(o),
		Stdout:    o.FunctionLogs,
	})
	if err != nil {
		return nil, err
	}
	c.Relay, err = relay.Start(c.Function.Invoke, relay.Options{Logf: o.Logf})
	if err != nil {
		return nil, err
	}
	sub, err := c.sns.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn:              topic.TopicArn,
		Protocol:              aws.String("http"),
		Endpoint:              aws.String(c.Relay.URL),
		ReturnSubscriptionArn: true,
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing the relay to the trip topic: %w", err)
	}
	c.SubscriptionARN = aws.ToString(sub.SubscriptionArn)
	c.Relay.SetSubscriptionARN(c.SubscriptionARN)
	return c, nil
}

// Close stops the relay and the function; safe on a partial Chain.
func (c *Chain) Close() {
	if c == nil {
		return
	}
	c.Relay.Close()
	c.Function.Stop()
}

// Publish sends a message to the trip topic, as AWS Budgets or CloudWatch
// would, and returns its message ID.
func (c *Chain) Publish(ctx context.Context, subject, message string) (string, error) {
	in := &sns.PublishInput{TopicArn: aws.String(c.TripTopicARN), Message: aws.String(message)}
	if subject != "" {
		in.Subject = aws.String(subject)
	}
	out, err := c.sns.Publish(ctx, in)
	if err != nil {
		return "", fmt.Errorf("publishing to the trip topic: %w", err)
	}
	return aws.ToString(out.MessageId), nil
}

// Alert is one message as AWS would publish it to the trip topic.
type Alert struct{ Subject, Message string }

// BudgetActual is an AWS Budgets ACTUAL cost alert in AWS's plain-text
// format (the same as the reference sample budget-actual.json).
func BudgetActual(account string, at time.Time) Alert {
	return Alert{
		Subject: "AWS Budgets: killswitch-monthly has exceeded your alert threshold",
		Message: "AWS Budget Notification " + at.UTC().Format("January 02, 2006") + "\n" +
			"AWS Account " + account + "\n\n" +
			"Dear AWS Customer,\n\n" +
			"You requested that we alert you when the ACTUAL Cost associated with your killswitch-monthly budget is greater than $10.00 for the current month. " +
			"The ACTUAL Cost associated with this budget is $4,812.37. You can find additional details below and by accessing the AWS Budgets dashboard [1].\n\n" +
			"Budget Name: killswitch-monthly\n" +
			"Budget Type: Cost\n" +
			"Budgeted Amount: $10.00\n" +
			"Alert Type: ACTUAL\n" +
			"Alert Threshold: > $10.00\n" +
			"ACTUAL Amount: $4,812.37\n\n" +
			"[1] https://console.aws.amazon.com/billing/home#/budgets\n",
	}
}

// AlarmChange is a CloudWatch billing alarm notification (a JSON document,
// as in the reference sample cloudwatch-billing-alarm.json) for a
// transition from oldState to newState.
func AlarmChange(account, oldState, newState string, at time.Time) Alert {
	reason := "Threshold Crossed: 1 out of the last 1 datapoints [4812.37] was greater than or equal to the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition)."
	if newState == "OK" {
		reason = "Threshold Crossed: 1 out of the last 1 datapoints [3.12] was not greater than or equal to the threshold (10.0) (minimum 1 datapoint for ALARM -> OK transition)."
	}
	msg := map[string]any{
		"AlarmName":                          "killswitch-estimated-charges",
		"AlarmDescription":                   "Estimated charges above the kill threshold",
		"AWSAccountId":                       account,
		"AlarmConfigurationUpdatedTimestamp": "2026-10-30T08:00:01.000+0000",
		"NewStateValue":                      newState,
		"NewStateReason":                     reason,
		"StateChangeTime":                    at.UTC().Format("2006-01-02T15:04:05.000-0700"),
		"Region":                             "US East (N. Virginia)",
		"AlarmArn":                           "arn:aws:cloudwatch:us-east-1:" + account + ":alarm:killswitch-estimated-charges",
		"OldStateValue":                      oldState,
		"OKActions":                          []string{},
		"AlarmActions":                       []string{"arn:aws:sns:us-east-1:" + account + ":" + TripTopic},
		"InsufficientDataActions":            []string{},
		"Trigger": map[string]any{
			"MetricName": "EstimatedCharges", "Namespace": "AWS/Billing", "StatisticType": "Statistic",
			"Statistic": "MAXIMUM", "Unit": nil, "Dimensions": []map[string]string{{"value": "USD", "name": "Currency"}},
			"Period": 21600, "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 10.0,
			"TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": "",
		},
	}
	raw, _ := json.Marshal(msg)
	return Alert{
		Subject: fmt.Sprintf("%s: \"killswitch-estimated-charges\" in US East (N. Virginia)", newState),
		Message: string(raw),
	}
}

// Inbox is the notify topic with an SQS queue subscribed, standing in for
// the owner's email subscription.
type Inbox struct {
	TopicARN, QueueURL string
	sqs                *sqs.Client
}

// NewInbox creates the notify topic and the subscribed queue.
func NewInbox(ctx context.Context, cfg aws.Config) (*Inbox, error) {
	snsClient := sns.NewFromConfig(cfg)
	topic, err := snsClient.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(NotifyTopic)})
	if err != nil {
		return nil, fmt.Errorf("creating the notify topic: %w", err)
	}
	sqsClient := sqs.NewFromConfig(cfg)
	q, err := sqsClient.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(InboxQueue)})
	if err != nil {
		return nil, fmt.Errorf("creating the inbox queue: %w", err)
	}
	attrs, err := sqsClient.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("reading the inbox queue ARN: %w", err)
	}
	if _, err := snsClient.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		return nil, fmt.Errorf("subscribing the inbox to the notify topic: %w", err)
	}
	return &Inbox{TopicARN: aws.ToString(topic.TopicArn), QueueURL: aws.ToString(q.QueueUrl), sqs: sqsClient}, nil
}

// Mail is one notification as it arrived in the inbox.
type Mail struct{ Subject, Body string }

// Receive waits up to wait for n notifications and returns what arrived
// (fewer on timeout, with an error).
func (b *Inbox) Receive(ctx context.Context, n int, wait time.Duration) ([]Mail, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var got []Mail
	for len(got) < n {
		out, err := b.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.QueueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return got, fmt.Errorf("reading the inbox after %d of %d notification(s): %w", len(got), n, err)
		}
		for _, m := range out.Messages {
			var env struct{ Subject, Message string }
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				return got, fmt.Errorf("inbox message is not an SNS envelope: %w", err)
			}
			got = append(got, Mail{Subject: env.Subject, Body: env.Message})
			_, _ = b.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(b.QueueURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
	return got, nil
}
