package notify

import (
	"fmt"
	"strings"
)

// ForRefusedDisarm writes the notice that the switch refused a disarm:
// what was refused (the invoke and its reason), why (refusal: no proof,
// expired, another trip, an invalid MAC, no key configured, KMS failing),
// and how to disarm properly (how, the same lines as every trip report).
// The switch stays tripped; a disarm the owner did not send means someone
// holds credentials that can invoke the function.
func ForRefusedDisarm(c Context, d Digest, reason, refusal string, how []string) Message {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("killswitch REFUSED a disarm. The switch stays TRIPPED and keeps re-sweeping; the latch is unchanged.")
	if c.Account != "" {
		w("Account: %s", c.Account)
	}
	w("")
	w("WHAT WAS REFUSED")
	for _, t := range c.Triggers {
		w("  %s", t)
	}
	w("  Refused because %s.", refusal)
	w("")
	d.lines(w)
	w("")
	w("If you did not send this disarm, someone who can invoke the function (or schedule it, or run code as one")
	w("of its roles) tried to turn the switch off. It holds: only a break-glass principal or the root user can")
	w("make the proof a disarm needs.")
	w("")
	for _, l := range how {
		w("%s", l)
	}
	subject := cleanSubject("killswitch: DISARM REFUSED - still tripped: " + refusal)
	var card strings.Builder
	fmt.Fprintf(&card, "*killswitch REFUSED a disarm.* The switch stays tripped and keeps re-sweeping.\n")
	if c.Account != "" {
		fmt.Fprintf(&card, "Account: `%s`\n", c.Account)
	}
	fmt.Fprintf(&card, "Disarm reason given: %s\n", mrkdwn(truncate(orNone(reason), 300)))
	fmt.Fprintf(&card, "Refused because %s.\n", mrkdwn(truncate(refusal, 300)))
	return Message{Subject: subject, Body: capBody(b.String()), Card: Card{
		Title:       ":no_entry: " + subject,
		Description: card.String(),
		NextSteps:   []string{"If you did not send it, someone holds credentials that can invoke the function. To disarm: `killswitch disarm` as a break-glass principal or the root user (the email has the commands)."},
		Keywords:    []string{"killswitch", "disarm-refused"},
		EventType:   "killswitch-disarm-refused",
		Summary:     subject,
		Context:     withAccount(c, map[string]string{"refused": truncate(refusal, 200)}),
	}}
}
