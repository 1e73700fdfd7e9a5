package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
)

// DefaultOrgRole is the role Organizations creates in every account it
// creates, and the one an operator of the management account can assume.
const DefaultOrgRole = "OrganizationAccountAccessRole"

// orgFlags are the flags of the commands that can run over an
// organization.
func orgFlags(fs *flag.FlagSet, c *common) {
	fs.BoolVar(&c.org, "org", false, "run in every ACTIVE account of the AWS Organization (call it from the management account), one table per account and a total")
	fs.StringVar(&c.role, "role", DefaultOrgRole, "with --org: the IAM role `name` to assume in each member account")
	fs.IntVar(&c.accountConcurrency, "account-concurrency", 4, "with --org: how many `accounts` to run at once (each also runs its regions concurrently)")
}

// orgAccount is one account of the organization.
type orgAccount struct {
	ID   string `json:"account"`
	Name string `json:"name,omitempty"`
	// Management is the caller's own account, run with the caller's own
	// credentials: there is no role to assume into one's own account.
	Management bool `json:"management,omitempty"`
}

func (a orgAccount) label() string {
	if a.Name == "" {
		return a.ID
	}
	return a.ID + " (" + a.Name + ")"
}

// orgRun is an organization-wide run: the one aws.Config the command
// started from, and what each account is entered with.
type orgRun struct {
	// base reaches the caller's own (management) account; every member's
	// config is a copy of it with assumed-role credentials.
	base        aws.Config
	partition   string
	role        string
	accounts    []orgAccount
	assume      stscreds.AssumeRoleAPIClient
	concurrency int

	// The StackSet's instances, read once from the management account for
	// status --org.
	instancesOnce sync.Once
	instances     map[string][]string
	instancesErr  error
}

// accountFunc does one command in one account, writing its tables to w.
type accountFunc func(ctx context.Context, run *orgRun, acct orgAccount, r *resolved, w io.Writer, opts ...app.Option) outcome

type listAccountsAPI interface {
	organizations.ListAccountsAPIClient
}

type callerAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// orgAccounts lists the organization's ACTIVE accounts, the caller's own
// marked as the management account, and the caller's partition (for the
// role ARNs). A suspended or closing account has nothing to contain and
// cannot be entered.
func orgAccounts(ctx context.Context, org listAccountsAPI, caller callerAPI) ([]orgAccount, string, error) {
	id, err := caller.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, "", fmt.Errorf("who is calling (sts GetCallerIdentity): %w", err)
	}
	self := aws.ToString(id.Account)
	partition := "aws"
	if a, err := arn.Parse(aws.ToString(id.Arn)); err == nil {
		partition = a.Partition
	}
	var accounts []orgAccount
	seenSelf := false
	pages := organizations.NewListAccountsPaginator(org, &organizations.ListAccountsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("listing the organization's accounts (organizations ListAccounts; call from the management account or a delegated administrator): %w", err)
		}
		for _, a := range page.Accounts {
			// State replaces the deprecated Status; an emulator or an older
			// API may set only one of them.
			if a.State != orgtypes.AccountStateActive && (a.State != "" || a.Status != orgtypes.AccountStatusActive) {
				continue
			}
			acct := orgAccount{ID: aws.ToString(a.Id), Name: aws.ToString(a.Name), Management: aws.ToString(a.Id) == self}
			seenSelf = seenSelf || acct.Management
			accounts = append(accounts, acct)
		}
	}
	if !seenSelf {
		// A delegated administrator is a member, not the management
		// account, but it is still the caller's own account: it is run
		// with the caller's credentials all the same.
		accounts = append(accounts, orgAccount{ID: self, Management: true})
	}
	sort.Slice(accounts, func(i, j int) bool {
		if accounts[i].Management != accounts[j].Management {
			return accounts[i].Management
		}
		return accounts[i].ID < accounts[j].ID
	})
	return accounts, partition, nil
}

