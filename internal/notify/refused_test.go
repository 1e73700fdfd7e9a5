package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/notify"
)

// The refusal names what was refused and why, and how to disarm; its chat
// card says the same.
func TestRefusedDisarm(t *testing.T) {
	t.Parallel()
	c := notify.Context{Account: "111122223333", Triggers: []string{"disarm by direct invoke: all clear"}}
	d := notify.Digest{Since: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Reason: "budget", Resweeps: 3}
	m := notify.ForRefusedDisarm(c, d, "all clear", "its proof's MAC is invalid", []string{"To disarm, as a break-glass principal or the root user:", "  killswitch disarm --region eu-west-1"})
	for _, want := range []string{"REFUSED", "stays TRIPPED", "disarm by direct invoke: all clear", "Refused because its proof's MAC is invalid.",
		"Account: 111122223333", "Tripped since: 2026-11-29 10:00 UTC", "killswitch disarm --region eu-west-1"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if !strings.HasPrefix(m.Subject, "killswitch: DISARM REFUSED") || len(m.Subject) > 100 {
		t.Errorf("subject %q", m.Subject)
	}
	if m.Card.EventType != "killswitch-disarm-refused" || !strings.Contains(m.Card.Description, "MAC is invalid") || !strings.Contains(m.Card.Description, "all clear") {
		t.Errorf("card %+v", m.Card)
	}
}
