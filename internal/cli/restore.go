package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/disarmproof"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/manifest"
	"github.com/killswitch/killswitch/internal/resources"
	"github.com/killswitch/killswitch/internal/settings"
)

var restoreCommand = command{
	name: "restore", summary: "put back what a trip changed, from its manifest (dry run; --apply)",
	usage: "restore [--trip ID | --latest] [--apply] [--disarm [--disarm-key ARN]] [--reason TEXT] [--account ID [--role NAME]] [--json]",
	flags: func(fs *flag.FlagSet, c *common) {
		fs.StringVar(&c.account, "account", "", "restore this member `ID` of the AWS Organization, from the management account: detach the org quarantine SCP from it, then restore in it through --role")
		fs.StringVar(&c.role, "role", DefaultOrgRole, "with --account: the IAM role `name` to assume in the member account")
		fs.StringVar(&c.trip, "trip", "", "the trip `ID` to restore, e.g. trip-20261129T100000Z (see `killswitch status`)")
		fs.BoolVar(&c.latest, "latest", false, "restore the most recent trip (the default when --trip is not given)")
		fs.BoolVar(&c.apply, "apply", false, "make the changes (default: a dry run that says what it would do)")
		fs.BoolVar(&c.disarm, "disarm", false, "disarm a tripped switch first (as a break-glass principal or the root user); without it --apply refuses while the switch is tripped")
		fs.StringVar(&c.reason, "reason", "", "why, for the disarm notice")
		disarmKeyFlag(fs, c)
	},
	run: runRestore,
}

var disarmCommand = command{
	name: "disarm", summary: "clear the latch with a disarm proof (as a break-glass principal or the root user)",
	usage: "disarm [--reason TEXT] [--disarm-key ARN] [--json]",
	flags: func(fs *flag.FlagSet, c *common) {
		fs.StringVar(&c.reason, "reason", "", "why, for the latch and the owner's notice")
		disarmKeyFlag(fs, c)
	},
	run: runDisarm,
}

// restoreJSON is restore's --json document.
type restoreJSON struct {
	// OrgQuarantine is what --account did with the org quarantine SCP.
	OrgQuarantine *scpStep                `json:"orgQuarantine,omitempty"`
	Disarmed      bool                    `json:"disarmed"`
	Report        *manifest.RestoreReport `json:"report"`
}

func runRestore(ctx context.Context, e Env, c *common, _ []string) int {
	if c.trip != "" && c.latest {
		fmt.Fprintln(e.Stderr, "killswitch restore: give --trip ID or --latest, not both")
		return ExitUsage
	}
	if c.account != "" {
		return runRestoreMember(ctx, e, c)
	}
	r, err := resolve(ctx, e, c)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch restore: %v\n", err)
		return ExitFailed
	}
	return restoreIn(ctx, e, c, r, nil)
}

