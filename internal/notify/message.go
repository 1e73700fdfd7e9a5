package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/killswitch/killswitch/internal/engine"
)

// Message is one notification: SNS allows a subject of up to 100 printable
// ASCII characters and a body of up to 256 KB. Body is the full plain text
// (email); Card is the same message, from the same report values, for chat
// (see chatbot.go). A Message without a Card goes to chat as nothing.
type Message struct {
	Subject string
	Body    string
	Card    Card
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
	// Policy is the owner's choices in a few words, e.g. "EC2 action: stop".
	Policy string
	// Latch says, line by line, that the switch stays tripped and how to
	// disarm it (or that the latch could not be set).
	Latch []string
	// Resweep marks a scheduled re-sweep that caught something relaunched.
	Resweep bool
}

// ForReport writes the message for a sweep. It knows no kind: each kind's
// name, noun and verbs come from the report.
func ForReport(c Context, r *engine.Report) Message {
	t := r.Totals
	noun := commonNoun(r)
	var subject string
	switch {
	case c.Resweep && r.Err() == nil:
		subject = fmt.Sprintf("killswitch: RELAUNCH CAUGHT - contained %d %s(s) in %d region(s)", t.Changed, noun, regionsWithWork(r))
	case r.DryRun:
		subject = fmt.Sprintf("killswitch DRY RUN: would contain %d %s(s) in %d region(s)", t.Changed, noun, regionsWithWork(r))
	case r.Err() != nil:
		subject = fmt.Sprintf("killswitch: ACTION NEEDED - contained %d, %d failed, %d region(s) not swept", t.Changed, t.Failed+t.Unplaced, len(r.FailedRegions()))
	case t.Changed == 0:
		subject = "killswitch tripped: nothing new was running"
	default:
		subject = fmt.Sprintf("killswitch: contained %d %s(s) in %d region(s)", t.Changed, noun, regionsWithWork(r))
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	switch {
	case c.Resweep:
		w("KILLSWITCH RE-SWEEP - something was running again while the switch was tripped; it was contained.")
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

	head := fmt.Sprintf("in %d enabled region(s)", t.Regions)
	if r.FallbackSweep {
		// Not the account's own list: the built-in one may lack a region.
		head = fmt.Sprintf("in %d region(s) of the built-in list, as the enabled regions could not be listed", t.Regions)
	}
	if c.Policy != "" {
		head = c.Policy + ", " + head
	}
	w("WHAT WAS DONE (%s)", head)
	writeKinds(w, r)
	if t.Changed == 0 && t.Failed == 0 && t.Unplaced == 0 && len(r.FailedRegions()) == 0 {
		w("  Nothing was found running apart from anything left alone on purpose: nothing new to contain.")
	}
	writeAlso(w, r)
	if t.Gone > 0 {
		w("  Already gone or going down: %d.", t.Gone)
	}
	writeRefused(w, r)
	if len(r.SkippedRegions) > 0 {
		w("  Not swept, as configured (skipRegions): %s.", strings.Join(r.SkippedRegions, ", "))
	}
	w("")

	writeRegionTable(w, r)
	writeFailures(w, r)
	writeManifest(w, r)
	if len(c.Latch) > 0 {
		w("THE SWITCH HOLDS")
		for _, l := range c.Latch {
			w("  %s", l)
		}
		w("")
	}

	w("WHAT TO DO NEXT")
	w("  1. Sign in as the root user, change its password, and turn on MFA for root and every IAM user.")
	w("  2. In IAM, delete users, access keys and roles you do not recognise; an attacker leaves them behind.")
	w("  3. killswitch swept %d kind(s) of resource in every region (listed in the logs). Check the regions", len(kindTotals(r)))
	w("     above for anything else that costs money (Lightsail, RDS, NAT gateways...).")
	w("  4. Contact AWS Support (Billing) about the charges: report unauthorised use and ask for a review.")
	if !r.DryRun {
		w("  5. Every change above was recorded with its state before, in the JSON report in the logs.")
	}
	w("")
	w("The full machine-readable report is in the killswitch Lambda's logs.")

	return Message{Subject: cleanSubject(subject), Body: capBody(b.String()), Card: reportCard(c, r, subject)}
}

// writeManifest says where the restore manifest is, and says loudly when
// it could not be written: then the restore is manual.
func writeManifest(w func(string, ...any), r *engine.Report) {
	if r.DryRun {
		return
	}
	if r.ManifestError != "" {
		w("RESTORE WILL BE MANUAL - the restore manifest could not be (fully) written, and containment went ahead anyway:")
		w("  %s", r.ManifestError)
		w("  Every change and its prior state is still in the JSON report in the logs.")
		w("")
	}
	if r.Manifest != "" {
		w("IF THIS WAS A FALSE ALARM")
		w("  Every change is recorded with its prior state in %s", r.Manifest)
		w("  `killswitch restore --latest` shows what it would put back; add --disarm --apply to do it.")
		w("")
	}
}

// kindTotal is one kind's outcomes over every region.
type kindTotal struct {
	name, noun string
	counts     map[string]int
	notes      map[string]string // label -> the verb's note
}

func kindTotals(r *engine.Report) []*kindTotal {
	var order []*kindTotal
	byName := map[string]*kindTotal{}
	for _, rr := range r.Regions {
		for _, kr := range rr.Kinds {
			kt := byName[kr.Kind]
			if kt == nil {
				kt = &kindTotal{name: kr.Kind, noun: kr.Noun, counts: map[string]int{}, notes: map[string]string{}}
				byName[kr.Kind] = kt
				order = append(order, kt)
			}
			for _, o := range kr.Outcomes {
				kt.counts[o.Label()]++
				if o.Changed() && o.Verb.Note != "" {
					kt.notes[o.Label()] = o.Verb.Note
				}
			}
		}
	}
	return order
}

// countsLine writes counts as "290 stopped, 8 terminated", largest first.
func countsLine(counts map[string]int) string {
	labels := make([]string, 0, len(counts))
	for l := range counts {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool {
		if counts[labels[i]] != counts[labels[j]] {
			return counts[labels[i]] > counts[labels[j]]
		}
		return labels[i] < labels[j]
	})
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = fmt.Sprintf("%d %s", counts[l], l)
	}
	return strings.Join(parts, ", ")
}

func writeKinds(w func(string, ...any), r *engine.Report) {
	for _, kt := range kindTotals(r) {
		if len(kt.counts) == 0 {
			continue
		}
		w("  %s: %s", kt.name, countsLine(kt.counts))
		labels := make([]string, 0, len(kt.notes))
		for l := range kt.notes {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		for _, l := range labels {
			w("    %s: %s", l, kt.notes[l])
		}
	}
}

// writeAlso counts the secondary changes, such as protection turned off.
func writeAlso(w func(string, ...any), r *engine.Report) {
	counts := map[string]int{}
	for _, rr := range r.Regions {
		for _, kr := range rr.Kinds {
			for _, o := range kr.Outcomes {
				for _, c := range o.Also {
					counts[c.Verb.Past]++
				}
			}
		}
	}
	if len(counts) > 0 {
		w("  Also, to get through: %s.", countsLine(counts))
	}
}

// commonNoun is the one noun every changed resource shares, else "resource".
func commonNoun(r *engine.Report) string {
	noun := ""
	for _, rr := range r.Regions {
		for _, kr := range rr.Kinds {
			if kr.Changed() == 0 {
				continue
			}
			if noun != "" && noun != kr.Noun {
				return "resource"
			}
			noun = kr.Noun
		}
	}
	if noun == "" {
		return "resource"
	}
	return noun
}

// Digest is what the latch says about a switch that has been tripped.
type Digest struct {
	Since      time.Time
	Reason     string
	Resweeps   int
	Relaunches int
}

func (d Digest) lines(w func(string, ...any)) {
	w("  Tripped since: %s", d.Since.Format("2006-01-02 15:04 UTC"))
	w("  Tripped by:    %s", d.Reason)
	w("  Re-sweeps since: %d; resources caught running again: %d", d.Resweeps, d.Relaunches)
}

// ForDigest writes the daily note that the switch is still tripped and the
// re-sweeps found nothing new.
func ForDigest(c Context, d Digest, latch []string) Message {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("killswitch is STILL TRIPPED. The last day's re-sweeps found nothing new running.")
	if c.Account != "" {
		w("Account: %s", c.Account)
	}
	w("")
	d.lines(w)
	w("")
	for _, l := range latch {
		w("%s", l)
	}
	subject := cleanSubject(fmt.Sprintf("killswitch: still tripped, %d re-sweep(s), nothing new", d.Resweeps))
	return Message{Subject: subject, Body: capBody(b.String()), Card: digestCard(c, d, subject)}
}

// ForDisarm writes the notice that the owner disarmed the switch.
func ForDisarm(c Context, d Digest, wasTripped bool, reason string) Message {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("killswitch was DISARMED by a direct invoke. Reason: %s", orNone(reason))
	if c.Account != "" {
		w("Account: %s", c.Account)
	}
	w("")
	if wasTripped {
		d.lines(w)
	} else {
		w("  It was not tripped.")
	}
	w("")
	w("The scheduled re-sweeps stop; a new budget alert or alarm trips the switch again.")
	w("Nothing was undone: what was stopped or scaled to 0 stays so until you restore it.")
	w("If you did not disarm it, someone holds credentials that can invoke the function: trip it again at once.")
	subject := cleanSubject("killswitch: DISARMED - " + orNone(reason))
	return Message{Subject: subject, Body: capBody(b.String()), Card: disarmCard(c, d, wasTripped, reason, subject)}
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "no reason given"
	}
	return s
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
	subject := cleanSubject("killswitch: " + headline)
	return Message{Subject: subject, Body: capBody(b.String()), Card: noActionCard(c, subject)}
}

func regionsWithWork(r *engine.Report) int {
	n := 0
	for _, rr := range r.Regions {
		for _, kr := range rr.Kinds {
			if kr.Changed() > 0 {
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
		region                       string
		found, changed, failed, left int
		counts                       map[string]int
		problem                      string
	}
	var rows []row
	quiet := 0
	for _, rr := range r.Regions {
		x := row{region: rr.Region, problem: rr.Error, counts: map[string]int{}}
		for _, kr := range rr.Kinds {
			x.found += kr.Found
			x.changed += kr.Changed()
			x.failed += len(kr.Failed())
			x.left += len(kr.Refused)
			for _, o := range kr.Outcomes {
				if o.Changed() {
					x.counts[o.Label()]++
				}
			}
			if kr.Error != "" && x.problem == "" {
				x.problem = "could not list " + kr.Kind
			}
		}
		if x.found == 0 && x.problem == "" {
			if rr.Region != engine.GlobalRegion {
				quiet++
			}
			continue
		}
		rows = append(rows, x)
	}
	// Most affected first, so a phone screen shows what matters.
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].found > rows[j].found })
	w("BY REGION")
	changedWord := "contained"
	if r.DryRun {
		changedWord = "would"
	}
	w("  %-16s %6s %9s %6s %5s  %s", "region", "found", changedWord, "failed", "left", "what")
	for i, x := range rows {
		if i == maxRegionRows {
			w("  ... and %d more region(s) with resources (see the logs)", len(rows)-maxRegionRows)
			break
		}
		what := countsLine(x.counts)
		if x.problem != "" {
			what = strings.TrimSpace("NOT SWEPT " + what)
		}
		w("%s", strings.TrimRight(fmt.Sprintf("  %-16s %6d %9d %6d %5d  %s", x.region, x.found, x.changed, x.failed, x.left, what), " "))
	}
	if quiet > 0 {
		w("  %d other region(s): nothing running.", quiet)
	}
	w("")
}