// runOrg runs work in every account of the organization.
func runOrg(ctx context.Context, e Env, c *common, cmd string, work accountFunc) int {
	if c.accountConcurrency < 1 {
		fmt.Fprintf(e.Stderr, "killswitch %s: --account-concurrency must be at least 1\n", cmd)
		return ExitUsage
	}
	if c.role == "" {
		fmt.Fprintf(e.Stderr, "killswitch %s: --role must name the role to assume in each member account\n", cmd)
		return ExitUsage
	}
	base, err := loadConfig(ctx, c)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch %s: %v\n", cmd, err)
		return ExitFailed
	}
	stsAPI := sts.NewFromConfig(base)
	accounts, partition, err := orgAccounts(ctx, organizations.NewFromConfig(base), stsAPI)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch %s --org: %v\n", cmd, err)
		return ExitFailed
	}
	run := &orgRun{base: base, partition: partition, role: c.role, accounts: accounts, assume: stsAPI, concurrency: c.accountConcurrency}
	return runAccounts(ctx, e, c, cmd, run, func(ctx context.Context, run *orgRun, acct orgAccount, cfg aws.Config, w io.Writer, opts ...app.Option) outcome {
		// The management account runs the single-account stack (--stack);
		// a member runs its StackSet instance.
		r, err := resolveIn(ctx, e, c, cfg, !acct.Management)
		if err != nil {
			return outcome{code: ExitFailed, summary: "FAILED: " + err.Error(), err: err}
		}
		if !c.json {
			for _, n := range r.notes {
				fmt.Fprintf(w, "  note: %s\n", n)
			}
		}
		return work(ctx, run, acct, r, w, opts...)
	})
}

// enteredFunc is one command in one account already entered: cfg reaches
// that account.
type enteredFunc func(ctx context.Context, run *orgRun, acct orgAccount, cfg aws.Config, w io.Writer, opts ...app.Option) outcome

// accountJSON is one account in --org --json.
type accountJSON struct {
	orgAccount
	Exit   int    `json:"exit"`
	Error  string `json:"error,omitempty"`
	Result any    `json:"result,omitempty"`
}

