package notify

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/killswitch/killswitch/internal/engine"
)

// Message is one notification: SNS allows a subject of up to 100 printable
// ASCII characters and a body of up to 256 KB.
type Message struct {
	Subject string
	Body    string
}

const (
	maxSubject = 100
	// Well under SNS's 256 KB, leaving room for the email wrapper.
	maxBody = 200 * 1024
	// How many IDs or failures one list shows before it summarises.
	maxListed = 20
	// How many regions the table shows before it summarises.
	maxRegionRows = 40
)

// Context is what the message says about the trip itself.
type Context struct {
	Account  string   // AWS account ID, if known
	Triggers []string // one human line per trigger record
}

// ForReport writes the message for a sweep.
func ForReport(c Context, r *engine.Report) Message {
	t := r.Totals
	contained := t.Stopped + t.Terminated
	var subject string
	switch {
	case r.DryRun:
		subject = fmt.Sprintf("killswitch DRY RUN: would contain %d instance(s) in %d region(s)", t.WouldStop+t.WouldTerminate, regionsWithWork(r))
	case r.Err() != nil:
		subject = fmt.Sprintf("killswitch: ACTION NEEDED - contained %d, %d failed, %d region(s) not swept", contained, t.Failed, len(r.FailedRegions()))
	case contained == 0:
		subject = "killswitch tripped: nothing new was running"
	default:
		subject = fmt.Sprintf("killswitch: contained %d instance(s) in %d region(s)", contained, regionsWithWork(r))
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	switch {
	case r.DryRun:
		w("KILLSWITCH DRY RUN - nothing was changed.")
	case r.Err() != nil:
		w("KILLSWITCH TRIPPED - containment is INCOMPLETE. Read \"What failed\" below.")
	default:
		w("KILLSWITCH TRIPPED - your AWS account was contained.")
	}
	if c.Account != "" {
		w("Account: %s", c.Account)
	}
	w("Time: %s (UTC), took %s", r.StartedAt.Format("2006-01-02 15:04:05"), r.FinishedAt.Sub(r.StartedAt).Round(100_000_000))
	w("")
	w("WHAT TRIPPED IT")
	for _, line := range c.Triggers {
		w("  %s", line)
	}
	w("")

	w("WHAT WAS DONE (action: %s, in %d enabled region(s))", r.Action, t.Regions)
	if r.DryRun {
		w("  Would stop:      %d instance(s)", t.WouldStop)
		w("  Would terminate: %d instance(s)", t.WouldTerminate)
	} else {
		w("  Stopped:    %d instance(s) - their disks (EBS) are kept", t.Stopped)
		w("  Terminated: %d instance(s)", t.Terminated)
	}
	if t.Found == t.Refused && t.Failed == 0 && len(r.FailedRegions()) == 0 {
		w("  No running instances were found apart from any left alone on purpose: nothing new to contain.")
	}
	if t.ProtectionForced > 0 {
		w("  Stop or termination protection was ON for %d instance(s) and was turned off to contain them.", t.ProtectionForced)
	}
	if t.Gone > 0 {
		w("  Already gone or going down: %d instance(s).", t.Gone)
	}
	writeRefused(w, r)
	w("")

	writeRegionTable(w, r)
	writeFailures(w, r)

	w("WHAT TO DO NEXT")
	w("  1. Sign in as the root user, change its password, and turn on MFA for root and every IAM user.")
	w("  2. In IAM, delete users, access keys and roles you do not recognise; an attacker leaves them behind.")
	w("  3. Check every region listed above for Auto Scaling groups, Spot requests, ECS, SageMaker and Lightsail:")
	w("     this version of killswitch contains EC2 instances only.")
	w("  4. Contact AWS Support (Billing) about the charges: report unauthorised use and ask for a review.")
	if !r.DryRun {
		w("  5. Stopped instances keep their disks. Start the ones you need again from the EC2 console.")
	}
	w("")
	w("The full machine-readable report is in the killswitch Lambda's logs.")

	return Message{Subject: cleanSubject(subject), Body: capBody(b.String())}
}

// ForNoAction writes the message for a trigger that did not trip, such as a
// FORECASTED budget alert or an unrecognised message.
func ForNoAction(c Context, headline string) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "killswitch received a message and took NO action.\n")
	if c.Account != "" {
		fmt.Fprintf(&b, "Account: %s\n", c.Account)
	}
	fmt.Fprintf(&b, "\nWHAT ARRIVED\n")
	for _, line := range c.Triggers {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	fmt.Fprintf(&b, "\nNothing was stopped or terminated. If spend is rising unexpectedly, check the EC2 console in every region.\n")
	return Message{Subject: cleanSubject("killswitch: " + headline), Body: capBody(b.String())}
}