func writeFailures(w func(string, ...any), r *engine.Report) {
	lines := failureLines(r)
	if len(lines) == 0 {
		return
	}
	w("WHAT FAILED - these may still be running and costing money")
	writeCapped(w, lines)
	w("  killswitch returns an error so that Lambda retries it; you can also fix these by hand in the AWS console.")
	w("")
}

// failureLines are the report's failures, one line each, for the email's
// "What failed" and the chat card alike.
func failureLines(r *engine.Report) []string {
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
			for _, f := range kr.Failed() {
				if !f.Placed() {
					lines = append(lines, fmt.Sprintf("%s %s (%s): %s, a killswitch bug: %s", kr.Noun, f.ID, rr.Region, f.Label(), f.Message))
					continue
				}
				lines = append(lines, fmt.Sprintf("%s %s (%s): %s failed: %s", kr.Noun, f.ID, rr.Region, f.Verb.Plan, f.Message))
			}
		}
	}
	return lines
}

// maxLine bounds one listed line: long enough for a failure that names
// a resource and carries the command that fixes it (two ARNs, say).
const maxLine = 600

func writeCapped(w func(string, ...any), lines []string) {
	for i, l := range lines {
		if i == maxListed {
			w("    ... and %d more (see the logs)", len(lines)-maxListed)
			return
		}
		w("    - %s", truncate(l, maxLine))
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

func capBody(s string) string { return cutBody(s, maxBody) }

// cutBody keeps s to about n bytes, saying where it was cut.
func cutBody(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cutAtRune(s, n) + "\n[message cut to fit SNS; the full report is in the logs]\n"
}
