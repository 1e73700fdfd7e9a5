package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/notify"
	"github.com/killswitch/killswitch/internal/resources"
)

// widgets is a kind the engine, the report and the email have never heard
// of: its own name, noun, verbs and prior state. If it shows up everywhere
// below, adding a kind needs no change to the core.
type widgets struct{}

type widgetPrior struct {
	Speed int `json:"speed"`
}

func (p widgetPrior) Describe() string { return fmt.Sprintf("speed %d", p.Speed) }

var (
	verbBrake  = engine.Verb{Past: "braked to 0", Plan: "brake to 0", Note: "spin them up again with the restore"}
	verbUnplug = engine.Verb{Past: "unplugged", Plan: "unplug"}
)

func (widgets) Name() string { return "Whirling widgets" }
func (widgets) Noun() string { return "widget" }

func (widgets) Find(_ context.Context, region string) ([]engine.Resource, error) {
	if region != "us-east-1" {
		return nil, nil
	}
	var out []engine.Resource
	for i, id := range []string{"w-fast", "w-faster", "w-broken", "w-owner"} {
		out = append(out, engine.Resource{ID: id, State: "whirling", Prior: widgetPrior{Speed: 100 * (i + 1)}})
	}
	return out, nil
}

func (widgets) Decide(r engine.Resource) engine.Decision {
	if r.ID == "w-faster" {
		return engine.Act(r, verbUnplug, "too fast to brake")
	}
	return engine.Act(r, verbBrake, "widgets are braked")
}

func (widgets) Contain(_ context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	var out []engine.Outcome
	for _, d := range todo {
		o := engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusDone, Prior: d.Resource.Prior}
		if d.Resource.ID == "w-broken" {
			o.Status, o.Code, o.Message = engine.StatusFailed, "WidgetJammed", "the brake is jammed"
		}
		out = append(out, o)
	}
	return out
}

type twoRegions struct{}

func (twoRegions) EnabledRegions(context.Context) ([]string, error) {
	return []string{"us-east-1", "eu-west-1"}, nil
}

// A fake kind registered next to EC2 instances reaches the JSON report, the
// email and the per-region table with its own words, through the real
// engine, report and notify code.
func TestAFakeKindFlowsThroughReportAndEmail(t *testing.T) {
	t.Parallel()
	f := newFakeEC2()
	// The fake serves this instance in every region: two stops.
	f.pages = [][]types.Reservation{{{Instances: []types.Instance{running("i-0123456789abcdef0")}}}}
	kinds := []engine.Kind{widgets{}, kindWith(f, pol{Action: resources.VerbStopInstance, OverrideProtection: true})}
	eng := engine.New(twoRegions{}, kinds, engine.Options{})

	rep := eng.Run(context.Background(), engine.Policy{Exempt: map[string]string{"w-owner": "KILLSWITCH_EXEMPT_NAMES"}})

	// The JSON report: the kind's verbs, its prior state, its failure.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	for _, want := range []string{`"kind":"Whirling widgets"`, `"past":"braked to 0"`, `"past":"unplugged"`, `"prior":{"speed":100}`,
		`"code":"WidgetJammed"`, `"id":"w-owner"`, `"past":"stopped"`, `"prior":{"state":"running"`} {
		if !strings.Contains(js, want) {
			t.Errorf("JSON report lacks %s", want)
		}
	}
	if rep.Totals.ByLabel["braked to 0"] != 1 || rep.Totals.ByLabel["unplugged"] != 1 || rep.Totals.ByLabel["stopped"] != 2 ||
		rep.Totals.Failed != 1 || rep.Totals.Refused != 1 || rep.Totals.Changed != 4 {
		t.Errorf("totals = %+v", rep.Totals)
	}

	// The email: per kind, the per-region table, the failure, the exemption.
	m := notify.ForReport(notify.Context{Triggers: []string{"test"}}, rep)
	for _, want := range []string{
		"Whirling widgets: 1 braked to 0, 1 failed, 1 unplugged",
		"braked to 0: spin them up again with the restore",
		"EC2 instances: 2 stopped",
		"us-east-1             5         3      1     1  1 braked to 0, 1 stopped, 1 unplugged",
		"widget w-broken (us-east-1): brake to 0 failed: the brake is jammed",
		"w-owner (us-east-1): exempt by ID at deploy time (KILLSWITCH_EXEMPT_NAMES)",
		"killswitch swept 2 kind(s) of resource in every region",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("email lacks %q\n---\n%s", want, m.Body)
		}
	}
	if !strings.Contains(m.Subject, "ACTION NEEDED") {
		t.Errorf("subject %q: a failed widget must ask for action", m.Subject)
	}

	// A dry run speaks the same verbs in the future.
	dry := eng.Run(context.Background(), engine.Policy{DryRun: true})
	dm := notify.ForReport(notify.Context{}, dry)
	if !strings.Contains(dm.Body, "Whirling widgets: 3 would brake to 0, 1 would unplug") || !strings.Contains(dm.Subject, "would contain 6 resource(s) in 2 region(s)") {
		t.Errorf("dry run email:\n%s\n%s", dm.Subject, dm.Body)
	}
}
