// Command demo runs the whole killswitch chain locally, on emulators, in one
// command (make demo): an AWS Budgets alert published to the trip topic
// reaches the real Lambda binary under the Lambda runtime emulator, which
// contains an attacked account in moto and reports to the owner's inbox.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/chain"
	"github.com/killswitch/killswitch/tests/internal/lambdarun"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = errors.New("interrupted; everything the demo started was stopped")
		}
		fmt.Fprintf(os.Stderr, "\ndemo FAILED: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	total := time.Now()
	step := 0
	var began time.Time
	begin := func(title string) {
		step++
		began = time.Now()
		fmt.Printf("\n[%d] %s\n", step, title)
	}
	done := func(format string, args ...any) {
		fmt.Printf("    %s  (%.1fs)\n", fmt.Sprintf(format, args...), time.Since(began).Seconds())
	}

	begin("Build the Lambda and the Lambda runtime interface emulator")
	root, err := lambdarun.RepoRoot(ctx)
	if err != nil {
		return err
	}
	bin, err := chain.Build(ctx, root, "demo", func(s string) { fmt.Println("    " + s) })
	if err != nil {
		return err
	}
	done("built %s and %s", rel(root, bin.Bootstrap), rel(root, bin.Emulator))

	begin("Start moto, the AWS emulator")
	srv, err := moto.Start(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()
	cfg, err := moto.Config(ctx, srv.URL, awsconfig.Options{MaxAttempts: 3})
	if err != nil {
		return err
	}
	done("moto_server on %s (account %s)", srv.URL, moto.Account)

	begin("Seed the attack: the origin story")
	plan := attack.OriginStory()
	seeded, err := attack.Seed(ctx, cfg, plan)
	if err != nil {
		return fmt.Errorf("seeding the attack: %w", err)
	}
	before, err := attack.RunningByRegion(ctx, cfg, plan.Regions)
	if err != nil {
		return err
	}
	done("%d attacker instances in %d regions (%d Spot, %d termination-protected, %d stop-protected), plus %d owner instances exempted by ID: %s; one attacker instance wears a forged killswitch:exempt tag (%s)",
		len(seeded.Attackers()), len(plan.Regions), len(seeded.Spot), len(seeded.TermProtected), len(seeded.StopProtected),
		len(seeded.Exempt), strings.Join(seeded.Exempt, ", "), seeded.ForgedTag)

	begin("Create the stack's quarantine policy and roles; the attacker's admin user")
	quarantineEnv, err := seedLockdown(ctx, cfg)
	if err != nil {
		return err
	}
	done("policy %s (deny by default), the switch's roles, a break-glass role; user %s with AdministratorAccess and a key", guard.QuarantinePolicyName, demoAttacker)

	begin("Create the stack's topics, the owner's inbox and the trip subscription; start the Lambda")
	box, err := chain.NewInbox(ctx, cfg)
	if err != nil {
		return err
	}
	logPath := filepath.Join(root, "build", "demo", "function.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	ch, err := chain.Start(ctx, chain.Options{
		Config: cfg, MotoURL: srv.URL, Bin: bin,
		NotifyTopicARN: box.TopicARN,
		Exempt:         seeded.Exempt,
		Env:            quarantineEnv,
		FunctionLogs:   logFile,
	})
	if err != nil {
		return err
	}
	defer ch.Close()
	fmt.Printf("    trip topic    %s\n", ch.TripTopicARN)
	fmt.Printf("    notify topic  %s  -> SQS %s (the owner's inbox)\n", box.TopicARN, chain.InboxQueue)
	fmt.Printf("    subscription  %s (http -> relay %s)\n", ch.SubscriptionARN, ch.Relay.URL)
	fmt.Printf("    Lambda        bootstrap under aws-lambda-rie at %s\n", ch.Function.URL)
	fmt.Printf("                  logs: %s\n", rel(root, logPath))
	done("ready")

	begin("AWS Budgets publishes an ACTUAL alert to the trip topic")
	alert := chain.BudgetActual(moto.Account, time.Now())
	msgID, err := ch.Publish(ctx, alert.Subject, alert.Message)
	if err != nil {
		return err
	}
	done("published %s: %q", msgID, alert.Subject)

	begin("SNS delivers it to the Lambda, which contains the account")
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	invs, err := ch.Relay.Wait(waitCtx, 1)
	cancel()
	if err != nil {
		return err
	}
	inv := invs[0]
	if inv.Err != nil {
		return fmt.Errorf("the Lambda failed: %w (its logs: %s)", inv.Err, logPath)
	}
	done("the Lambda returned after %.1fs", inv.Finished.Sub(inv.Started).Seconds())

	after, err := attack.RunningByRegion(ctx, cfg, plan.Regions)
	if err != nil {
		return err
	}
	printTable(plan.Regions, before, after)

	mails, err := box.Receive(ctx, 1, 10*time.Second)
	if err != nil {
		return fmt.Errorf("waiting for the report in the owner's inbox: %w", err)
	}
	fmt.Println("\n    The report, as it arrived in the owner's inbox:")
	fmt.Println("    " + strings.Repeat("-", 76))
	fmt.Printf("    Subject: %s\n\n", mails[0].Subject)
	for _, line := range strings.Split(strings.TrimRight(mails[0].Body, "\n"), "\n") {
		fmt.Println(strings.TrimRight("    "+line, " "))
	}
	fmt.Println("    " + strings.Repeat("-", 76))
	fmt.Println("    (The Account line shows the runtime emulator's fixed function ARN account,")
	fmt.Println("    012345678912; in AWS it is your own account ID.)")

	begin("The attacker after the trip: quarantined, with the stolen admin credentials")
	if err := showLockdown(ctx, cfg); err != nil {
		return err
	}
	done("read back from moto's IAM and evaluated")

	begin("The owner's side: killswitch status, and a dry-run restore")
	if err := ownerView(ctx, root, srv.URL, box.TopicARN, quarantineEnv); err != nil {
		return err
	}
	done("the CLI read the latch and the manifest; nothing was changed")

	begin("Stop everything the demo started")
	ch.Close()
	srv.Stop()
	done("moto, the relay and the Lambda emulator are stopped")
	fmt.Printf("\nDemo finished in %.1fs.\n", time.Since(total).Seconds())
	return nil
}

