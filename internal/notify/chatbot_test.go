package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/notify"
)

// validateChatbot checks a document against Chatbot's custom-notification
// format as its administrator guide documents it: version "1.0" and source
// "custom" required; content with textType (only client-markdown), title,
// description (required), nextSteps[] and keywords[]; metadata with
// threadId, summary, eventType, relatedResources[] and additionalContext{}
// of strings; no other keys. Lengths are the card's own limits.
func validateChatbot(raw []byte) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	allowed := func(obj map[string]json.RawMessage, where string, keys ...string) {
		ok := map[string]bool{}
		for _, k := range keys {
			ok[k] = true
		}
		for k := range obj {
			if !ok[k] {
				bad("%s: unknown key %q", where, k)
			}
		}
	}
	str := func(obj map[string]json.RawMessage, key, where string, required bool, max int) string {
		v, ok := obj[key]
		if !ok {
			if required {
				bad("%s.%s is required", where, key)
			}
			return ""
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			bad("%s.%s is not a string: %s", where, key, v)
			return ""
		}
		if required && s == "" {
			bad("%s.%s is empty", where, key)
		}
		if max > 0 && utf8.RuneCountInString(s) > max {
			bad("%s.%s has %d characters, over %d", where, key, utf8.RuneCountInString(s), max)
		}
		return s
	}
	strs := func(obj map[string]json.RawMessage, key, where string, maxItems, maxLen int) {
		v, ok := obj[key]
		if !ok {
			return
		}
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			bad("%s.%s is not an array of strings: %s", where, key, v)
			return
		}
		if len(list) > maxItems {
			bad("%s.%s has %d items, over %d", where, key, len(list), maxItems)
		}
		for _, s := range list {
			if s == "" || utf8.RuneCountInString(s) > maxLen {
				bad("%s.%s item %q: empty or over %d characters", where, key, s, maxLen)
			}
		}
	}
	allowed(doc, "", "version", "source", "id", "content", "metadata")
	if v := str(doc, "version", "", true, 0); v != "1.0" {
		bad("version %q, must be 1.0", v)
	}
	if s := str(doc, "source", "", true, 0); s != "custom" {
		bad("source %q, must be custom", s)
	}
	var content map[string]json.RawMessage
	if err := json.Unmarshal(doc["content"], &content); err != nil || content == nil {
		bad("content is required and must be an object")
		return probs
	}
	allowed(content, "content", "textType", "title", "description", "nextSteps", "keywords")
	if tt, ok := content["textType"]; ok && string(tt) != `"client-markdown"` {
		bad("content.textType %s, only client-markdown is supported", tt)
	}
	str(content, "title", "content", false, notify.MaxCardTitle)
	str(content, "description", "content", true, notify.MaxCardDescription)
	strs(content, "nextSteps", "content", notify.MaxCardNextSteps, notify.MaxCardStep)
	strs(content, "keywords", "content", notify.MaxCardKeywords, notify.MaxCardKeyword)
	if m, ok := doc["metadata"]; ok {
		var meta map[string]json.RawMessage
		if err := json.Unmarshal(m, &meta); err != nil {
			bad("metadata is not an object")
			return probs
		}
		allowed(meta, "metadata", "threadId", "summary", "eventType", "relatedResources", "additionalContext")
		str(meta, "threadId", "metadata", false, 0)
		str(meta, "summary", "metadata", false, notify.MaxCardTitle)
		str(meta, "eventType", "metadata", false, 0)
		strs(meta, "relatedResources", "metadata", 100, 2048)
		if ac, ok := meta["additionalContext"]; ok {
			var ctx map[string]string
			if err := json.Unmarshal(ac, &ctx); err != nil {
				bad("metadata.additionalContext must map strings to strings: %s", ac)
			}
		}
	}
	return probs
}

