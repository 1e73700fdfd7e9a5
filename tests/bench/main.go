// Command bench prints killswitch's speed table (make bench). It runs the
// real handler and engine against moto behind faultproxy, which adds a fixed
// latency to every EC2 call and throttles EC2 with its documented token
// buckets (per region: 50 mutating calls of burst, 5 a second after), and
// the real bootstrap under the Lambda Runtime Interface Emulator for memory
// and start-up. It is a measurement, not a test: it fails only when a
// scenario cannot be run or does not contain.
//
// The all-protected scenarios (every instance stop- and
// termination-protected) print the mutating calls per protected instance
// and the wall time against the floor the mutating-call bucket sets.
//
// Every scenario is seeded straight into moto (never through the latency
// proxy) and then measured three times, each on a fresh seed:
//
//   - moto alone: in-process, through the proxy with no latency; what moto's
//     own service time costs (it answers about 30-40 calls a second on two
//     cores, one call at a time under Python's GIL). "moto" here includes
//     the package moto's gap proxy in front of moto_server, one loopback
//     hop that every run (and the measured service time) shares;
//   - in-process: the same with the scenario's latency, counted with
//     apicount;
//   - emulator: bootstrap under aws-lambda-rie with the same latency; its
//     peak RSS is read from /proc after the invoke.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/apicount"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/faultproxy"
	"github.com/killswitch/killswitch/tests/internal/lambdarun"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// budgetEvent is the AWS Budgets ACTUAL alert the tests use.
const budgetEvent = "tests/testdata/budget-actual.json"

type scenario struct {
	name    string
	plan    attack.Plan
	latency time.Duration
	target  string
}

// scaleRegions are 30 regions moto serves (the built-in fallback list holds
// newer regions moto does not know).
var scaleRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
	"ap-southeast-5", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2",
	"eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
	"me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1",
}

func scenarios(only string) []scenario {
	scale := attack.Plan{
		Regions:   scaleRegions,
		Instances: 5000,
		// Large launches keep seeding short (about 100 RunInstances).
		PerLaunch: 50,
		// Every 25th launch is a one-time Spot request (terminated in stop
		// mode). Protection is left to the seed attack: in moto a protected
		// 50-instance launch costs 100 overrides, which measures moto.
		SpotEvery:       25,
		OwnerInstances:  2,
		ForgedExemptTag: true,
	}
	all := []scenario{
		{name: "seed attack", plan: attack.OriginStory(), latency: 50 * time.Millisecond, target: "<= 1.3x floor"},
		{name: "scale", plan: scale, latency: 100 * time.Millisecond, target: "<= 30 s"},
	}
	if only == "" {
		return all
	}
	var out []scenario
	for _, s := range all {
		if strings.Contains(s.name, only) {
			out = append(out, s)
		}
	}
	return out
}

type run struct {
	wall       time.Duration // containment only: the handler's invoke
	calls      int           // EC2 SDK operations (apicount), or proxy requests under the emulator
	attempts   int           // EC2 HTTP requests seen by the proxy
	upstream   time.Duration // moto's service time summed over EC2 requests
	rep        *engine.Report
	peakRSSKiB int64
	seeded     *attack.Seeded
	seedTime   time.Duration
}

// concurrency overrides KILLSWITCH_REGION_CONCURRENCY in-process, for tuning.
var concurrency int

// noLimits turns off the proxy's EC2 token buckets.
var noLimits bool

type bench struct {
	ctx      context.Context
	moto     *moto.Server
	log      io.Writer
	emulator string
	boot     string
	bootErr  error
}

