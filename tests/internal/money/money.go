// Package money replays the origin story (300 × p3.2xlarge launched at
// t = 0) and works out the dollars lost before containment on each path:
// the budget, the billing alarm, and the live-usage census. The census
// path's time is measured: the scheduled invoke's census and sweep against
// moto behind the fault proxy's latency. Every figure comes from the
// scenario, the census's price table, the cadences below (each with its
// source) and the measured times; nothing is typed in.
package money

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/internal/trigger"
	"github.com/killswitch/killswitch/tests/internal/apicount"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/chain"
	"github.com/killswitch/killswitch/tests/internal/faultproxy"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// Billing cadence. AWS documents only a bound: billing data, which Budgets
// and the AWS/Billing EstimatedCharges metric read, "is updated at least
// once per day" (AWS Billing and Cost Management User Guide, "Best
// practices for AWS Budgets"; budget status is refreshed "several times a
// day"). The worst case under the documented cadence is a full day; an
// attack starting at a uniformly random moment waits half of it on average.
// The billing alarm reads the same metric, so it waits the same.
const BillingRefresh = 24 * time.Hour

// Lambda and scheduler prices, us-east-1, as published on
// https://aws.amazon.com/lambda/pricing/ (Arm: $0.0000133334 per GB-second,
// $0.20 per million requests) and https://aws.amazon.com/eventbridge/pricing/
// (EventBridge Scheduler: $1.00 per million invocations after 14 million
// free a month), read 2026-11-29. EC2, Auto Scaling, ECS and SageMaker
// describe and list calls carry no charge; CloudWatch Logs ingestion is
// $0.50 per GB (https://aws.amazon.com/cloudwatch/pricing/). Each armed
// run overwrites the census record in the manifest bucket: one S3 Standard
// PUT, $0.005 per 1,000 (https://aws.amazon.com/s3/pricing/).
const (
	LambdaUSDPerGBSecond     = 0.0000133334
	LambdaUSDPerMillionCalls = 0.20
	SchedulerUSDPerMillion   = 1.00
	LogsUSDPerGB             = 0.50
	S3USDPerThousandPuts     = 0.005
	// FunctionMemoryGB is the stack's function memory (256 MB,
	// infra/stack/function.go).
	FunctionMemoryGB = 0.25
	daysPerMonth     = 30
)

// Options set up one simulation.
type Options struct {
	// MotoURL is a running moto_server; the simulation resets it.
	MotoURL string
	// Latency is added by the fault proxy to every AWS call.
	Latency time.Duration
	// Attackers, Type and Regions are the attack (origin story: 300 ×
	// p3.2xlarge over 17 regions).
	Attackers int
	Type      string
	Regions   []string
	// CensusMinutes is the schedule interval the test asserts on.
	CensusMinutes int
	Log           io.Writer // progress; nil: none
}

// Origin is the origin story at the 5-minute default, 50 ms per call (the
// bench's latency for the seeded attack).
func Origin(motoURL string) Options {
	return Options{MotoURL: motoURL, Latency: 50 * time.Millisecond, Attackers: 300, Type: "p3.2xlarge",
		Regions: attack.OriginStory().Regions, CensusMinutes: settings.Default().CensusMinutes}
}

// Measured is what the run measured.
type Measured struct {
	// The quiet census: the owner's normal use, the run that repeats every
	// interval all month. Wall is the whole invoke (what Lambda bills).
	QuietWall, QuietCensus time.Duration
	QuietCalls             int
	QuietLogBytes          int64
	// SelfTestWall is the extra the day's first run takes for the self-test.
	SelfTestWall time.Duration
	// The attack: the census that trips, the sweep that contains.
	AttackCensus, AttackSweep, AttackWall time.Duration
	AttackCensusCalls, AttackCalls        int
	CensusBurnUSD                         float64
	Breaches                              []string
	Contained                             int
	Regions                               int
}

// Row is one path's loss.
type Row struct {
	Path string
	// Detect is the worst-case time from launch to the trip; Act the
	// measured time the sweep takes after it.
	Detect, Act time.Duration
	// WorstUSD and AverageUSD are the dollars lost before containment.
	WorstUSD, AverageUSD float64
}

