package notify_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/notify"
)

var (
	stop = engine.Verb{Past: "stopped", Plan: "stop", Note: "their disks (EBS) are kept"}
	term = engine.Verb{Past: "terminated", Plan: "terminate"}
	none = engine.Verb{} // refused
)

// planned is what the scripted kind does to one instance.
type planned struct {
	id     string
	action engine.Verb // none: refused
	status engine.Status
	code   string
}

// scriptedKind replays a script per region through the real engine, so the
// report's totals are the engine's own.
type scriptedKind struct {
	script  map[string][]planned
	findErr map[string]error
}

func (*scriptedKind) Name() string { return "EC2 instances" }
func (*scriptedKind) Noun() string { return "instance" }

func (k *scriptedKind) Find(_ context.Context, region string) ([]engine.Resource, error) {
	if err := k.findErr[region]; err != nil {
		return nil, err
	}
	var out []engine.Resource
	for _, p := range k.script[region] {
		out = append(out, engine.Resource{ID: p.id, State: "running", Attributes: map[string]string{"region": region}})
	}
	return out, nil
}

func (k *scriptedKind) lookup(r engine.Resource) planned {
	for _, p := range k.script[r.Attributes["region"]] {
		if p.id == r.ID {
			return p
		}
	}
	panic("unknown " + r.ID)
}

func (k *scriptedKind) Decide(r engine.Resource) engine.Decision {
	p := k.lookup(r)
	if p.action == none {
		return engine.Leave(r, "exempt by ID at deploy time")
	}
	return engine.Act(r, p.action, "scripted")
}

func (k *scriptedKind) Contain(_ context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	var outs []engine.Outcome
	for _, d := range todo {
		p := k.lookup(d.Resource)
		o := engine.Outcome{ID: p.id, Verb: p.action, Status: p.status, Code: p.code}
		if p.status == engine.StatusFailed {
			o.Message = p.code + ": fake failure"
		}
		outs = append(outs, o)
	}
	return outs
}

type regionList []string

func (r regionList) EnabledRegions(context.Context) ([]string, error) { return r, nil }

func sweep(t *testing.T, regions []string, k *scriptedKind, p engine.Policy) *engine.Report {
	t.Helper()
	return engine.New(regionList(regions), []engine.Kind{k}, engine.Options{}).Run(context.Background(), p)
}

func instances(prefix string, n int, action engine.Verb, status engine.Status) []planned {
	out := make([]planned, n)
	for i := range out {
		out[i] = planned{id: fmt.Sprintf("i-%s%015x", prefix, i), action: action, status: status}
	}
	return out
}

var tripContext = notify.Context{
	Account:  "111122223333",
	Triggers: []string{`AWS Budgets "killswitch-monthly": ACTUAL $4,812.37 over the $10.00 threshold`},
}

var printableASCII = regexp.MustCompile(`^[\x20-\x7e]+$`)

func checkSubject(t *testing.T, s string) {
	t.Helper()
	if len(s) > 100 || !printableASCII.MatchString(s) {
		t.Errorf("subject %q: want 1-100 printable ASCII characters", s)
	}
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("body lacks %q\n---\n%s", w, body)
		}
	}
}

func TestForReportNormalTrip(t *testing.T) {
	t.Parallel()
	k := &scriptedKind{script: map[string][]planned{
		"us-east-1":  append(instances("a", 7, stop, engine.StatusDone), instances("b", 2, term, engine.StatusDone)...),
		"ap-south-2": instances("c", 3, stop, engine.StatusDone),
		"eu-west-1":  {{id: "i-0exempt000000001", action: none}},
	}}
	rep := sweep(t, []string{"us-east-1", "ap-south-2", "eu-west-1", "us-west-2"}, k, engine.Policy{})

	m := notify.ForReport(tripContext, rep)

	checkSubject(t, m.Subject)
	if !strings.Contains(m.Subject, "contained 12") || strings.Contains(m.Subject, "ACTION NEEDED") {
		t.Errorf("subject %q", m.Subject)
	}
	mustContain(t, m.Body,
		"Account: 111122223333",
		tripContext.Triggers[0],
		"EC2 instances: 10 stopped, 2 terminated",
		"stopped: their disks (EBS) are kept",
		"Left alone on purpose: 1",
		"i-0exempt000000001 (eu-west-1): exempt by ID",
		"BY REGION",
		"us-east-1", "ap-south-2",
		"1 other region(s): nothing running.",
		"WHAT TO DO NEXT", "MFA", "IAM", "AWS Support",
	)
	if strings.Contains(m.Body, "WHAT FAILED") {
		t.Error("body has a failure section for a clean sweep")
	}
	// The busiest region comes first.
	if strings.Index(m.Body, "us-east-1") > strings.Index(m.Body, "ap-south-2") {
		t.Error("regions are not ordered most affected first")
	}
	if !utf8.ValidString(m.Body) {
		t.Error("body is not valid UTF-8")
	}
}