// reports builds a trip, a failed trip and a huge one through the real
// engine, as ForReport gets them.
func reports(t *testing.T) map[string]*engine.Report {
	t.Helper()
	trip := sweep(t, []string{"us-east-1", "ap-south-2"}, &scriptedKind{script: map[string][]planned{
		"us-east-1":  append(instances("a", 7, stop, engine.StatusDone), instances("b", 2, term, engine.StatusDone)...),
		"ap-south-2": instances("c", 3, stop, engine.StatusDone),
	}}, engine.Policy{})
	failed := sweep(t, []string{"us-east-1", "me-central-1"}, &scriptedKind{
		script: map[string][]planned{"us-east-1": append(instances("a", 4, stop, engine.StatusDone),
			planned{id: "i-0badbadbadbadbad1", action: stop, status: engine.StatusFailed, code: "UnauthorizedOperation <denied & logged>"})},
		findErr: map[string]error{"me-central-1": errors.New("AuthFailure: not enabled")},
	}, engine.Policy{})
	// Many regions, many failures: every list must be capped.
	script := map[string][]planned{}
	var regions []string
	for i := range 60 {
		region := fmt.Sprintf("xx-region-%d", i)
		regions = append(regions, region)
		script[region] = instances(fmt.Sprintf("%02x", i), 30, stop, engine.StatusFailed)
	}
	huge := sweep(t, regions, &scriptedKind{script: script}, engine.Policy{})
	return map[string]*engine.Report{"trip": trip, "failure": failed, "huge failure": huge}
}

func TestCardsValidateAgainstChatbotFormat(t *testing.T) {
	t.Parallel()
	reps := reports(t)
	since := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		msg   notify.Message
		event string
		wants []string
	}{
		{"trip", notify.ForReport(tripContext, reps["trip"]), "killswitch-trip",
			[]string{"contained 12", "EC2 instances*: 10 stopped, 2 terminated", "111122223333", "2 enabled region(s)"}},
		{"failure", notify.ForReport(tripContext, reps["failure"]), "killswitch-incomplete",
			[]string{"ACTION NEEDED", "INCOMPLETE", "me-central-1", "i-0badbadbadbadbad1", "&lt;denied &amp; logged&gt;"}},
		{"huge failure", notify.ForReport(tripContext, reps["huge failure"]), "killswitch-incomplete",
			[]string{"What failed (1800)", "...and 1795 more: see the email"}},
		{"no action", notify.ForNoAction(notify.Context{Account: "111122223333", Triggers: []string{"FORECASTED <budget>"}}, "budget alert received, no action taken"),
			"killswitch-no-action", []string{"NO action", "FORECASTED &lt;budget&gt;"}},
		{"digest", notify.ForDigest(tripContext, notify.Digest{Since: since, Reason: "budget", Resweeps: 144}, nil), "killswitch-digest",
			[]string{"STILL TRIPPED", "Re-sweeps since: 144"}},
		{"disarm", notify.ForDisarm(tripContext, notify.Digest{Since: since, Reason: "budget"}, true, "cleaned up"), "killswitch-disarm",
			[]string{"DISARMED", "cleaned up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, err := tc.msg.Card.ChatbotJSON()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range validateChatbot(raw) {
				t.Errorf("%s", p)
			}
			var doc struct {
				Content struct {
					Title, Description string
					NextSteps          []string
				}
				Metadata struct {
					Summary, EventType string
					AdditionalContext  map[string]string
				}
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			// The card and the email say the same thing: the title is the
			// subject.
			if !strings.HasSuffix(doc.Content.Title, tc.msg.Subject) || doc.Metadata.Summary != tc.msg.Subject {
				t.Errorf("title %q / summary %q, want the subject %q", doc.Content.Title, doc.Metadata.Summary, tc.msg.Subject)
			}
			if doc.Metadata.EventType != tc.event {
				t.Errorf("eventType %q, want %q", doc.Metadata.EventType, tc.event)
			}
			for _, w := range tc.wants {
				if !strings.Contains(doc.Content.Title+"\n"+doc.Content.Description, w) {
					t.Errorf("card lacks %q:\n%s\n%s", w, doc.Content.Title, doc.Content.Description)
				}
			}
			if len(doc.Content.NextSteps) == 0 {
				t.Error("card has no next steps")
			}
		})
	}
}

// A failure card's counts are the report's own.
func TestFailureCardCountsAreTheReports(t *testing.T) {
	t.Parallel()
	rep := reports(t)["failure"]
	raw, err := notify.ForReport(tripContext, rep).Card.ChatbotJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Metadata struct{ AdditionalContext map[string]string }
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"contained": "4", "failed": "1", "regionsNotSwept": "1", "account": "111122223333", "dryRun": "false"}
	for k, v := range want {
		if got := doc.Metadata.AdditionalContext[k]; got != v {
			t.Errorf("additionalContext[%s] = %q, want %q", k, got, v)
		}
	}
}