// Result is the simulation.
type Result struct {
	Options  Options
	PriceUSD float64 // the table's on-demand price of Type
	BurnUSD  float64 // per hour: Attackers × PriceUSD
	Measured Measured
	Rows     []Row
	// Monthly running cost of the census schedule, at CensusMinutes.
	Monthly Monthly
}

// Monthly is what the schedule costs a month.
type Monthly struct {
	Invocations                                       int
	GBSeconds                                         float64
	LambdaUSD, SchedulerUSD, LogsUSD, S3USD, TotalUSD float64
	EC2APICalls                                       int
}

// Simulate runs the scenario against moto and works the money out.
func Simulate(ctx context.Context, o Options) (*Result, error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	price, ok := census.Prices[o.Type]
	if !ok {
		return nil, fmt.Errorf("%s is not in the census's price table", o.Type)
	}
	res := &Result{Options: o, PriceUSD: price.PriceUSD, BurnUSD: float64(o.Attackers) * price.PriceUSD}

	if err := moto.Reset(o.MotoURL); err != nil {
		return nil, err
	}
	plain, err := moto.Config(ctx, o.MotoURL, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	// Every service the census, self-test and sweep call gets the latency.
	proxy, err := faultproxy.Start(faultproxy.Config{Target: o.MotoURL, Latency: o.Latency,
		Services: []string{"ec2", "autoscaling", "ecs", "sagemaker", "sns", "ssm", "iam", "lambda", "eks", "batch", "sts"}})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	cfg, err := moto.Config(ctx, proxy.URL, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	calls := apicount.New()
	calls.Attach(&cfg)

	const latchName = "/killswitch/latch"
	if _, err := ssm.NewFromConfig(plain).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(latchName),
		Value: aws.String(`{"tripped":false}`), Type: ssmtypes.ParameterTypeString}); err != nil {
		return nil, err
	}
	// The owner's normal use: two small instances, exempt by ID.
	owner, err := attack.Seed(ctx, plain, attack.Plan{Regions: o.Regions[:1], OwnerInstances: 2})
	if err != nil {
		return nil, err
	}
	box, err := chain.NewInbox(ctx, plain)
	if err != nil {
		return nil, err
	}
	env := map[string]string{
		settings.EnvNotifyTopicARN:    box.TopicARN,
		settings.EnvLatchParameter:    latchName,
		settings.EnvExemptInstanceIDs: strings.Join(owner.Exempt, ","),
		settings.EnvCensusMinutes:     fmt.Sprint(o.CensusMinutes),
	}
	s, err := settings.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	logBytes := &countingWriter{}
	log := slog.New(slog.NewJSONHandler(logBytes, &slog.HandlerOptions{Level: slog.LevelInfo}))
	invoke := func() (*handler.Result, time.Duration, error) {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Minute) // the function's timeout
		defer cancel()
		start := time.Now()
		r, err := app.New(cfg, s, log, app.WithFunctionName("killswitch")).Handler.Handle(ictx, json.RawMessage(trigger.ScheduledEvent))
		return r, time.Since(start), err
	}

	// A first run warms moto up (it builds each region's backends on
	// first use, seconds that a real account does not spend) and takes the
	// day's self-test.
	if _, _, err := invoke(); err != nil {
		return nil, fmt.Errorf("first quiet run: %w", err)
	}
	// Every other run of the month: the census alone.
	calls.Reset()
	logBytes.n.Store(0)
	quiet, quietWall, err := invoke()
	if err != nil || quiet.Tripped || quiet.Census == nil {
		return nil, fmt.Errorf("quiet run: tripped %v, %v", quiet != nil && quiet.Tripped, err)
	}
	m := &res.Measured
	m.QuietWall, m.QuietCensus, m.QuietCalls, m.QuietLogBytes = quietWall, quiet.Census.Duration, calls.Calls("", "", ""), logBytes.n.Load()
	// The day's first run again, warm: census and self-test.
	if _, err := ssm.NewFromConfig(plain).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(latchName),
		Value: aws.String(`{"tripped":false}`), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
		return nil, err
	}
	daily, dailyWall, err := invoke()
	if err != nil {
		return nil, fmt.Errorf("the self-test run: %w", err)
	}
	if daily.SelfTest == nil || len(daily.SelfTest.Failed()) > 0 {
		return nil, fmt.Errorf("the self-test did not pass: %+v", daily.SelfTest)
	}
	m.SelfTestWall = max(dailyWall-quietWall, 0)
	logf("quiet run: %v wall, census %v, %d calls, %d log bytes; self-test adds %v", quietWall.Round(time.Millisecond),
		m.QuietCensus.Round(time.Millisecond), m.QuietCalls, m.QuietLogBytes, m.SelfTestWall.Round(time.Millisecond))

	// t = 0: the attack. Seeded straight into moto, not through the proxy.
	seeded, err := attack.Seed(ctx, plain, attack.Plan{Regions: o.Regions, Instances: o.Attackers, PerLaunch: 4})
	if err != nil {
		return nil, err
	}
	calls.Reset()
	hit, hitWall, err := invoke()
	if err != nil {
		return nil, fmt.Errorf("the scheduled run after the attack: %w", err)
	}
	if !hit.Tripped || hit.Report == nil || hit.Census == nil {
		return nil, fmt.Errorf("the census did not trip on %d × %s", o.Attackers, o.Type)
	}
	m.AttackWall, m.AttackCensus = hitWall, hit.Census.Duration
	m.AttackSweep = hit.Report.FinishedAt.Sub(hit.Report.StartedAt)
	m.AttackCensusCalls, m.AttackCalls = hit.Census.Calls, calls.Calls("", "", "")
	m.CensusBurnUSD = hit.Census.HourlyBurnUSD
	m.Regions = hit.Census.RegionsInUse
	for _, b := range hit.Breaches {
		m.Breaches = append(m.Breaches, b.Cap)
	}
	states, err := attack.States(ctx, plain, o.Regions)
	if err != nil {
		return nil, err
	}
	for _, id := range seeded.Attackers() {
		if states[id] == "stopped" {
			m.Contained++
		}
	}
	if m.Contained != len(seeded.Attackers()) {
		return nil, fmt.Errorf("contained %d of %d attacker instances", m.Contained, len(seeded.Attackers()))
	}
	logf("attack run: %v wall, census %v (%d calls), sweep %v, %d calls in all; caps %v",
		hitWall.Round(time.Millisecond), m.AttackCensus.Round(time.Millisecond), m.AttackCensusCalls,
		m.AttackSweep.Round(time.Millisecond), m.AttackCalls, m.Breaches)

	// The losses. The sweep takes the same measured time on every path;
	// the census path also waits for its census.
	lost := func(d time.Duration) float64 { return res.BurnUSD * d.Hours() }
	row := func(path string, detectWorst, detectAverage, act time.Duration) Row {
		return Row{Path: path, Detect: detectWorst, Act: act, WorstUSD: lost(detectWorst + act), AverageUSD: lost(detectAverage + act)}
	}
	res.Rows = []Row{
		row("budget (ACTUAL alert)", BillingRefresh, BillingRefresh/2, m.AttackSweep),
		row("billing alarm (EstimatedCharges)", BillingRefresh, BillingRefresh/2, m.AttackSweep),
	}
	for _, minutes := range []int{1, o.CensusMinutes, 15} {
		interval := time.Duration(minutes) * time.Minute
		name := fmt.Sprintf("census every %d min", minutes)
		if minutes == o.CensusMinutes {
			name += " (default)"
		}
		res.Rows = append(res.Rows, row(name, interval+m.AttackCensus, interval/2+m.AttackCensus, m.AttackSweep))
		if minutes == o.CensusMinutes && o.CensusMinutes == 15 {
			break
		}
	}

	// The month: one census every interval, one self-test a day.
	mo := &res.Monthly
	mo.Invocations = daysPerMonth * 24 * 60 / o.CensusMinutes
	mo.GBSeconds = FunctionMemoryGB * (float64(mo.Invocations)*m.QuietWall.Seconds() + daysPerMonth*m.SelfTestWall.Seconds())
	mo.LambdaUSD = mo.GBSeconds*LambdaUSDPerGBSecond + float64(mo.Invocations)/1e6*LambdaUSDPerMillionCalls
	mo.SchedulerUSD = float64(mo.Invocations) / 1e6 * SchedulerUSDPerMillion
	mo.LogsUSD = float64(mo.Invocations) * float64(m.QuietLogBytes) / 1e9 * LogsUSDPerGB
	mo.S3USD = float64(mo.Invocations) / 1000 * S3USDPerThousandPuts
	mo.TotalUSD = mo.LambdaUSD + mo.SchedulerUSD + mo.LogsUSD + mo.S3USD
	mo.EC2APICalls = mo.Invocations * m.QuietCalls
	return res, nil
}