func TestForReportFailures(t *testing.T) {
	t.Parallel()
	k := &scriptedKind{
		script: map[string][]planned{
			"us-east-1": append(instances("a", 4, stop, engine.StatusDone),
				planned{id: "i-0badbadbadbadbad1", action: stop, status: engine.StatusFailed, code: "UnauthorizedOperation"}),
		},
		findErr: map[string]error{"me-central-1": errors.New("AuthFailure: not enabled")},
	}
	rep := sweep(t, []string{"us-east-1", "me-central-1"}, k, engine.Policy{})

	m := notify.ForReport(tripContext, rep)

	checkSubject(t, m.Subject)
	if !strings.Contains(m.Subject, "ACTION NEEDED") {
		t.Errorf("subject %q does not say ACTION NEEDED", m.Subject)
	}
	mustContain(t, m.Body,
		"INCOMPLETE",
		"WHAT FAILED",
		"me-central-1: EC2 instances NOT SWEPT",
		"AuthFailure",
		"instance i-0badbadbadbadbad1 (us-east-1): stop failed",
		"UnauthorizedOperation",
		"NOT SWEPT",
	)
}

func TestForReportDryRun(t *testing.T) {
	t.Parallel()
	k := &scriptedKind{script: map[string][]planned{
		"us-east-1": append(instances("a", 5, stop, engine.StatusDone), instances("b", 1, term, engine.StatusDone)...),
	}}
	rep := sweep(t, []string{"us-east-1"}, k, engine.Policy{DryRun: true})

	m := notify.ForReport(tripContext, rep)

	checkSubject(t, m.Subject)
	if !strings.Contains(m.Subject, "DRY RUN") || !strings.Contains(m.Subject, "6") {
		t.Errorf("subject %q", m.Subject)
	}
	mustContain(t, m.Body, "nothing was changed", "EC2 instances: 5 would stop, 1 would terminate")
	if strings.Contains(m.Body, " stopped") {
		t.Error("dry-run body claims instances were stopped")
	}
}

func TestForReportNothingFound(t *testing.T) {
	t.Parallel()
	rep := sweep(t, []string{"us-east-1", "eu-west-1"}, &scriptedKind{}, engine.Policy{})

	m := notify.ForReport(tripContext, rep)

	checkSubject(t, m.Subject)
	if !strings.Contains(m.Subject, "nothing new") {
		t.Errorf("subject %q", m.Subject)
	}
	mustContain(t, m.Body, "nothing new to contain", "2 other region(s): nothing running.")
}

func TestForReportDiscoveryFailureIsListed(t *testing.T) {
	t.Parallel()
	rep := sweep(t, []string{"us-east-1"}, &scriptedKind{script: map[string][]planned{"us-east-1": instances("a", 1, stop, engine.StatusDone)}}, engine.Policy{})
	rep.RegionDiscoveryError = "listing enabled regions (ec2:DescribeRegions): AccessDenied"

	m := notify.ForReport(tripContext, rep)

	mustContain(t, m.Body, "WHAT FAILED", "built-in list", "AccessDenied")
}

func TestForReportHugeSweepStaysSmall(t *testing.T) {
	t.Parallel()
	// 10,000 instances over 30 regions: per region 300 stopped, 10
	// refused, 16 failed; then 20 more failures and 200 terminated.
	script := map[string][]planned{}
	var regions []string
	failing := func(prefix string, n int) []planned {
		out := instances(prefix, n, stop, engine.StatusFailed)
		for i := range out {
			out[i].code = "InsufficientInstanceCapacity"
		}
		return out
	}
	for r := range 30 {
		region := fmt.Sprintf("xx-region-%02d", r)
		regions = append(regions, region)
		script[region] = append(script[region], instances(fmt.Sprintf("a%02x", r), 300, stop, engine.StatusDone)...)
		script[region] = append(script[region], instances(fmt.Sprintf("b%02x", r), 10, none, "")...)
		script[region] = append(script[region], failing(fmt.Sprintf("c%02x", r), 16)...)
	}
	script[regions[1]] = append(script[regions[1]], failing("d00", 20)...)
	script[regions[0]] = append(script[regions[0]], instances("e00", 200, term, engine.StatusDone)...)
	rep := sweep(t, regions, &scriptedKind{script: script}, engine.Policy{})
	want := engine.Totals{Regions: 30, Found: 10000, Changed: 9200, Refused: 300, Failed: 500,
		ByLabel: map[string]int{"stopped": 9000, "terminated": 200, "failed": 500}}
	if !reflect.DeepEqual(rep.Totals, want) {
		t.Fatalf("fixture totals = %+v, want %+v", rep.Totals, want)
	}

	m := notify.ForReport(tripContext, rep)

	checkSubject(t, m.Subject)
	if len(m.Body) >= 256*1024 {
		t.Errorf("body is %d bytes, over SNS's 256 KB", len(m.Body))
	}
	if len(m.Body) > 64*1024 {
		t.Errorf("body is %d bytes: lists are not capped", len(m.Body))
	}
	mustContain(t, m.Body,
		"... and 480 more", // failures
		"... and 280 more", // refused
	)
	if n := strings.Count(m.Body, "InsufficientInstanceCapacity"); n > 20 {
		t.Errorf("%d failure lines listed, want at most 20", n)
	}
}

func TestForNoAction(t *testing.T) {
	t.Parallel()
	c := notify.Context{Account: "111122223333", Triggers: []string{"AWS Budgets: FORECASTED $12.50; forecast only, no action"}}

	m := notify.ForNoAction(c, "budget alert received, no action taken")

	checkSubject(t, m.Subject)
	if !strings.Contains(m.Subject, "no action") {
		t.Errorf("subject %q", m.Subject)
	}
	mustContain(t, m.Body, "NO action", "Account: 111122223333", c.Triggers[0], "Nothing was stopped or terminated")
}

func TestSubjectIsCleaned(t *testing.T) {
	t.Parallel()
	m := notify.ForNoAction(notify.Context{}, "tripped\nby \x00 \u00e9v\u00e9nement "+strings.Repeat("x", 200))
	checkSubject(t, m.Subject)
	if strings.ContainsAny(m.Subject, "\n\x00") {
		t.Errorf("subject %q keeps control characters", m.Subject)
	}
}

func TestForReportCapsRegionTable(t *testing.T) {
	t.Parallel()
	script := map[string][]planned{}
	var regions []string
	for r := range 45 {
		region := fmt.Sprintf("xx-region-%02d", r)
		regions = append(regions, region)
		script[region] = instances(fmt.Sprintf("%02x", r), 1, stop, engine.StatusDone)
	}
	rep := sweep(t, regions, &scriptedKind{script: script}, engine.Policy{})

	m := notify.ForReport(tripContext, rep)

	mustContain(t, m.Body, "... and 5 more region(s)")
	if n := strings.Count(m.Body, "xx-region-"); n != 40 {
		t.Errorf("%d region rows, want 40", n)
	}
}

func TestForReportSaysFallbackAndSkippedRegions(t *testing.T) {
	t.Parallel()
	rep := &engine.Report{FallbackSweep: true, RegionDiscoveryError: "hung", SkippedRegions: []string{"eu-south-2", "me-central-1"},
		Regions: []engine.RegionReport{{Region: "us-east-1"}}}
	rep.Retally()
	body := notify.ForReport(notify.Context{}, rep).Body
	if !strings.Contains(body, "region(s) of the built-in list") || strings.Contains(body, "enabled region(s)") {
		t.Errorf("a fallback sweep must not say enabled regions:\n%s", body)
	}
	if n := strings.Count(body, "eu-south-2"); n != 1 || !strings.Contains(body, "skipRegions") {
		t.Errorf("skipped regions named %d time(s), want once with the knob:\n%s", n, body)
	}
}