// The validator itself must reject what Chatbot drops.
func TestChatbotValidatorRejectsBadDocuments(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"plain text":       `KILLSWITCH TRIPPED`,
		"wrong version":    `{"version":"2.0","source":"custom","content":{"description":"x"}}`,
		"wrong source":     `{"version":"1.0","source":"aws","content":{"description":"x"}}`,
		"no description":   `{"version":"1.0","source":"custom","content":{"title":"x"}}`,
		"other textType":   `{"version":"1.0","source":"custom","content":{"textType":"plain","description":"x"}}`,
		"unknown key":      `{"version":"1.0","source":"custom","content":{"description":"x","body":"y"}}`,
		"context not text": `{"version":"1.0","source":"custom","content":{"description":"x"},"metadata":{"additionalContext":{"n":3}}}`,
		"long title":       `{"version":"1.0","source":"custom","content":{"description":"x","title":"` + strings.Repeat("t", notify.MaxCardTitle+1) + `"}}`,
	} {
		if len(validateChatbot([]byte(doc))) == 0 {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
}

// With Slack on, one publish carries the card for Chatbot and the email's
// text, unchanged, for everyone else; with Slack off, the publish is
// exactly as before.
func TestSNSPublishForChatbot(t *testing.T) {
	t.Parallel()
	reps := reports(t)
	for _, tc := range []struct {
		name string
		msg  notify.Message
	}{
		{"trip", notify.ForReport(tripContext, reps["trip"])},
		{"failure", notify.ForReport(tripContext, reps["failure"])},
		{"no action", notify.ForNoAction(tripContext, "unrecognised trigger, no action taken")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plain := &fakePublishAPI{}
			if err := notify.NewSNS(plain, topic).Publish(context.Background(), tc.msg); err != nil {
				t.Fatal(err)
			}
			if in := plain.in[0]; in.MessageStructure != nil || aws.ToString(in.Message) != tc.msg.Body {
				t.Errorf("without Slack: structure %v, message changed", in.MessageStructure)
			}

			api := &fakePublishAPI{}
			if err := notify.NewSNS(api, topic, notify.WithChatbot()).Publish(context.Background(), tc.msg); err != nil {
				t.Fatal(err)
			}
			if len(api.in) != 1 {
				t.Fatalf("%d publishes, want 1", len(api.in))
			}
			in := api.in[0]
			if aws.ToString(in.MessageStructure) != "json" || aws.ToString(in.Subject) != tc.msg.Subject {
				t.Errorf("structure %q subject %q", aws.ToString(in.MessageStructure), aws.ToString(in.Subject))
			}
			var per map[string]string
			if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &per); err != nil {
				t.Fatalf("message is not SNS's per-protocol JSON: %v", err)
			}
			for _, p := range []string{"email", "email-json", "sqs", "http"} {
				if per[p] != tc.msg.Body {
					t.Errorf("%s gets %q..., want the email body unchanged", p, firstLine(per[p]))
				}
			}
			for _, p := range []string{"default", "https"} {
				for _, problem := range validateChatbot([]byte(per[p])) {
					t.Errorf("%s: %s", p, problem)
				}
			}
		})
	}
}

func TestSNSPublishForChatbotFitsSNS(t *testing.T) {
	t.Parallel()
	// A body at its own cap, repeated per protocol, would pass SNS's
	// 256 KiB: the plain copies are cut, the card is whole.
	m := notify.ForNoAction(tripContext, "x")
	m.Body = strings.Repeat("line of a very long report\n", 200*1024/27)
	api := &fakePublishAPI{}
	if err := notify.NewSNS(api, topic, notify.WithChatbot()).Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msg := aws.ToString(api.in[0].Message)
	if len(msg) > 256*1024 {
		t.Errorf("structured message is %d bytes, over SNS's 256 KiB", len(msg))
	}
	var per map[string]string
	if err := json.Unmarshal([]byte(msg), &per); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Body, strings.TrimSuffix(per["email"][:1000], "\n")) || !strings.Contains(per["email"], "[message cut to fit SNS") {
		t.Errorf("email copy is not the body's start with the cut notice")
	}
	if len(validateChatbot([]byte(per["default"]))) != 0 {
		t.Errorf("card damaged by the cut: %v", validateChatbot([]byte(per["default"])))
	}
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }
