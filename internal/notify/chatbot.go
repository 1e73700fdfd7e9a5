package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/killswitch/killswitch/internal/engine"
)

// Card is a message as a chat channel shows it: AWS Chatbot (Amazon Q
// Developer in chat applications) forwards to Slack only notifications of
// the AWS services it knows and custom notifications in its own JSON
// format; plain text published to its topic is dropped without a trace. A
// Card is built by the same For* function as the email, from the same
// report values, so the two never disagree; it is shorter, as a phone's
// Slack shows a few lines, and it points to the email and the logs for the
// rest.
type Card struct {
	// Title is the subject with a leading emoji for the outcome.
	Title string
	// Description is Slack markdown (Chatbot's client-markdown): the
	// headline, the counts and the first failures.
	Description string
	NextSteps   []string
	Keywords    []string
	// EventType names the kind of message, e.g. "killswitch-trip".
	EventType string
	// Summary is the subject, for Chatbot's metadata.
	Summary string
	// Context is the key counts as strings (Chatbot's additionalContext
	// holds string values only).
	Context map[string]string
}

// Zero says whether there is no card.
func (c Card) Zero() bool { return c.Title == "" && c.Description == "" }

// Chatbot's custom-notification format, from its administrator guide
// ("Custom notifications using Amazon Q Developer in chat applications").
const (
	ChatbotVersion  = "1.0"
	ChatbotSource   = "custom"
	ChatbotTextType = "client-markdown"
)

// Limits on what a card sends. The guide names no field lengths; these are
// Slack's own Block Kit limits (a header's text 150 characters, a section's
// 3,000), which is where Chatbot renders the title and the description, so
// nothing is cut by Slack mid-word. The list limits keep a card a card.
const (
	MaxCardTitle       = 150
	MaxCardDescription = 3000
	MaxCardNextSteps   = 5
	MaxCardStep        = 300
	MaxCardKeywords    = 10
	MaxCardKeyword     = 50
	// maxCardFailures is how many failure lines a card lists; the email
	// lists up to maxListed.
	maxCardFailures = 5
	maxCardRegions  = 10
)

// chatbotNotification is the custom-notification document.
type chatbotNotification struct {
	Version  string          `json:"version"`
	Source   string          `json:"source"`
	Content  chatbotContent  `json:"content"`
	Metadata chatbotMetadata `json:"metadata"`
}

type chatbotContent struct {
	TextType    string   `json:"textType"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	NextSteps   []string `json:"nextSteps,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
}

type chatbotMetadata struct {
	// No threadId: each trip must be a message of its own in the channel,
	// not a reply hidden under an old trip's thread.
	Summary           string            `json:"summary,omitempty"`
	EventType         string            `json:"eventType,omitempty"`
	AdditionalContext map[string]string `json:"additionalContext,omitempty"`
}

// ChatbotJSON renders the card in Chatbot's custom-notification format,
// within the limits above.
func (c Card) ChatbotJSON() ([]byte, error) {
	if c.Zero() {
		return nil, fmt.Errorf("notify: no card to render")
	}
	n := chatbotNotification{
		Version: ChatbotVersion,
		Source:  ChatbotSource,
		Content: chatbotContent{
			TextType:    ChatbotTextType,
			Title:       truncate(c.Title, MaxCardTitle),
			Description: truncate(c.Description, MaxCardDescription),
		},
		Metadata: chatbotMetadata{Summary: truncate(c.Summary, MaxCardTitle), EventType: c.EventType, AdditionalContext: c.Context},
	}
	if n.Content.Description == "" {
		// Chatbot requires a description.
		n.Content.Description = n.Content.Title
	}
	for i, s := range c.NextSteps {
		if i == MaxCardNextSteps {
			break
		}
		n.Content.NextSteps = append(n.Content.NextSteps, truncate(s, MaxCardStep))
	}
	for i, k := range c.Keywords {
		if i == MaxCardKeywords {
			break
		}
		n.Content.Keywords = append(n.Content.Keywords, truncate(k, MaxCardKeyword))
	}
	return marshal(n)
}

// marshal writes JSON without HTML escaping: Slack markdown uses < and >
// (escaped below as &lt; &gt;), and \u003c in the text would be shown as is.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// mrkdwn escapes text from outside (AWS error messages, trigger summaries,
// a disarm reason) for Slack, whose markdown reads <...> as a link or a
// mention and & as an entity.
func mrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// reportCard is ForReport's card: the same headline, counts and failures
// as the email, shortened.
func reportCard(c Context, r *engine.Report, subject string) Card {
	t := r.Totals
	failures := failureLines(r)
	notSwept := r.FailedRegions()
	var emoji, headline, event, state string
	switch {
	case c.Resweep && r.Err() == nil:
		emoji, event, state = ":repeat:", "killswitch-resweep", "relaunch-caught"
		headline = "Something was running again while the switch was tripped; it was contained."
	case r.DryRun:
		emoji, event, state = ":test_tube:", "killswitch-dry-run", "dry-run"
		headline = "Dry run: nothing was changed."
	case r.Err() != nil:
		emoji, event, state = ":rotating_light:", "killswitch-incomplete", "incomplete"
		headline = "Containment is INCOMPLETE: what failed may still be running and costing money."
	case t.Changed == 0:
		emoji, event, state = ":white_check_mark:", "killswitch-trip", "nothing-new"
		headline = "Tripped: nothing new was running."
	default:
		emoji, event, state = ":octagonal_sign:", "killswitch-trip", "contained"
		headline = "Tripped: your AWS account was contained."
	}

	var d strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&d, format+"\n", args...) }
	line("*%s*", headline)
	if c.Account != "" {
		line("Account: `%s`", c.Account)
	}
	for i, tr := range c.Triggers {
		if i == 2 {
			line("...and %d more trigger(s)", len(c.Triggers)-2)
			break
		}
		line("Trigger: %s", mrkdwn(tr))
	}
	for _, kt := range kindTotals(r) {
		if len(kt.counts) > 0 {
			line("• *%s*: %s", mrkdwn(kt.name), countsLine(kt.counts))
		}
	}
	if t.Gone > 0 {
		line("Already gone or going down: %d", t.Gone)
	}
	if t.Refused > 0 {
		line("Left alone on purpose: %d", t.Refused)
	}
	swept := fmt.Sprintf("%d enabled region(s)", t.Regions)
	if r.FallbackSweep {
		swept = fmt.Sprintf("%d region(s) of the built-in list (the enabled regions could not be listed)", t.Regions)
	}
	line("Swept: %s", swept)
	if len(r.SkippedRegions) > 0 {
		line("Not swept, as configured (skipRegions): %s", strings.Join(r.SkippedRegions, ", "))
	}
	if len(notSwept) > 0 {
		line("*Regions NOT swept (%d)*: %s", len(notSwept), capList(notSwept, maxCardRegions))
	}
	if len(failures) > 0 {
		line("*What failed (%d)*:", len(failures))
		for i, f := range failures {
			if i == maxCardFailures {
				line("...and %d more: see the email", len(failures)-maxCardFailures)
				break
			}
			line("• %s", mrkdwn(truncate(f, 200)))
		}
	}
	if r.ManifestError != "" && !r.DryRun {
		line("*Restore will be manual*: the restore manifest could not be (fully) written.")
	}
	if len(c.Latch) > 0 {
		line("%s", mrkdwn(c.Latch[0]))
	}
	line("The full report is in the email and in the killswitch Lambda's logs.")

	var steps []string
	if r.Err() != nil {
		steps = append(steps, "Read the email's WHAT FAILED: Lambda retries the sweep; fix what stays failed by hand in the AWS console.")
	}
	if r.DryRun {
		steps = append(steps, "Nothing was changed: this was a dry run.")
	} else {
		steps = append(steps,
			"Sign in as root, change its password, and turn on MFA for root and every IAM user.",
			"Delete IAM users, access keys and roles you do not recognise.",
			"Contact AWS Support (Billing) about the charges: report unauthorised use.")
	}
	return Card{
		Title:       emoji + " " + cleanSubject(subject),
		Description: d.String(),
		NextSteps:   steps,
		Keywords:    []string{"killswitch", state},
		EventType:   event,
		Summary:     cleanSubject(subject),
		Context: withAccount(c, map[string]string{
			"found":           strconv.Itoa(t.Found),
			"contained":       strconv.Itoa(t.Changed),
			"failed":          strconv.Itoa(t.Failed + t.Unplaced),
			"regionsSwept":    strconv.Itoa(t.Regions),
			"regionsNotSwept": strconv.Itoa(len(notSwept)),
			"dryRun":          strconv.FormatBool(r.DryRun),
		}),
	}
}