func main() {
	only := flag.String("only", "", "run only the scenarios whose name contains this")
	noEmu := flag.Bool("no-emulator", false, "skip the runs under the Lambda emulator")
	flag.IntVar(&concurrency, "concurrency", 0, "region concurrency for the in-process runs (0: the settings default)")
	flag.BoolVar(&noLimits, "no-rate-limits", false, "turn off EC2's token buckets in the proxy")
	flag.Parse()
	if err := mainErr(*only, *noEmu); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func mainErr(only string, noEmu bool) error {
	ctx := context.Background()
	root, err := lambdarun.RepoRoot(ctx)
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	b := &bench{ctx: ctx, log: os.Stderr}

	// The deployable binary: its size, built exactly as `make bootstrap`.
	armSize, armErr := buildArm64(ctx)

	if !noEmu {
		fmt.Fprintln(b.log, "building bootstrap (host arch) and aws-lambda-rie ...")
		dir := filepath.Join(root, "build", "bench")
		b.boot, b.bootErr = lambdarun.BuildBootstrap(ctx, root, dir)
		if b.bootErr == nil {
			b.emulator, b.bootErr = lambdarun.BuildEmulator(ctx, root, dir)
		}
		if b.bootErr != nil {
			fmt.Fprintln(b.log, "emulator runs skipped:", b.bootErr)
		}
	} else {
		b.bootErr = errors.New("skipped (-no-emulator)")
	}

	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	b.moto, err = moto.Start(startCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("the bench needs moto_server: %w", err)
	}
	defer b.moto.Stop()

	var rows []string
	var notes []string
	for _, sc := range protectedScenarios(only) {
		line, err := b.protected(sc)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		notes = append(notes, line)
	}
	if only == "" || strings.Contains("relaunchers", only) {
		line, err := b.relaunchers()
		if err != nil {
			return fmt.Errorf("relaunchers: %w", err)
		}
		notes = append(notes, line)
	}
	header := fmt.Sprintf("| %-11s | %9s | %7s | %8s | %10s | %9s | %9s | %7s | %11s | %10s | %-20s |",
		"scenario", "instances", "regions", "latency", "moto alone", "wall", "EC2 calls", "floor", "wall/floor", "peak RSS", "target")
	sep := "|" + strings.Repeat("-", 13) + "|" + strings.Repeat("-", 11) + "|" + strings.Repeat("-", 9) + "|" + strings.Repeat("-", 10) +
		"|" + strings.Repeat("-", 12) + "|" + strings.Repeat("-", 11) + "|" + strings.Repeat("-", 11) + "|" + strings.Repeat("-", 9) +
		"|" + strings.Repeat("-", 13) + "|" + strings.Repeat("-", 12) + "|" + strings.Repeat("-", 22) + "|"
	for _, sc := range scenarios(only) {
		fmt.Fprintf(b.log, "== %s: %d instances over %d regions, %v per EC2 call\n", sc.name, sc.plan.Instances, len(sc.plan.Regions), sc.latency)
		base, err := b.inProcess(sc, 0)
		if err != nil {
			return fmt.Errorf("%s, moto alone: %w", sc.name, err)
		}
		fmt.Fprintf(b.log, "   moto alone: %v, %d EC2 calls, moto service time %v summed (seeded in %v)\n",
			base.wall.Round(time.Millisecond), base.calls, base.upstream.Round(time.Millisecond), base.seedTime.Round(time.Millisecond))
		lat, err := b.inProcess(sc, sc.latency)
		if err != nil {
			return fmt.Errorf("%s, with latency: %w", sc.name, err)
		}
		floor, how := floorOf(lat.rep, sc.latency)
		fmt.Fprintf(b.log, "   with %v: %v, %d EC2 calls (%d attempts); floor %v = %s\n",
			sc.latency, lat.wall.Round(time.Millisecond), lat.calls, lat.attempts, floor, how)
		rss := "n/a"
		emuNote := ""
		if b.bootErr == nil {
			emu, err := b.underEmulator(sc)
			if err != nil {
				emuNote = fmt.Sprintf("%s under the emulator failed: %v", sc.name, err)
				fmt.Fprintln(b.log, "  ", emuNote)
			} else {
				rss = fmt.Sprintf("%.1f MiB", float64(emu.peakRSSKiB)/1024)
				emuNote = fmt.Sprintf("%s under the emulator: invoke %v, %d EC2 requests, peak RSS of bootstrap %s",
					sc.name, emu.wall.Round(time.Millisecond), emu.attempts, rss)
				fmt.Fprintln(b.log, "  ", emuNote)
			}
		}
		met := "met"
		switch {
		case strings.Contains(sc.target, "floor") && float64(lat.wall) > 1.3*float64(floor):
			met = "missed"
		case strings.Contains(sc.target, "30 s") && lat.wall > 30*time.Second:
			met = "missed"
		}
		rows = append(rows, fmt.Sprintf("| %-11s | %9d | %7d | %8v | %10s | %9s | %9d | %7s | %11s | %10s | %-20s |",
			sc.name, sc.plan.Instances, len(sc.plan.Regions), sc.latency, secs(base.wall), secs(lat.wall), lat.calls,
			secs(floor), fmt.Sprintf("%.2fx", float64(lat.wall)/float64(floor)), rss, sc.target+" "+met))
		excess := lat.wall - base.wall
		notes = append(notes, fmt.Sprintf("%s: floor = %s; wall minus moto alone = %s = %.2fx the floor",
			sc.name, how, secs(excess), float64(excess)/float64(floor)))
		if emuNote != "" {
			notes = append(notes, emuNote)
		}
	}

	fmt.Println()
	fmt.Println(header)
	fmt.Println(sep)
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println("- " + n)
	}
	if armErr != nil {
		fmt.Printf("- bootstrap (linux/arm64): build failed: %v\n", armErr)
	} else {
		fmt.Printf("- bootstrap (linux/arm64, as `make bootstrap`): %.1f MiB (%d bytes)\n", float64(armSize)/(1<<20), armSize)
	}
	if b.bootErr == nil {
		cold, err := b.coldStart()
		if err != nil {
			fmt.Printf("- start to first invoke under aws-lambda-rie: failed: %v\n", err)
		} else {
			fmt.Printf("- start to first invoke under aws-lambda-rie (host-arch bootstrap, no-op event, median of 5): %v\n", cold.Round(time.Millisecond))
		}
	} else {
		fmt.Printf("- emulator runs: %v\n", b.bootErr)
	}
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// floorOf is the round-trip floor of one sweep: the latency times the
// longest chain of calls that must follow one another, whatever the
// concurrency. For the whole sweep that is 1 DescribeRegions plus the
// longest region chain; a region's chain is
//
//	ceil(found/1000) describe pages (sequential: each needs the last token)
//	+ 1 round of action calls (stop and terminate batches could all go at once)
//	+ if an instance was protected: ceil(log2(batch)) split rounds to isolate it,
//	  1 ModifyInstanceAttribute and 1 retry of the action
//
// where batch is the region's stop (or terminate) batch holding it. moto's
// own service time comes on top of every call and is not in the floor.
func floorOf(rep *engine.Report, latency time.Duration) (time.Duration, string) {
	longest, at := 0, ""
	for _, rr := range rep.Regions {
		found, stops, terms, protected := 0, 0, 0, 0
		for _, kr := range rr.Kinds {
			found += kr.Found
			stops += len(kr.IDs("stopped"))
			terms += len(kr.IDs("terminated"))
			for _, o := range kr.Outcomes {
				if len(o.Also) > 0 {
					protected++
				}
			}
		}
		chain := max(1, (found+999)/1000)
		if stops+terms > 0 {
			chain++
		}
		if protected > 0 {
			batch := min(max(stops, terms), 1000)
			chain += int(math.Ceil(math.Log2(float64(max(batch, 2))))) + 2
		}
		if chain > longest {
			longest, at = chain, rr.Region
		}
	}
	n := 1 + longest
	return time.Duration(n) * latency, fmt.Sprintf("%v x (1 DescribeRegions + %d in %s) = %d round trips", latency, longest, at, n)
}

// seed resets moto and seeds the plan straight into it.
func (b *bench) seed(p attack.Plan) (*attack.Seeded, time.Duration, error) {
	if err := b.moto.Reset(); err != nil {
		return nil, 0, err
	}
	cfg, err := moto.Config(b.ctx, b.moto.URL, awsconfig.Options{})
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	s, err := attack.Seed(b.ctx, cfg, p)
	return s, time.Since(start), err
}

func (b *bench) settings(s *attack.Seeded) (settings.Settings, error) {
	return settings.Load(func(k string) string {
		if k == settings.EnvExemptInstanceIDs {
			return strings.Join(s.Exempt, ",")
		}
		return ""
	})
}

// inProcess seeds, then runs the handler in this process through the proxy
// with the given latency, with the production defaults for everything else.
func (b *bench) inProcess(sc scenario, latency time.Duration) (*run, error) {
	seeded, seedTime, err := b.seed(sc.plan)
	if err != nil {
		return nil, err
	}
	proxy, err := faultproxy.Start(faultproxy.Config{Target: b.moto.URL, Latency: latency, NoRateLimits: noLimits})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	cfg, err := moto.Config(b.ctx, proxy.URL, awsconfig.Options{})
	if err != nil {
		return nil, err
	}
	calls := apicount.New()
	calls.Attach(&cfg)
	s, err := b.settings(seeded)
	if err != nil {
		return nil, err
	}
	if concurrency > 0 {
		s.RegionConcurrency = concurrency
	}
	log := slog.New(slog.DiscardHandler)
	h := app.New(cfg, s, log).Handler
	var res *handler.Result
	wall, err := b.timedTrip(func(ctx context.Context, raw []byte) (err error) {
		res, err = h.Handle(ctx, raw)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("handler: %w", err)
	}
	if err := b.checkContained(seeded, sc.plan); err != nil {
		return nil, err
	}
	ec2 := proxy.Sum("ec2", "", "")
	byOp := map[string]int{}
	for _, ops := range calls.ByRegion("EC2") {
		for op, n := range ops {
			byOp[op] += n
		}
	}
	fmt.Fprintf(b.log, "   latency %v, region concurrency %d: EC2 calls by operation %v\n", latency, s.RegionConcurrency, byOp)
	return &run{wall: wall, calls: calls.Calls("EC2", "", ""), attempts: ec2.Requests, upstream: ec2.Upstream,
		rep: res.Report, seeded: seeded, seedTime: seedTime}, nil
}

// checkContained reads moto back: no attacker instance may still run, and
// the owner's exempt instances must.
func (b *bench) checkContained(s *attack.Seeded, p attack.Plan) error {
	cfg, err := moto.Config(b.ctx, b.moto.URL, awsconfig.Options{})
	if err != nil {
		return err
	}
	st, err := attack.States(b.ctx, cfg, p.Regions)
	if err != nil {
		return err
	}
	running := 0
	for _, id := range s.Attackers() {
		if st[id] == "running" || st[id] == "pending" {
			running++
		}
	}
	for _, id := range s.Exempt {
		if st[id] != "running" {
			return fmt.Errorf("exempt owner instance %s is %q", id, st[id])
		}
	}
	if running > 0 {
		return fmt.Errorf("%d attacker instance(s) still running after the sweep", running)
	}
	return nil
}

func (b *bench) underEmulator(sc scenario) (*run, error) {
	seeded, _, err := b.seed(sc.plan)
	if err != nil {
		return nil, err
	}
	proxy, err := faultproxy.Start(faultproxy.Config{Target: b.moto.URL, Latency: sc.latency, NoRateLimits: noLimits})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	env := append(moto.Env(proxy.URL),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=900",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		settings.EnvExemptInstanceIDs+"="+strings.Join(seeded.Exempt, ","))
	fn, err := lambdarun.Start(b.ctx, lambdarun.Options{Emulator: b.emulator, Bootstrap: b.boot, Env: env})
	if err != nil {
		return nil, err
	}
	defer fn.Stop()
	var out []byte
	wall, err := b.timedTrip(func(ctx context.Context, raw []byte) (err error) {
		out, err = fn.Invoke(ctx, raw)
		return err
	})
	if err != nil {
		return nil, err
	}
	var res handler.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("reading the handler's result: %w", err)
	}
	if res.Report == nil || res.Report.Err() != nil {
		return nil, fmt.Errorf("the sweep under the emulator was incomplete: %.2000s", out)
	}
	if err := b.checkContained(seeded, sc.plan); err != nil {
		return nil, err
	}
	pid, err := fn.BootstrapPID()
	if err != nil {
		return nil, err
	}
	rss, err := lambdarun.PeakRSS(pid)
	if err != nil {
		return nil, err
	}
	ec2 := proxy.Sum("ec2", "", "")
	return &run{wall: wall, attempts: ec2.Requests, calls: ec2.Requests, rep: res.Report, peakRSSKiB: rss, seeded: seeded}, nil
}

// coldStart is the time from starting the emulator (which starts
// bootstrap) to the answer of its first invoke, a no-op event.
func (b *bench) coldStart() (time.Duration, error) {
	var times []time.Duration
	for range 5 {
		start := time.Now()
		fn, err := lambdarun.Start(b.ctx, lambdarun.Options{Emulator: b.emulator, Bootstrap: b.boot, Env: moto.Env(b.moto.URL)})
		if err != nil {
			return 0, err
		}
		_, err = fn.Invoke(b.ctx, []byte(`{}`))
		d := time.Since(start)
		fn.Stop()
		if err != nil {
			return 0, err
		}
		times = append(times, d)
	}
	for i := range times {
		for j := i + 1; j < len(times); j++ {
			if times[j] < times[i] {
				times[i], times[j] = times[j], times[i]
			}
		}
	}
	return times[len(times)/2], nil
}

// buildArm64 builds the deployable binary exactly as `make bootstrap` does
// and returns its size.
func buildArm64(ctx context.Context) (int64, error) {
	if err := os.MkdirAll("build/lambda", 0o755); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
		"-o", "build/lambda/bootstrap", "./lambda")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	fi, err := os.Stat("build/lambda/bootstrap")
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// timedTrip hands the budget alert to invoke and times only the invoke.
func (b *bench) timedTrip(invoke func(ctx context.Context, raw []byte) error) (time.Duration, error) {
	raw, err := os.ReadFile(budgetEvent)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Minute)
	defer cancel()
	start := time.Now()
	err = invoke(ctx, raw)
	return time.Since(start), err
}

// protectedScenarios are attacks where every instance has both stop and
// termination protection, which an attacker can set at launch for free.
func protectedScenarios(only string) []scenario {
	plan := func(regions []string, n int) attack.Plan {
		return attack.Plan{Regions: regions, Instances: n, PerLaunch: 50, TermProtectEvery: 1, StopProtectEvery: 1}
	}
	all := []scenario{
		{name: "protected 300", plan: plan([]string{"eu-west-1"}, 300), target: "<= 2.2 mutating calls/protected"},
		{name: "protected 1000x3", plan: plan([]string{"eu-west-1", "us-east-2", "ap-south-1"}, 1000), target: "<= 2.2 mutating calls/protected"},
	}
	var out []scenario
	for _, s := range all {
		if only == "" || strings.Contains(s.name, only) {
			out = append(out, s)
		}
	}
	return out
}

var benchMutating = []string{"StopInstances", "TerminateInstances", "ModifyInstanceAttribute"}

// protected runs one all-protected scenario once, in-process, under EC2's
// token buckets and a Lambda-like 5-minute deadline, and says how it went,
// contained or not.
func (b *bench) protected(sc scenario) (string, error) {
	fmt.Fprintf(b.log, "== %s: %d instances over %d regions, all stop- and termination-protected\n", sc.name, sc.plan.Instances, len(sc.plan.Regions))
	seeded, seedTime, err := b.seed(sc.plan)
	if err != nil {
		return "", err
	}
	proxy, err := faultproxy.Start(faultproxy.Config{Target: b.moto.URL, NoRateLimits: noLimits})
	if err != nil {
		return "", err
	}
	defer proxy.Close()
	cfg, err := moto.Config(b.ctx, proxy.URL, awsconfig.Options{})
	if err != nil {
		return "", err
	}
	calls := apicount.New()
	calls.Attach(&cfg)
	s, err := b.settings(seeded)
	if err != nil {
		return "", err
	}
	// The proxy's buckets are per region, and so is the floor below: the
	// other regions moto lists are swept too, in parallel, on buckets of
	// their own.
	h := app.New(cfg, s, slog.New(slog.DiscardHandler)).Handler
	raw, err := os.ReadFile(budgetEvent)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	res, herr := h.Handle(ctx, raw)
	wall := time.Since(start)

	protected := len(seeded.Attackers())
	mutating, worst, worstRegion := 0, 0.0, ""
	for _, region := range sc.plan.Regions {
		m := 0
		for _, op := range benchMutating {
			m += calls.Calls("EC2", region, op)
		}
		mutating += m
		// EC2's mutating bucket: 50 at once, then 5 a second. Terminate has
		// a bucket of its own (100, 5 a second), counted apart.
		stopAndModify := calls.Calls("EC2", region, "StopInstances") + calls.Calls("EC2", region, "ModifyInstanceAttribute")
		floor := max(0, float64(stopAndModify-50)/5)
		if t := calls.Calls("EC2", region, "TerminateInstances"); float64(t-100)/5 > floor {
			floor = float64(t-100) / 5
		}
		if floor > worst {
			worst, worstRegion = floor, region
		}
	}
	direct, err := moto.Config(b.ctx, b.moto.URL, awsconfig.Options{})
	if err != nil {
		return "", err
	}
	st, err := attack.States(b.ctx, direct, sc.plan.Regions)
	if err != nil {
		return "", err
	}
	running := 0
	for _, id := range seeded.Attackers() {
		if st[id] == "running" || st[id] == "pending" {
			running++
		}
	}
	limited := proxy.Sum("ec2", "", "").Limited
	status := "contained in one invocation"
	if herr != nil || running > 0 {
		status = fmt.Sprintf("NOT contained: %d of %d still running; handler: %v", running, protected, herr)
	}
	perInstance := float64(mutating) / float64(protected)
	met := "met"
	if perInstance > 2.2 || running > 0 {
		met = "missed"
	}
	byOp := map[string]int{}
	for _, ops := range calls.ByRegion("EC2") {
		for op, n := range ops {
			byOp[op] += n
		}
	}
	fmt.Fprintf(b.log, "   seeded in %v; EC2 calls by operation %v; %d attempts answered RequestLimitExceeded by the buckets\n",
		seedTime.Round(time.Millisecond), byOp, limited)
	floor := time.Duration(worst * float64(time.Second))
	ratio := "n/a"
	if floor > 0 {
		ratio = fmt.Sprintf("%.2fx", float64(wall)/float64(floor))
	}
	changed := 0
	if res != nil && res.Report != nil {
		changed = res.Report.Totals.Changed
	}
	return fmt.Sprintf("%s (%d protected over %d region(s)): %s; %d mutating calls = %.2f per protected instance (target <= 2.2: %s); "+
		"wall %s against a bucket-limited floor of %s in %s (%s); %d contained; %d attempts throttled by the buckets",
		sc.name, protected, len(sc.plan.Regions), status, mutating, perInstance, met,
		secs(wall), secs(floor), worstRegion, ratio, changed, limited), nil
}
