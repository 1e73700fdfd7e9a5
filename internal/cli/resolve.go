package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
)

// common are the flags every command takes.
type common struct {
	profile, region, stack                   string
	bucket, latchParameter, quarantinePolicy string
	notifyTopic                              string
	json                                     bool
	regions                                  string
	fromStack                                bool
	apply, disarm, latest                    bool
	trip, reason                             string
	disarmKey                                string
	// --org: every account of the organization, entered through role.
	org                bool
	role               string
	accountConcurrency int
	// account is restore's member account, entered through role.
	account string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.profile, "profile", "", "AWS shared config `profile` to use (default: the standard chain)")
	fs.StringVar(&c.region, "region", "", "the `region` the switch is deployed in (default: the standard chain's)")
	fs.StringVar(&c.stack, "stack", guard.StackName, "the deployed CloudFormation `stack` to read outputs from")
	fs.StringVar(&c.bucket, "bucket", "", "the restore manifest `bucket` (default: the stack output ManifestBucketName, else KILLSWITCH_MANIFEST_BUCKET)")
	fs.StringVar(&c.latchParameter, "latch-parameter", "", "the latch's SSM `parameter` (default: the stack output LatchParameterName, else KILLSWITCH_LATCH_PARAMETER)")
	fs.StringVar(&c.quarantinePolicy, "quarantine-policy", "", "the quarantine policy `ARN` (default: the stack output QuarantinePolicyArn, else KILLSWITCH_QUARANTINE_POLICY_ARN)")
	fs.StringVar(&c.notifyTopic, "notify-topic", "", "the notify topic `ARN` for trip and disarm notices (default: the stack output NotifyTopicArn, else KILLSWITCH_NOTIFY_TOPIC_ARN)")
	fs.BoolVar(&c.json, "json", false, "print JSON for machines instead of tables")
}

// stackOutputs maps the stack's outputs to the settings they wire.
var stackOutputs = map[string]string{
	"ManifestBucketName":  settings.EnvManifestBucket,
	"LatchParameterName":  settings.EnvLatchParameter,
	"QuarantinePolicyArn": settings.EnvQuarantinePolicyARN,
	"NotifyTopicArn":      settings.EnvNotifyTopicARN,
	disarmKeyOutput:       settings.EnvDisarmKeyARN,
}

// resolved is the switch as the CLI found it.
type resolved struct {
	cfg      aws.Config
	settings settings.Settings
	// function is the deployed function's name, from the stack.
	function string
	// notes say where things came from, or what could not be read.
	notes []string
}

// resolve loads the AWS configuration and the settings: the KILLSWITCH_*
// environment, overridden by the stack's outputs (and with fromStack, the
// deployed function's whole environment), overridden by the flags.
func resolve(ctx context.Context, e Env, c *common) (*resolved, error) {
	cfg, err := loadConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return resolveIn(ctx, e, c, cfg, false)
}

// loadConfig is the one aws.Config the command starts from; --org copies
// it per account.
func loadConfig(ctx context.Context, c *common) (aws.Config, error) {
	var extra []func(*config.LoadOptions) error
	if c.profile != "" {
		extra = append(extra, config.WithSharedConfigProfile(c.profile))
	}
	if c.region != "" {
		extra = append(extra, config.WithRegion(c.region))
	}
	return awsconfig.Load(ctx, awsconfig.Options{MaxAttempts: 5}, extra...)
}

// resolveIn resolves the settings in the account cfg reaches. With
// member, the account's StackSet instance stack is looked for first: an
// org deploy names it StackSet-killswitch-member-<uuid>, not --stack, and
// its outputs name that account's own bucket and latch.
func resolveIn(ctx context.Context, e Env, c *common, cfg aws.Config, member bool) (*resolved, error) {
	r := &resolved{cfg: cfg, function: guard.FunctionName}
	vars := map[string]string{}
	for _, st := range settings.All {
		if v := e.Getenv(st.Env); v != "" {
			vars[st.Env] = v
		}
	}

	cf := cloudformation.NewFromConfig(cfg)
	stack := c.stack
	if member {
		switch ms, err := findMemberStack(ctx, cf); {
		case err == nil:
			stack = aws.ToString(ms.StackName)
		case !errors.Is(err, errNoMemberStack):
			r.notes = append(r.notes, fmt.Sprintf("could not look for the StackSet instance stack in %s (%v): trying stack %s", cfg.Region, err, stack))
		}
	}
	outputs, err := describeStack(ctx, cf, stack)
	switch {
	case errors.Is(err, errNoStack):
		r.notes = append(r.notes, fmt.Sprintf("no stack %s in %s: using flags and KILLSWITCH_* variables", stack, cfg.Region))
	case err != nil:
		r.notes = append(r.notes, fmt.Sprintf("could not read stack %s in %s (%v): using flags and KILLSWITCH_* variables", stack, cfg.Region, err))
	default:
		r.notes = append(r.notes, fmt.Sprintf("settings from stack %s in %s", stack, cfg.Region))
		for out, env := range stackOutputs {
			if v := outputs[out]; v != "" {
				vars[env] = v
			}
		}
		if v := outputs["FunctionName"]; v != "" {
			r.function = v
		}
	}
	if c.fromStack {
		env, err := functionEnvironment(ctx, lambda.NewFromConfig(cfg), r.function)
		if err != nil {
			return nil, fmt.Errorf("--from-stack: reading the settings of function %s in %s: %w", r.function, cfg.Region, err)
		}
		for k, v := range env {
			if strings.HasPrefix(k, "KILLSWITCH_") {
				vars[k] = v
			}
		}
		r.notes = append(r.notes, fmt.Sprintf("settings from the environment of function %s", r.function))
	}
	for env, v := range map[string]string{
		settings.EnvManifestBucket: c.bucket, settings.EnvLatchParameter: c.latchParameter,
		settings.EnvQuarantinePolicyARN: c.quarantinePolicy, settings.EnvNotifyTopicARN: c.notifyTopic,
		settings.EnvDisarmKeyARN: c.disarmKey,
	} {
		if v != "" {
			vars[env] = v
		}
	}
	s, err := settings.Load(func(k string) string { return vars[k] })
	if err != nil {
		return nil, err
	}
	r.settings = s
	return r, nil
}

// build is the kill switch as the function builds it, through the one
// wiring seam.
func (r *resolved) build(opts ...app.Option) *app.App {
	return app.New(r.cfg, r.settings, discard, append([]app.Option{app.WithFunctionName(r.function)}, opts...)...)
}

var errNoStack = errors.New("no such stack")

type describeStacksAPI interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

func describeStack(ctx context.Context, api describeStacksAPI, name string) (map[string]string, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError" && strings.Contains(apiErr.ErrorMessage(), "does not exist") {
		return nil, errNoStack
	}
	if err != nil {
		return nil, err
	}
	if len(out.Stacks) == 0 {
		return nil, errNoStack
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return outputs, nil
}

type functionConfigAPI interface {
	GetFunctionConfiguration(ctx context.Context, in *lambda.GetFunctionConfigurationInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionConfigurationOutput, error)
}

func functionEnvironment(ctx context.Context, api functionConfigAPI, name string) (map[string]string, error) {
	out, err := api.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	if out.Environment == nil {
		return map[string]string{}, nil
	}
	return out.Environment.Variables, nil
}

// splitRegions reads --regions.
func splitRegions(v string) []string {
	var out []string
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}
