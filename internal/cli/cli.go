// Package cli is the `killswitch` operator command: scan, trip, restore,
// status and disarm. It builds the kill switch through internal/app, the
// same wiring seam as the Lambda, so the CLI's plan is the function's plan.
// cmd/killswitch only calls Run; tests can call it in-process too.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Exit codes, documented in the help and the README, so a cron job can
// alert on them.
const (
	ExitOK     = 0 // clean: nothing failed (scan: nothing found)
	ExitFailed = 1 // something failed
	ExitUsage  = 2 // bad usage
	ExitFound  = 3 // scan found something the switch would contain
)

// Env is the process environment as the CLI sees it.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
}

// command is one subcommand.
type command struct {
	name, summary, usage string
	// flags registers the command's own flags on fs.
	flags func(fs *flag.FlagSet, c *common)
	run   func(ctx context.Context, e Env, c *common, args []string) int
}

var commands = []command{scanCommand, tripCommand, restoreCommand, statusCommand, disarmCommand}

const overview = `killswitch - operate the AWS billing kill switch from your terminal

Usage:
  killswitch <command> [flags]

Commands:
%s
Run 'killswitch <command> --help' for a command's flags.

Finding the switch: the manifest bucket, the latch and the topics come from
flags, else from the deployed stack's outputs (CloudFormation stack
"Killswitch", or --stack), else from the KILLSWITCH_* environment variables
the function reads.

AWS credentials come from the standard chain (environment, ~/.aws config
and SSO, instance or container role); --profile and --region choose.
AWS_ENDPOINT_URL points every call at an emulator.

Exit codes:
  0  clean: nothing failed (scan: nothing found)
  1  something failed (the message names the region and the resource)
  2  bad usage
  3  scan found something the switch would contain
`

// Run runs one command line (without the program name) and returns the
// exit code.
func Run(ctx context.Context, e Env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.Stderr, usageOverview())
		return ExitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.Stdout, usageOverview())
		return ExitOK
	}
	for _, cmd := range commands {
		if cmd.name != args[0] {
			continue
		}
		c := &common{}
		fs := flag.NewFlagSet("killswitch "+cmd.name, flag.ContinueOnError)
		fs.SetOutput(e.Stderr)
		c.register(fs)
		if cmd.flags != nil {
			cmd.flags(fs, c)
		}
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "killswitch %s - %s\n\nUsage:\n  killswitch %s\n\n%s\nFlags:\n", cmd.name, cmd.summary, cmd.usage, cmdHelp[cmd.name])
			fs.PrintDefaults()
			fmt.Fprint(fs.Output(), "\nExit codes: 0 clean, 1 failed, 2 bad usage"+map[bool]string{true: ", 3 something found"}[cmd.name == "scan"]+".\n")
		}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(e.Stdout)
				fs.Usage()
				return ExitOK
			}
			return ExitUsage
		}
		if !c.org {
			// The org flags mean nothing for one account: saying so beats
			// a scan of one account that the operator took for the org's.
			stray := ""
			fs.Visit(func(f *flag.Flag) {
				if f.Name == "role" || f.Name == "account-concurrency" {
					stray = f.Name
				}
			})
			if stray != "" {
				fmt.Fprintf(e.Stderr, "killswitch %s: --%s is for --org only\n", cmd.name, stray)
				return ExitUsage
			}
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(e.Stderr, "killswitch %s: unexpected argument %q (see --help)\n", cmd.name, fs.Arg(0))
			return ExitUsage
		}
		return cmd.run(ctx, e, c, fs.Args())
	}
	fmt.Fprintf(e.Stderr, "killswitch: unknown command %q\n\n%s", args[0], usageOverview())
	return ExitUsage
}

func usageOverview() string {
	var b strings.Builder
	for _, cmd := range commands {
		fmt.Fprintf(&b, "  %-8s  %s\n", cmd.name, cmd.summary)
	}
	return fmt.Sprintf(overview, b.String())
}

// cmdHelp is each command's longer description, for --help.
var cmdHelp = map[string]string{
	"scan": `A read-only census of every enabled region: what each kind of resource the
switch contains would find there (instances, Auto Scaling groups, Spot
requests, fleets, ECS services, node groups, notebooks...), and what the
switch would do to it, plus the latch and the quarantine. One progress line
per region goes to stderr as it finishes; a table per region and kind goes
to stdout at the end. It changes nothing.
`,
	"trip": `Without --apply, a dry run: prints the plan, exactly what the function would
contain and leave alone, and changes nothing. With --apply, contains the
account for real, through the same handler as the function: the same policy,
the same restore manifest, the latch set, the owner notified.
--from-stack reads the deployed function's own settings (its environment),
so the plan is the function's plan.
`,
	"restore": `Puts back what a trip changed, from its restore manifest: starts the
instances it stopped, restores Auto Scaling group sizes and resumes the
processes it suspended, restores ECS desired counts, node group sizes and
Lambda concurrency, re-enables Batch environments and detaches the
quarantine policy. Anything terminated or deleted, and anything changed since
the trip, is left alone and listed item by item.
Without --apply, a dry run that says what it would do. --apply refuses while
the switch is tripped (its re-sweep would contain everything again) unless
--disarm is given, which disarms it first (with a disarm proof, as
'killswitch disarm' does).
Run it with credentials the quarantine does not bind (the root user or a
break-glass principal): the quarantine denies the calls a restore makes.
`,
	"status": `Whether the switch is armed or tripped, since when and why; the re-sweeps
and relaunches caught; the last trip and its restore manifest; whether the
quarantine policy is attached, and to how many principals; and when the last
census (with what it counted), re-sweep and self-test ran.
`,
	"disarm": `Clears the latch, exactly as the manual invoke does: the scheduled re-sweeps
stop containing. Disarming undoes nothing; see 'killswitch restore'.
A disarm must prove itself: the CLI makes the proof, a MAC from the stack's
KMS disarm key over the account and the trip, with your credentials. The
key's policy lets only a break-glass principal or the root user make one, so
run it as one of them, in the stack's region (--region). The function
refuses, and reports to the owner, any disarm without a valid proof.
`,
}

// discard is the logger for the app: the CLI speaks on stdout and stderr.
var discard = slog.New(slog.DiscardHandler)