func regionsWithWork(r *engine.Report) int {
	n := 0
	for _, rr := range r.Regions {
		for _, kr := range rr.Kinds {
			if len(kr.Stopped)+len(kr.Terminated)+len(kr.WouldStop)+len(kr.WouldTerminate) > 0 {
				n++
				break
			}
		}
	}
	return n
}

func writeRefused(w func(string, ...any), r *engine.Report) {
	var lines []string
	for _, rr := range r.Regions {
		for _, kr := range rr.Kinds {
			for _, ref := range kr.Refused {
				lines = append(lines, fmt.Sprintf("%s (%s): %s", ref.ID, rr.Region, ref.Reason))
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	w("  Left alone on purpose: %d", len(lines))
	writeCapped(w, lines)
}

func writeRegionTable(w func(string, ...any), r *engine.Report) {
	type row struct {
		region                                   string
		found, stopped, terminated, failed, left int
		problem                                  string
	}
	var rows []row
	quiet := 0
	for _, rr := range r.Regions {
		x := row{region: rr.Region, problem: rr.Error}
		for _, kr := range rr.Kinds {
			x.found += kr.Found
			x.stopped += len(kr.Stopped) + len(kr.WouldStop)
			x.terminated += len(kr.Terminated) + len(kr.WouldTerminate)
			x.failed += len(kr.Failed)
			x.left += len(kr.Refused)
			if kr.Error != "" && x.problem == "" {
				x.problem = "could not list " + kr.Kind
			}
		}
		if x.found == 0 && x.problem == "" {
			quiet++
			continue
		}
		rows = append(rows, x)
	}
	// Most affected first, so a phone screen shows what matters.
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].found > rows[j].found })
	w("BY REGION")
	stopWord, termWord := "stopped", "terminated"
	if r.DryRun {
		stopWord, termWord = "w/stop", "w/term"
	}
	w("  %-16s %6s %8s %10s %6s %5s", "region", "found", stopWord, termWord, "failed", "left")
	for i, x := range rows {
		if i == maxRegionRows {
			w("  ... and %d more region(s) with instances (see the logs)", len(rows)-maxRegionRows)
			break
		}
		line := fmt.Sprintf("  %-16s %6d %8d %10d %6d %5d", x.region, x.found, x.stopped, x.terminated, x.failed, x.left)
		if x.problem != "" {
			line += "  NOT SWEPT"
		}
		w("%s", line)
	}
	if quiet > 0 {
		w("  %d other region(s): nothing running.", quiet)
	}
	w("")
}

func writeFailures(w func(string, ...any), r *engine.Report) {
	var lines []string
	if r.RegionDiscoveryError != "" {
		lines = append(lines, "Listing the enabled regions failed, so a built-in list was swept instead: "+r.RegionDiscoveryError)
	}
	for _, rr := range r.Regions {
		if rr.Error != "" {
			lines = append(lines, fmt.Sprintf("%s: %s", rr.Region, rr.Error))
		}
		for _, kr := range rr.Kinds {
			if kr.Error != "" {
				lines = append(lines, fmt.Sprintf("%s: %s NOT SWEPT: %s", rr.Region, kr.Kind, kr.Error))
			}
		}
	}
	for _, rr := range r.Regions {
		for _, kr := range rr.Kinds {
			for _, f := range kr.Failed {
				lines = append(lines, fmt.Sprintf("%s (%s) %s failed: %s", f.ID, rr.Region, f.Action, f.Message))
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	w("WHAT FAILED - these may still be running and costing money")
	writeCapped(w, lines)
	w("  killswitch returns an error so that Lambda retries it; you can also fix these by hand in the EC2 console.")
	w("")
}

func writeCapped(w func(string, ...any), lines []string) {
	for i, l := range lines {
		if i == maxListed {
			w("    ... and %d more (see the logs)", len(lines)-maxListed)
			return
		}
		w("    - %s", truncate(l, 300))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cutAtRune(s, n-3) + "..."
}

// cutAtRune cuts s to at most n bytes without splitting a character.
func cutAtRune(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanSubject keeps SNS's subject rules: printable ASCII, no line breaks,
// at most 100 characters.
func cleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), maxSubject)
}

func capBody(s string) string {
	if len(s) <= maxBody {
		return s
	}
	return cutAtRune(s, maxBody) + "\n[message cut to fit SNS; the full report is in the logs]\n"
}