func withAccount(c Context, m map[string]string) map[string]string {
	if c.Account != "" {
		m["account"] = c.Account
	}
	return m
}

func capList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

func noActionCard(c Context, subject string) Card {
	var d strings.Builder
	fmt.Fprintf(&d, "*killswitch received a message and took NO action.*\n")
	if c.Account != "" {
		fmt.Fprintf(&d, "Account: `%s`\n", c.Account)
	}
	for _, tr := range c.Triggers {
		fmt.Fprintf(&d, "• %s\n", mrkdwn(truncate(tr, 300)))
	}
	fmt.Fprintf(&d, "Nothing was stopped or terminated.\n")
	return Card{
		Title:       ":information_source: " + subject,
		Description: d.String(),
		NextSteps:   []string{"If spend is rising unexpectedly, check the EC2 console in every region."},
		Keywords:    []string{"killswitch", "no-action"},
		EventType:   "killswitch-no-action",
		Summary:     subject,
		Context:     withAccount(c, map[string]string{}),
	}
}

func digestCard(c Context, dg Digest, subject string) Card {
	var d strings.Builder
	fmt.Fprintf(&d, "*killswitch is STILL TRIPPED.* The last day's re-sweeps found nothing new running.\n")
	if c.Account != "" {
		fmt.Fprintf(&d, "Account: `%s`\n", c.Account)
	}
	fmt.Fprintf(&d, "Tripped since %s by: %s\n", dg.Since.Format("2006-01-02 15:04 UTC"), mrkdwn(truncate(dg.Reason, 300)))
	fmt.Fprintf(&d, "Re-sweeps since: %d; resources caught running again: %d\n", dg.Resweeps, dg.Relaunches)
	return Card{
		Title:       ":lock: " + subject,
		Description: d.String(),
		NextSteps:   []string{"Disarm the switch once the account is clean: the email has the command. Disarming undoes nothing."},
		Keywords:    []string{"killswitch", "still-tripped"},
		EventType:   "killswitch-digest",
		Summary:     subject,
		Context: withAccount(c, map[string]string{
			"resweeps":   strconv.Itoa(dg.Resweeps),
			"relaunches": strconv.Itoa(dg.Relaunches),
		}),
	}
}

func disarmCard(c Context, dg Digest, wasTripped bool, reason, subject string) Card {
	var d strings.Builder
	fmt.Fprintf(&d, "*killswitch was DISARMED by a direct invoke.* Reason: %s\n", mrkdwn(truncate(orNone(reason), 300)))
	if c.Account != "" {
		fmt.Fprintf(&d, "Account: `%s`\n", c.Account)
	}
	if wasTripped {
		fmt.Fprintf(&d, "It had been tripped since %s; %d re-sweep(s), %d resource(s) caught running again.\n",
			dg.Since.Format("2006-01-02 15:04 UTC"), dg.Resweeps, dg.Relaunches)
	} else {
		fmt.Fprintf(&d, "It was not tripped.\n")
	}
	fmt.Fprintf(&d, "Nothing was undone: what was stopped or scaled to 0 stays so until you restore it.\n")
	return Card{
		Title:       ":unlock: " + subject,
		Description: d.String(),
		NextSteps:   []string{"If you did not disarm it, someone holds credentials that can invoke the function: trip it again at once."},
		Keywords:    []string{"killswitch", "disarmed"},
		EventType:   "killswitch-disarm",
		Summary:     subject,
		Context:     withAccount(c, map[string]string{"wasTripped": strconv.FormatBool(wasTripped)}),
	}
}