func printTable(regions []string, before, after map[string]int) {
	sorted := append([]string(nil), regions...)
	sort.Strings(sorted)
	fmt.Println("\n    Running instances per region")
	fmt.Printf("    %-16s %7s %7s\n", "region", "before", "after")
	var tb, ta int
	for _, r := range sorted {
		fmt.Printf("    %-16s %7d %7d\n", r, before[r], after[r])
		tb += before[r]
		ta += after[r]
	}
	fmt.Printf("    %-16s %7d %7d\n", "total", tb, ta)
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// ownerView builds the operator CLI, as `make cli` does, and runs what an
// owner runs after a trip: the switch's status, then a dry-run restore of
// the latest trip from its manifest. Both only read.
func ownerView(ctx context.Context, root, motoURL, notifyTopic string, quarantineEnv []string) error {
	bin := filepath.Join(root, "build", "demo", "killswitch")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/killswitch")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the killswitch CLI: %w\n%s", err, out)
	}
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, moto.Env(motoURL)...)
	env = append(env,
		settings.EnvLatchParameter+"="+chain.LatchParameter,
		settings.EnvManifestBucket+"="+chain.ManifestBucket,
		settings.EnvNotifyTopicARN+"="+notifyTopic)
	env = append(env, quarantineEnv...)
	for _, args := range [][]string{{"status"}, {"restore", "--latest"}} {
		fmt.Printf("\n    $ killswitch %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		printCapped(strings.Split(strings.TrimRight(string(out), "\n"), "\n"), 40)
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return fmt.Errorf("killswitch %s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

// printCapped prints the first lines of a long listing and its last three
// (the totals), so a 300-instance restore plan stays readable.
func printCapped(lines []string, max int) {
	for i, line := range lines {
		if len(lines) > max && i == max-4 {
			fmt.Printf("    ... %d more lines ...\n", len(lines)-max+1)
		}
		if len(lines) > max && i >= max-4 && i < len(lines)-3 {
			continue
		}
		fmt.Println(strings.TrimRight("    "+line, " "))
	}
}