// runAccounts enters each account and runs each in it, at most
// run.concurrency at a time. An account that cannot be entered or fails is
// reported with its reason and the others go on: one member's broken role
// must not hide what runs in the rest. Each account's output is buffered
// and printed in account order, so the tables do not interleave.
func runAccounts(ctx context.Context, e Env, c *common, cmd string, run *orgRun, each enteredFunc) int {
	stderr := &lockedWriter{w: e.Stderr}
	fmt.Fprintf(stderr, "killswitch %s --org: %d account(s), %d at a time\n", cmd, len(run.accounts), run.concurrency)
	outs := make([]outcome, len(run.accounts))
	bufs := make([]bytes.Buffer, len(run.accounts))
	sem := make(chan struct{}, run.concurrency)
	var wg sync.WaitGroup
	for i, acct := range run.accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			o := func() outcome {
				cfg, err := run.enter(ctx, acct)
				if err != nil {
					return outcome{code: ExitFailed, summary: "FAILED: " + err.Error(), err: err}
				}
				return each(ctx, run, acct, cfg, &bufs[i], progress(stderr, acct.ID+" "))
			}()
			switch {
			case o.err == nil || strings.HasPrefix(o.summary, "FAILED"):
			case o.summary == "":
				o.summary = "FAILED: " + o.err.Error()
			default:
				o.summary += "; FAILED: " + o.err.Error()
			}
			outs[i] = o
			fmt.Fprintf(stderr, "  account %s: %s\n", acct.label(), o.summary)
		}()
	}
	wg.Wait()

	code := ExitOK
	var failed []string
	var total engine.Totals
	docs := make([]accountJSON, len(run.accounts))
	for i, acct := range run.accounts {
		o := outs[i]
		switch {
		case o.code == ExitFailed || (o.code != ExitOK && o.code != ExitFound):
			code = ExitFailed
			failed = append(failed, acct.ID)
		case o.code == ExitFound && code == ExitOK:
			code = ExitFound
		}
		if o.rep != nil {
			total.Changed += o.rep.Totals.Changed
			total.Refused += o.rep.Totals.Refused
			total.Failed += o.rep.Totals.Failed
		}
		docs[i] = accountJSON{orgAccount: acct, Exit: o.code, Result: o.doc}
		if o.err != nil {
			docs[i].Error = o.err.Error()
		}
	}
	if c.json {
		if err := writeJSON(e.Stdout, map[string]any{"accounts": docs, "exit": code}); err != nil {
			fmt.Fprintf(e.Stderr, "killswitch %s: %v\n", cmd, err)
			return ExitFailed
		}
	} else {
		for i, acct := range run.accounts {
			kind := "member"
			if acct.Management {
				kind = "management account, own credentials"
			}
			fmt.Fprintf(e.Stdout, "=== Account %s [%s]\n", acct.label(), kind)
			if outs[i].err != nil {
				fmt.Fprintf(e.Stdout, "  FAILED: %v\n", outs[i].err)
			}
			_, _ = e.Stdout.Write(bufs[i].Bytes())
			fmt.Fprintln(e.Stdout)
		}
		fmt.Fprintf(e.Stdout, "Organization: %d account(s), %d failed", len(run.accounts), len(failed))
		if len(failed) > 0 {
			fmt.Fprintf(e.Stdout, " (%s)", strings.Join(failed, ", "))
		}
		switch cmd {
		case "scan":
			fmt.Fprintf(e.Stdout, "; found %d resource(s) the switch would contain, %d left alone.\n", total.Changed, total.Refused)
		case "trip":
			verb := "would contain"
			if c.apply {
				verb = "contained"
			}
			fmt.Fprintf(e.Stdout, "; %s %d resource(s), left %d alone, %d failed.\n", verb, total.Changed, total.Refused, total.Failed)
		default:
			fmt.Fprintln(e.Stdout, ".")
		}
	}
	for i, acct := range run.accounts {
		if outs[i].err != nil {
			fmt.Fprintf(e.Stderr, "killswitch %s: account %s: %v\n", cmd, acct.label(), outs[i].err)
		}
	}
	return code
}

// enter returns the aws.Config that reaches acct: the caller's own for the
// management account, else a copy with the role's credentials. The role is
// assumed here, once, so an account that cannot be entered is reported as
// such rather than as every region failing.
func (run *orgRun) enter(ctx context.Context, acct orgAccount) (aws.Config, error) {
	if acct.Management {
		return run.base, nil
	}
	roleARN := fmt.Sprintf("arn:%s:iam::%s:role/%s", run.partition, acct.ID, run.role)
	cfg := run.base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(run.assume, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "killswitch-cli"
	}))
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, fmt.Errorf("cannot assume %s: %w", roleARN, err)
	}
	return cfg, nil
}

// lockedWriter serialises the progress lines of accounts that finish at
// once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// memberStackPrefix starts the name StackSets gives each member's stack:
// StackSet-<set name>-<uuid>, the uuid unknown to the member.
const memberStackPrefix = "StackSet-" + guard.StackSetName + "-"

var errNoMemberStack = errors.New("no StackSet instance stack " + memberStackPrefix + "*")

type listStacksAPI interface {
	cloudformation.ListStacksAPIClient
}

// findMemberStack finds the account's StackSet instance stack by its name
// prefix, skipping deleted ones.
func findMemberStack(ctx context.Context, api listStacksAPI) (cftypes.StackSummary, error) {
	pages := cloudformation.NewListStacksPaginator(api, &cloudformation.ListStacksInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return cftypes.StackSummary{}, err
		}
		for _, s := range page.StackSummaries {
			if strings.HasPrefix(aws.ToString(s.StackName), memberStackPrefix) && s.StackStatus != cftypes.StackStatusDeleteComplete {
				return s, nil
			}
		}
	}
	return cftypes.StackSummary{}, errNoMemberStack
}

