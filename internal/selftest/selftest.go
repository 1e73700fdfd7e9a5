// Package selftest proves, once a day, that the kill switch can still act:
// a DryRun StopInstances in every enabled region, the notify topic's
// attributes, the latch, and the integrity check (internal/integrity) of
// the topics' subscriptions and the function's resource policy. A kill switch that has quietly lost its
// permissions, a region or its topic is worse than none, because the owner
// believes they are covered.
package selftest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/killswitch/killswitch/internal/awserr"
	"github.com/killswitch/killswitch/internal/integrity"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/notify"
)

// StopAPI is the one EC2 call the region probe makes, always with DryRun.
type StopAPI interface {
	StopInstances(ctx context.Context, in *ec2.StopInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
}

// TopicAPI reads the notify topic's attributes.
type TopicAPI interface {
	GetTopicAttributes(ctx context.Context, in *sns.GetTopicAttributesInput, optFns ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error)
}

// LatchReader reads the latch.
type LatchReader interface {
	Load(ctx context.Context) (latch.State, error)
}

// RegionLister lists the enabled regions.
type RegionLister interface {
	EnabledRegions(ctx context.Context) ([]string, error)
}

// Integrity checks the switch's subscriptions and function policy.
type Integrity interface {
	Check(ctx context.Context) []integrity.Problem
}

// Deps are what the self-test probes. A nil topic or latch is reported as
// not configured, which is itself a failure: the stack always wires both.
// A nil Integrity is not checked: only a deployed stack (which wires the
// trip topic) has subscriptions to check.
type Deps struct {
	Regions   RegionLister
	EC2       func(region string) StopAPI
	Topic     TopicAPI
	TopicARN  string
	Latch     LatchReader
	Integrity Integrity
}

// Options tune the self-test.
type Options struct {
	Concurrency   int
	RegionTimeout time.Duration
}

// Tester runs the self-test.
type Tester struct {
	deps Deps
	opts Options
}

func New(d Deps, o Options) *Tester {
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.RegionTimeout <= 0 {
		o.RegionTimeout = 30 * time.Second
	}
	return &Tester{deps: d, opts: o}
}

// Check is one probe's result.
type Check struct {
	// Name is what was probed, e.g. "stop instances in eu-west-1".
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Code is the AWS error code of a failure (or of the DryRun answer).
	Code string `json:"code,omitempty"`
	// Problem says what broke, for the owner.
	Problem string `json:"problem,omitempty"`
}

// Result is one self-test.
type Result struct {
	Checks []Check `json:"checks"`
}

// Failed lists the checks that failed.
func (r Result) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// probeInstanceID is a well-formed ID that names no instance: a DryRun
// needs an ID, and none of the owner's is ever touched, even in a dry run.
const probeInstanceID = "i-0000000000000000f"

// Run probes everything and never stops at the first failure.
func (t *Tester) Run(ctx context.Context) Result {
	var checks []Check
	var mu sync.Mutex
	add := func(c Check) {
		mu.Lock()
		defer mu.Unlock()
		checks = append(checks, c)
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); add(t.topic(ctx)) }()
	go func() { defer wg.Done(); add(t.latch(ctx)) }()
	if t.deps.Integrity != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range t.integrity(ctx) {
				add(c)
			}
		}()
	}

	regions, err := t.deps.Regions.EnabledRegions(ctx)
	if err != nil {
		add(Check{Name: "list the enabled regions (ec2:DescribeRegions)", Code: awserr.Code(err),
			Problem: "cannot list the enabled regions, so a trip would sweep a built-in list and could miss a region the attacker enabled: " + err.Error()})
	}
	sem := make(chan struct{}, t.opts.Concurrency)
	for _, region := range regions {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			add(t.stop(ctx, region))
		}()
	}
	wg.Wait()
	sort.Slice(checks, func(i, j int) bool {
		if checks[i].OK != checks[j].OK {
			return !checks[i].OK
		}
		return checks[i].Name < checks[j].Name
	})
	return Result{Checks: checks}
}