// restoreIn restores the trip in the account r reaches; scp is what was
// done with the org quarantine SCP first, if anything.
func restoreIn(ctx context.Context, e Env, c *common, r *resolved, scp *scpStep) int {
	var err error
	a := r.build()
	if a.Manifests == nil {
		fmt.Fprintln(e.Stderr, "killswitch restore: no manifest bucket: pass --bucket, or deploy the stack (output ManifestBucketName), or set "+settings.EnvManifestBucket)
		return ExitFailed
	}
	tripID := c.trip
	if tripID == "" {
		if tripID, err = a.Manifests.Latest(ctx); err != nil {
			fmt.Fprintf(e.Stderr, "killswitch restore: %v\n", err)
			return ExitFailed
		}
	}
	trip, err := a.Manifests.Load(ctx, tripID)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch restore: %v\n", err)
		return ExitFailed
	}

	// The switch must be disarmed first: its next re-sweep would contain
	// again everything the restore starts.
	disarmed := false
	if a.Latch == nil {
		fmt.Fprintln(e.Stderr, "killswitch restore: no latch configured, so whether the switch is tripped is unknown: make sure it is disarmed, or its re-sweep undoes the restore")
	} else {
		st, err := a.Latch.Load(ctx)
		switch {
		case err != nil:
			fmt.Fprintf(e.Stderr, "killswitch restore: %v\n", err)
			return ExitFailed
		case st.Tripped && c.apply && !c.disarm:
			fmt.Fprintf(e.Stderr, "killswitch restore: REFUSED: the switch is TRIPPED (since %s); its next re-sweep would contain again whatever the restore starts. "+
				"Add --disarm to disarm it first, or run `killswitch disarm` (either as a break-glass principal or the root user).\n", stamp(st.Since))
			return ExitFailed
		case st.Tripped && c.apply:
			if _, err := Disarm(ctx, a, kms.NewFromConfig(r.cfg), reasonOr(c.reason, "killswitch restore --disarm from the CLI")); err != nil {
				fmt.Fprintf(e.Stderr, "killswitch restore: disarming first: %v\n", err)
				return ExitFailed
			}
			disarmed = true
		case st.Tripped:
			fmt.Fprintf(e.Stderr, "killswitch restore: the switch is TRIPPED (since %s): --apply will refuse unless --disarm is given\n", stamp(st.Since))
		}
	}

	// The kinds to restore with are the function's, widened to every kind
	// the trip recorded: a CLI without the quarantine policy ARN or with
	// databases off must still find those kinds by name.
	ra := r.buildFor(trip)
	rep := manifest.Restore(ctx, trip, ra.Kinds, !c.apply)
	if c.json {
		return jsonExit(e, "restore", restoreJSON{OrgQuarantine: scp, Disarmed: disarmed, Report: rep}, rep.Err())
	}
	if scp != nil {
		fmt.Fprintf(e.Stdout, "Org quarantine: %s\n", scp.Line)
	}
	writeRestore(e.Stdout, rep, disarmed)
	if err := rep.Err(); err != nil {
		fmt.Fprintf(e.Stderr, "killswitch restore: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

// buildFor builds the app with every kind a trip's manifest names.
func (r *resolved) buildFor(trip *manifest.Trip) *app.App {
	s := r.settings
	s.StopDatabases = true
	for _, kinds := range trip.Items() {
		for _, items := range kinds[(&resources.Quarantine{}).Name()] {
			var p resources.QuarantinePrior
			if json.Unmarshal(items.Prior, &p) == nil && p.PolicyARN != "" && s.QuarantinePolicyARN == "" {
				s.QuarantinePolicyARN = p.PolicyARN
			}
		}
	}
	if s.QuarantinePolicyARN != "" {
		s.Quarantine = settings.QuarantineDenyLaunch
	}
	rr := *r
	rr.settings = s
	return rr.build()
}

func writeRestore(w io.Writer, rep *manifest.RestoreReport, disarmed bool) {
	if rep.DryRun {
		fmt.Fprintf(w, "killswitch restore: DRY RUN - nothing was changed. Trip %s, manifest %s\n\n", rep.Trip, rep.Manifest)
	} else {
		fmt.Fprintf(w, "killswitch restore: trip %s, manifest %s\n", rep.Trip, rep.Manifest)
		if disarmed {
			fmt.Fprintln(w, "The switch was disarmed first.")
		}
		fmt.Fprintln(w)
	}
	region := ""
	for _, k := range rep.Kinds {
		if k.Region != region {
			if region != "" {
				fmt.Fprintln(w)
			}
			region = k.Region
			fmt.Fprintln(w, region)
		}
		fmt.Fprintf(w, "  %s\n", k.Kind)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "    ID\tRESULT\tDETAIL")
		for _, res := range k.Results {
			detail := res.Action
			if res.Detail != "" {
				if detail != "" {
					detail += ": "
				}
				detail += res.Detail
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", res.ID, res.Status, detail)
		}
		tw.Flush()
	}
	if region != "" {
		fmt.Fprintln(w)
	}
	t := rep.Totals
	done, verb := t[engine.RestoreDone], "restored"
	if rep.DryRun {
		done, verb = t[engine.RestorePlanned], "would restore"
	}
	fmt.Fprintf(w, "%s %d, already as before %d, left alone %d, failed %d.\n", capitalise(verb), done, t[engine.RestoreAlready], t[engine.RestoreLeft], t[engine.RestoreFailed])
	switch {
	case rep.Pending() == 0 && t[engine.RestoreFailed] == 0:
		fmt.Fprintln(w, "Nothing to restore: everything the trip changed is already as before, or cannot come back (listed above).")
	case rep.DryRun:
		fmt.Fprintln(w, "Run with --apply to restore (and --disarm if the switch is tripped).")
	}
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func runDisarm(ctx context.Context, e Env, c *common, _ []string) int {
	r, err := resolve(ctx, e, c)
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch disarm: %v\n", err)
		return ExitFailed
	}
	a := r.build()
	was, err := Disarm(ctx, a, kms.NewFromConfig(r.cfg), reasonOr(c.reason, "killswitch disarm from the CLI"))
	if c.json {
		return jsonExit(e, "disarm", map[string]any{"wasTripped": was}, err)
	}
	if err != nil {
		fmt.Fprintf(e.Stderr, "killswitch disarm: %v\n", err)
		return ExitFailed
	}
	if was {
		fmt.Fprintln(e.Stdout, "killswitch disarm: DISARMED. The schedule no longer re-sweeps. Disarming undoes nothing: `killswitch restore --latest` shows what a restore would put back.")
	} else {
		fmt.Fprintln(e.Stdout, "killswitch disarm: the switch was not tripped; nothing changed.")
	}
	return ExitOK
}

// Disarm clears the latch through the handler, exactly as the manual
// invoke does (and tells the owner), and says whether it was tripped. The
// proof is made with the operator's credentials: the disarm key's policy
// lets only break-glass principals and the root user make one, so anyone
// else's disarm fails here, at GenerateMac, before the handler sees it.
func Disarm(ctx context.Context, a *app.App, gen disarmproof.Generator, reason string) (bool, error) {
	if a.Latch == nil {
		return false, fmt.Errorf("no latch configured (--latch-parameter, the stack output LatchParameterName, or %s)", settings.EnvLatchParameter)
	}
	was, err := a.Latch.Load(ctx)
	if err != nil {
		return false, err
	}
	ev := disarmEvent{Killswitch: "disarm", Reason: reason}
	if was.Tripped {
		key := a.Settings.DisarmKeyARN
		if key == "" {
			return true, fmt.Errorf("no disarm key: pass --disarm-key ARN, deploy the stack (output %s), or set %s", disarmKeyOutput, settings.EnvDisarmKeyARN)
		}
		p, err := disarmproof.Make(ctx, gen, key, was.Since, time.Now())
		if err != nil {
			return true, err
		}
		ev.Proof = &disarmEventProof{Trip: disarmproof.Stamp(p.Trip), IssuedAt: disarmproof.Stamp(p.IssuedAt), MAC: disarmproof.EncodeMAC(p.MAC)}
	}
	event, err := json.Marshal(ev)
	if err != nil {
		return was.Tripped, err
	}
	res, err := a.Handler.Handle(ctx, event)
	if err == nil && res != nil && res.DisarmRefused != "" {
		err = fmt.Errorf("REFUSED: the switch stays tripped: %s", res.DisarmRefused)
	}
	return was.Tripped, err
}

// disarmEvent is the disarm invoke as internal/trigger reads it.
type disarmEvent struct {
	Killswitch string            `json:"killswitch"`
	Reason     string            `json:"reason,omitempty"`
	Proof      *disarmEventProof `json:"proof,omitempty"`
}

type disarmEventProof struct {
	Trip     string `json:"trip"`
	IssuedAt string `json:"issuedAt"`
	MAC      string `json:"mac"`
}

// disarmKeyOutput is the stack output naming the disarm key.
const disarmKeyOutput = "DisarmKeyArn"

func disarmKeyFlag(fs *flag.FlagSet, c *common) {
	fs.StringVar(&c.disarmKey, "disarm-key", "", "the disarm key's `ARN` (default: the stack output "+disarmKeyOutput+", else "+settings.EnvDisarmKeyARN+")")
}

func reasonOr(r, def string) string {
	if r != "" {
		return r
	}
	return def
}