// stackSetInstances reads, from the management account, each member's
// StackSet instance status (CURRENT, OUTDATED or INOPERABLE) per region:
// only the StackSet knows whether an instance runs its latest template.
func (run *orgRun) stackSetInstances(ctx context.Context) (map[string][]string, error) {
	run.instancesOnce.Do(func() {
		run.instances = map[string][]string{}
		pages := cloudformation.NewListStackInstancesPaginator(cloudformation.NewFromConfig(run.base),
			&cloudformation.ListStackInstancesInput{StackSetName: aws.String(guard.StackSetName)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				run.instancesErr = err
				return
			}
			for _, s := range page.Summaries {
				st := string(s.Status)
				if s.StackInstanceStatus != nil && s.StackInstanceStatus.DetailedStatus != "" {
					st += "/" + string(s.StackInstanceStatus.DetailedStatus)
				}
				acct := aws.ToString(s.Account)
				run.instances[acct] = append(run.instances[acct], aws.ToString(s.Region)+" "+st)
			}
		}
	})
	return run.instances, run.instancesErr
}

// orgStatusJSON is one account's status --org --json document.
type orgStatusJSON struct {
	Deployment string       `json:"deployment"`
	Current    string       `json:"current"`
	Status     statusReport `json:"status"`
}

// orgStatusAccount is status in one account: whether the switch is
// deployed there and current, and armed or tripped.
func orgStatusAccount(ctx context.Context, run *orgRun, acct orgAccount, r *resolved, c *common, w io.Writer) outcome {
	cf := cloudformation.NewFromConfig(r.cfg)
	var deployment, current string
	if acct.Management {
		deployment = stackState(ctx, cf, c.stack)
		current = "n/a: the management account is not bound by the StackSet; it runs its own single-account stack"
	} else {
		switch s, err := findMemberStack(ctx, cf); {
		case errors.Is(err, errNoMemberStack):
			deployment = fmt.Sprintf("NOT DEPLOYED: %v in %s", err, r.cfg.Region)
		case err != nil:
			deployment = fmt.Sprintf("unknown: listing stacks in %s: %v", r.cfg.Region, err)
		default:
			deployment = fmt.Sprintf("%s: %s", aws.ToString(s.StackName), s.StackStatus)
		}
		switch inst, err := run.stackSetInstances(ctx); {
		case err != nil:
			current = fmt.Sprintf("unknown: StackSet %s could not be read in the management account: %v", guard.StackSetName, err)
		case len(inst[acct.ID]) == 0:
			current = fmt.Sprintf("unknown: StackSet %s lists no instance in this account", guard.StackSetName)
		default:
			current = strings.Join(inst[acct.ID], ", ")
		}
	}
	st := readStatus(ctx, r, r.build())
	o := outcome{code: ExitOK, doc: orgStatusJSON{Deployment: deployment, Current: current, Status: st}}
	switch {
	case st.Latch == nil:
		o.summary = "switch UNKNOWN"
	case st.Latch.Tripped:
		o.summary = "TRIPPED"
	default:
		o.summary = "armed"
	}
	o.summary += "; stack " + deployment
	if st.failed() {
		o.code = ExitFailed
		var parts []string
		for _, e := range []string{st.LatchError, st.ManifestError, st.CensusError, st.QuarantineError} {
			if e != "" {
				parts = append(parts, e)
			}
		}
		o.err = errors.New(strings.Join(parts, "; "))
	}
	if !c.json {
		fmt.Fprintf(w, "  %-12s %s\n", "Stack:", deployment)
		fmt.Fprintf(w, "  %-12s %s\n", "StackSet:", current)
		writeStatusLines(w, st)
	}
	return o
}

// stackState is the status of the named stack, said honestly when it
// cannot be read.
func stackState(ctx context.Context, api describeStacksAPI, name string) string {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	switch {
	case err != nil && strings.Contains(err.Error(), "does not exist"):
		return "NOT DEPLOYED: no stack " + name
	case err != nil:
		return fmt.Sprintf("unknown: %v", err)
	case len(out.Stacks) == 0:
		return "NOT DEPLOYED: no stack " + name
	}
	return fmt.Sprintf("%s: %s", name, out.Stacks[0].StackStatus)
}