// CensusDefault is the census row at the configured interval.
func (r *Result) CensusDefault() Row {
	for _, row := range r.Rows {
		if strings.HasSuffix(row.Path, "(default)") {
			return row
		}
	}
	return Row{}
}

// Table writes the result as Markdown tables.
func (r *Result) Table(w io.Writer) {
	m := r.Measured
	fmt.Fprintf(w, "Scenario: %d × %s launched at t = 0 over %d regions; $%.4f/hour each (census price table) = $%.2f/hour (the census estimated $%.2f/hour).\n",
		r.Options.Attackers, r.Options.Type, len(r.Options.Regions), r.PriceUSD, r.BurnUSD, m.CensusBurnUSD)
	fmt.Fprintf(w, "Measured against moto behind the fault proxy, %v per call: census %.2f s (%d calls), sweep %.2f s, whole invoke %.2f s (%d calls); caps crossed: %s.\n\n",
		r.Options.Latency, m.AttackCensus.Seconds(), m.AttackCensusCalls, m.AttackSweep.Seconds(), m.AttackWall.Seconds(), m.AttackCalls, strings.Join(m.Breaches, ", "))
	fmt.Fprintln(w, "| path | detected after (worst) | then contained in | lost, worst case | lost, average |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, row := range r.Rows {
		fmt.Fprintf(w, "| %s | %s | %.1f s | $%s | $%s |\n", row.Path, human(row.Detect), row.Act.Seconds(), usd(row.WorstUSD), usd(row.AverageUSD))
	}
	mo := r.Monthly
	fmt.Fprintf(w, "\nRunning cost at one census every %d min (%d invocations a month):\n\n", r.Options.CensusMinutes, mo.Invocations)
	fmt.Fprintln(w, "| item | measured | a month |")
	fmt.Fprintln(w, "|---|---|---:|")
	fmt.Fprintf(w, "| Lambda (256 MB, Arm) | %.2f s a quiet run, +%.2f s for the daily self-test; %.0f GB-s | $%.4f |\n", m.QuietWall.Seconds(), m.SelfTestWall.Seconds(), mo.GBSeconds, mo.LambdaUSD)
	fmt.Fprintf(w, "| EventBridge Scheduler | %d invocations | $%.4f |\n", mo.Invocations, mo.SchedulerUSD)
	fmt.Fprintf(w, "| CloudWatch Logs | %d bytes a run | $%.4f |\n", m.QuietLogBytes, mo.LogsUSD)
	fmt.Fprintf(w, "| S3 (the census record for `killswitch status`) | one PUT a run | $%.4f |\n", mo.S3USD)
	fmt.Fprintf(w, "| EC2, Auto Scaling, ECS, SageMaker API | %d calls a run, %d a month | $0 (no charge) |\n", m.QuietCalls, mo.EC2APICalls)
	fmt.Fprintf(w, "| total | | $%.2f |\n", mo.TotalUSD)
}

func human(d time.Duration) string {
	if d >= time.Hour {
		return fmt.Sprintf("%.0f h", d.Hours())
	}
	return fmt.Sprintf("%.1f min", d.Minutes())
}

func usd(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	if v < 1000 {
		return fmt.Sprintf("%.2f", v)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

type countingWriter struct{ n atomic.Int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }
