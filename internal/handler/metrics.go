package handler

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/killswitch/killswitch/internal/metrics"
	"github.com/killswitch/killswitch/internal/trigger"
)

// Handle classifies the event and, if it trips, contains the account (see
// handle), then writes the run's metrics. They are written in this one
// place, from the Result, so that every path (trip, census, re-sweep,
// self-test, disarm) reports what it did the same way, errors included.
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (*Result, error) {
	res, err := h.handle(ctx, event)
	h.emitMetrics(res)
	return res, err
}

func (h *Handler) emitMetrics(res *Result) {
	if h.cfg.Metrics == nil || res == nil {
		return
	}
	// A metric that cannot be written costs the dashboard a point, never
	// the run its result.
	if _, err := h.cfg.Metrics.Emit(Records(res)); err != nil {
		h.log.Warn("could not write the run's metrics", "error", err)
	}
}

// Records are the run's metrics: one record of account totals, one per
// region in use, one per kind and verb contained. Their number is bounded
// by the regions in use and the kinds table, never by the resources.
func Records(res *Result) []metrics.Record {
	var total []metrics.Value
	add := func(m metrics.Metric, v float64) { total = append(total, metrics.Value{Metric: m, Value: v}) }
	var out []metrics.Record

	for _, t := range res.Triggers {
		if t.Source == trigger.SourceSchedule {
			add(metrics.ScheduledRuns, 1)
			break
		}
	}
	if c := res.Census; c != nil {
		add(metrics.RunningInstances, float64(c.Instances))
		add(metrics.VCPUs, float64(c.VCPUs))
		add(metrics.GPUs, float64(c.GPUs))
		add(metrics.HourlyBurnUSD, c.HourlyBurnUSD)
		add(metrics.RegionsInUse, float64(c.RegionsInUse))
		add(metrics.CensusRegionsFailed, float64(c.RegionsFailed))
		add(metrics.CensusAPICalls, float64(c.Calls))
		add(metrics.CensusDuration, float64(c.Duration.Milliseconds()))
		for _, r := range c.Regions {
			if !r.InUse() {
				continue
			}
			out = append(out, metrics.Record{
				Dimensions: []metrics.Dim{{Name: metrics.DimRegion, Value: r.Region}},
				Values: []metrics.Value{
					{Metric: metrics.RegionRunningInstances, Value: float64(r.Instances)},
					{Metric: metrics.RegionVCPUs, Value: float64(r.VCPUs)},
					{Metric: metrics.RegionGPUs, Value: float64(r.GPUs)},
					{Metric: metrics.RegionHourlyBurnUSD, Value: r.HourlyBurnUSD},
				},
			})
		}
	}
	if rep := res.Report; rep != nil {
		if res.Tripped && !rep.DryRun {
			add(metrics.Trips, 1)
		}
		add(metrics.SweepDuration, float64(rep.FinishedAt.Sub(rep.StartedAt).Milliseconds()))
		add(metrics.ResourcesContained, float64(rep.Totals.Changed))
		add(metrics.SweepFailures, float64(rep.Totals.Failed+rep.Totals.Unplaced))
		add(metrics.SweepRegionsFailed, float64(rep.Totals.RegionsFailed))
		type kindVerb struct{ kind, verb string }
		counts := map[kindVerb]int{}
		for _, rr := range rep.Regions {
			for _, kr := range rr.Kinds {
				for _, o := range kr.Outcomes {
					if o.Changed() {
						// The report's own words: "stopped", "scaled to 0",
						// "would stop" in a dry run.
						counts[kindVerb{kr.Kind, o.Label()}]++
					}
				}
			}
		}
		keys := make([]kindVerb, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].kind != keys[j].kind {
				return keys[i].kind < keys[j].kind
			}
			return keys[i].verb < keys[j].verb
		})
		for _, k := range keys {
			out = append(out, metrics.Record{
				Dimensions: []metrics.Dim{{Name: metrics.DimKind, Value: k.kind}, {Name: metrics.DimVerb, Value: k.verb}},
				Values:     []metrics.Value{{Metric: metrics.ContainedByKindVerb, Value: float64(counts[k])}},
			})
		}
	}
	if st := res.Latch; st != nil {
		tripped := 0.0
		if st.Tripped {
			tripped = 1
		}
		add(metrics.Tripped, tripped)
		add(metrics.Resweeps, float64(st.Resweeps))
		add(metrics.RelaunchesCaught, float64(st.Relaunches))
	}
	if r := res.SelfTest; r != nil {
		failed := len(r.Failed())
		passed := 0.0
		if failed == 0 {
			passed = 1
		}
		add(metrics.SelfTestPassed, passed)
		add(metrics.SelfTestChecksFailed, float64(failed))
	}
	if len(total) == 0 {
		return out
	}
	return append([]metrics.Record{{Values: total}}, out...)
}
