package manifest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/killswitch/killswitch/internal/engine"
)

// RestoreReport is what a restore did, or would do, per region and kind.
type RestoreReport struct {
	Trip     string        `json:"trip"`
	Manifest string        `json:"manifest"`
	DryRun   bool          `json:"dryRun"`
	Kinds    []RestoreKind `json:"kinds"`
	// Totals counts the results by status.
	Totals map[engine.RestoreStatus]int `json:"totals"`
}

// RestoreKind is one kind's restore in one region.
type RestoreKind struct {
	Region  string                 `json:"region"`
	Kind    string                 `json:"kind"`
	Results []engine.RestoreResult `json:"results"`
}

// Err is non-nil when an item's restore failed.
func (r *RestoreReport) Err() error {
	if n := r.Totals[engine.RestoreFailed]; n > 0 {
		return fmt.Errorf("%d item(s) could not be restored", n)
	}
	return nil
}

// Pending counts the items a restore would change (or changed).
func (r *RestoreReport) Pending() int {
	return r.Totals[engine.RestorePlanned] + r.Totals[engine.RestoreDone]
}

// restoreConcurrency bounds the regions restored at once; each region's
// kinds run one after the other, in reverse containment order.
const restoreConcurrency = 8

// Restore puts back what the trip changed, with the kinds of this build
// (matched by name). Within a region the kinds go in the reverse of their
// containment order (instances before the groups that launch them), and
// the account-wide kinds (the quarantine) go last, so a restore cut short
// leaves the quarantine holding.
func Restore(ctx context.Context, t *Trip, kinds []engine.Kind, dryRun bool) *RestoreReport {
	rep := &RestoreReport{Trip: t.ID, Manifest: t.Location, DryRun: dryRun, Totals: map[engine.RestoreStatus]int{}}
	items := t.Items()
	byName := map[string]engine.Kind{}
	rank := map[string]int{}
	for i, k := range kinds {
		byName[k.Name()] = k
		rank[k.Name()] = i
	}

	var regions []string
	for r := range items {
		if r != engine.GlobalRegion {
			regions = append(regions, r)
		}
	}
	sort.Strings(regions)
	if _, ok := items[engine.GlobalRegion]; ok {
		regions = append(regions, engine.GlobalRegion)
	}

	perRegion := make([][]RestoreKind, len(regions))
	sem := make(chan struct{}, restoreConcurrency)
	var wg sync.WaitGroup
	for i, region := range regions {
		if region == engine.GlobalRegion {
			continue // after every region, below
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			perRegion[i] = restoreRegion(ctx, region, items[region], byName, rank, dryRun)
		}()
	}
	wg.Wait()
	if n := len(regions); n > 0 && regions[n-1] == engine.GlobalRegion {
		perRegion[n-1] = restoreRegion(ctx, engine.GlobalRegion, items[engine.GlobalRegion], byName, rank, dryRun)
	}
	for _, ks := range perRegion {
		for _, k := range ks {
			rep.Kinds = append(rep.Kinds, k)
			for _, res := range k.Results {
				rep.Totals[res.Status]++
			}
		}
	}
	return rep
}

func restoreRegion(ctx context.Context, region string, kinds map[string][]engine.RestoreItem, byName map[string]engine.Kind, rank map[string]int, dryRun bool) []RestoreKind {
	var names []string
	for name := range kinds {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, iok := rank[names[i]]
		rj, jok := rank[names[j]]
		if iok != jok {
			return iok // kinds this build knows first; unknown ones last
		}
		if ri != rj {
			return ri > rj
		}
		return names[i] < names[j]
	})
	var out []RestoreKind
	for _, name := range names {
		out = append(out, RestoreKind{Region: region, Kind: name,
			Results: restoreKind(ctx, region, name, byName[name], kinds[name], dryRun)})
	}
	return out
}

// restoreKind runs one kind's Restore and makes sure every item comes back
// with a result, as the engine does for Contain.
func restoreKind(ctx context.Context, region, name string, k engine.Kind, items []engine.RestoreItem, dryRun bool) (out []engine.RestoreResult) {
	if k == nil {
		for _, it := range items {
			out = append(out, engine.LeftAlone(it.ID, fmt.Sprintf("not restored: this build has no kind %q; restore it by hand (prior state: %s)", name, it.Prior.Describe())))
		}
		return out
	}
	r, ok := k.(engine.Restorer)
	if !ok {
		for _, it := range items {
			out = append(out, engine.LeftAlone(it.ID, fmt.Sprintf("not restored automatically: the restore does not undo %s; prior state: %s", name, it.Prior.Describe())))
		}
		return out
	}
	defer func() {
		if p := recover(); p != nil {
			out = nil
			for _, it := range items {
				out = append(out, engine.RestoreFailure(it.ID, "", fmt.Sprintf("internal error restoring %s in %s: %v", name, region, p)))
			}
		}
	}()
	out = r.Restore(ctx, region, items, dryRun)
	seen := map[string]bool{}
	for _, res := range out {
		seen[res.ID] = true
	}
	for _, it := range items {
		if !seen[it.ID] {
			out = append(out, engine.RestoreFailure(it.ID, "", fmt.Sprintf("%s returned no result for %s in %s", name, it.ID, region)))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