// stop asks EC2 whether the function may stop instances in the region.
func (t *Tester) stop(ctx context.Context, region string) Check {
	ctx, cancel := context.WithTimeout(ctx, t.opts.RegionTimeout)
	defer cancel()
	c := Check{Name: "stop instances in " + region + " (ec2:StopInstances, DryRun)"}
	_, err := t.deps.EC2(region).StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{probeInstanceID}, DryRun: aws.Bool(true)})
	c.Code = awserr.Code(err)
	switch {
	case err == nil:
		// A DryRun never succeeds: an answer without the DryRun error means
		// the flag was ignored, and that is not a proof.
		c.Problem = "EC2 in " + region + " answered a DryRun StopInstances without DryRunOperation"
	case c.Code == "DryRunOperation":
		c.OK = true
	case c.Code == "InvalidInstanceID.NotFound":
		// EC2 looked the ID up, so the region answers; whether it checks
		// the permission before the ID is not documented, so this passes
		// as "reached" and the code is kept in the log.
		c.OK = true
	case c.Code == "UnauthorizedOperation" || strings.HasPrefix(c.Code, "AccessDenied"):
		c.Problem = "permission LOST: the function may no longer stop instances in " + region + " (" + c.Code + "); a trip would leave them running"
	case c.Code == "AuthFailure" || c.Code == "OptInRequired" || c.Code == "UnrecognizedClientException":
		c.Problem = "region " + region + " refuses the function's credentials (" + c.Code + "): it cannot be swept"
	default:
		c.Problem = fmt.Sprintf("cannot reach EC2 in %s: %v", region, err)
	}
	return c
}

func (t *Tester) topic(ctx context.Context) Check {
	c := Check{Name: "read the notify topic (sns:GetTopicAttributes)"}
	if t.deps.Topic == nil || t.deps.TopicARN == "" {
		c.Problem = "no notify topic is configured: reports are only logged"
		return c
	}
	_, err := t.deps.Topic.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(t.deps.TopicARN)})
	c.Code = awserr.Code(err)
	switch {
	case err == nil:
		c.OK = true
	case c.Code == "NotFound":
		c.Problem = "the notify topic " + t.deps.TopicARN + " is GONE (deleted): no report can reach you"
	case c.Code == "AuthorizationError" || strings.HasPrefix(c.Code, "AccessDenied"):
		c.Problem = "permission LOST on the notify topic " + t.deps.TopicARN + " (" + c.Code + ")"
	default:
		c.Problem = fmt.Sprintf("cannot read the notify topic %s: %v", t.deps.TopicARN, err)
	}
	return c
}

// integrity turns each integrity problem into a check named after it
// ("notify subscription arn:…:abcd has a filter policy"). A warning passes
// with its text kept; none at all is one passing check.
func (t *Tester) integrity(ctx context.Context) []Check {
	problems := t.deps.Integrity.Check(ctx)
	if len(problems) == 0 {
		return []Check{{Name: "the notify and trip topics' subscriptions and the function's policy are as deployed", OK: true}}
	}
	out := make([]Check, 0, len(problems))
	for _, p := range problems {
		out = append(out, Check{Name: p.Summary, OK: p.Warning, Code: p.Code, Problem: p.Message()})
	}
	return out
}

func (t *Tester) latch(ctx context.Context) Check {
	c := Check{Name: "read the latch (ssm:GetParameter)"}
	if t.deps.Latch == nil {
		c.Problem = "no latch is configured: after a trip nothing re-sweeps"
		return c
	}
	if _, err := t.deps.Latch.Load(ctx); err != nil {
		c.Code = awserr.Code(err)
		c.Problem = "cannot read the latch: " + err.Error()
		return c
	}
	c.OK = true
	return c
}

// Message is the warning the owner gets when a check failed: what broke,
// one line each, and what to do.
func (r Result) Message(account string) notify.Message {
	failed := r.Failed()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("killswitch SELF-TEST FAILED: the kill switch may NOT be able to act when it trips.")
	if account != "" {
		w("Account: %s", account)
	}
	w("")
	w("WHAT BROKE")
	for _, c := range failed {
		w("  - %s", c.Problem)
	}
	w("")
	w("%d of %d check(s) passed.", len(r.Checks)-len(failed), len(r.Checks))
	w("")
	w("WHAT TO DO")
	w("  Redeploy the stack (npx cdk deploy) to restore its role, topic and latch.")
	w("  If you did not change them, someone else did: treat it as a compromise and trip the switch.")
	w("  The self-test runs once a day; the census keeps running meanwhile.")
	subject := fmt.Sprintf("killswitch: SELF-TEST FAILED - %d problem(s)", len(failed))
	if len(failed) > 0 {
		subject += ": " + failed[0].Name
	}
	if len(subject) > 100 {
		subject = subject[:97] + "..."
	}
	return notify.Message{Subject: subject, Body: b.String()}
}
