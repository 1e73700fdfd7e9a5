package resources_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/killswitch/killswitch/internal/engine"
)

// computeRegion is the one region the compute kinds' unit tests sweep.
const computeRegion = "eu-west-1"

type oneRegion struct{}

func (oneRegion) EnabledRegions(context.Context) ([]string, error) {
	return []string{computeRegion}, nil
}

// sweepKind runs the real engine over one kind in one region and returns
// that kind's report.
func sweepKind(t *testing.T, k engine.Kind, p engine.Policy) engine.KindReport {
	t.Helper()
	rep := engine.New(oneRegion{}, []engine.Kind{k}, engine.Options{}).Run(context.Background(), p)
	if len(rep.Regions) != 1 || len(rep.Regions[0].Kinds) != 1 {
		t.Fatalf("report has %d regions, want 1 with 1 kind: %+v", len(rep.Regions), rep.Regions)
	}
	return rep.Regions[0].Kinds[0]
}

// outcomesByID indexes a kind report's outcomes.
func outcomesByID(kr engine.KindReport) map[string]engine.Outcome {
	m := map[string]engine.Outcome{}
	for _, o := range kr.Outcomes {
		m[o.ID] = o
	}
	return m
}

// cpage serves items[from:from+size] for a NextToken "<from>", so every
// compute fake pages the same way; size <= 0 means 2, small enough that
// the tests cross pages.
func cpage[T any](items []T, token *string, size int) ([]T, *string) {
	from, _ := strconv.Atoi(aws.ToString(token))
	if size <= 0 {
		size = 2
	}
	from = min(from, len(items))
	to := min(from+size, len(items))
	var next *string
	if to < len(items) {
		next = aws.String(strconv.Itoa(to))
	}
	return items[from:to], next
}

// wantOutcome checks one outcome's status, verb and code.
func wantOutcome(t *testing.T, got map[string]engine.Outcome, id string, status engine.Status, verb engine.Verb, code string) engine.Outcome {
	t.Helper()
	o, ok := got[id]
	if !ok {
		t.Fatalf("no outcome for %s; have %v", id, got)
	}
	if o.Status != status || o.Verb != verb || o.Code != code {
		t.Errorf("%s: got status %q verb %q code %q (%s), want %q %q %q", id, o.Status, o.Verb.Past, o.Code, o.Message, status, verb.Past, code)
	}
	return o
}
