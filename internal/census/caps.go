package census

import (
	"fmt"
	"sort"
	"strings"
)

// Caps are the owner's limits; the census trips the switch when any one is
// exceeded (observed > limit). Cap names are the cdk.json keys.
type Caps struct {
	MaxRunningInstances int
	MaxVCPUs            int
	MaxGPUs             int
	MaxHourlyBurnUSD    int
	MaxRegionsInUse     int
}

// Cap names, as in cdk.json and the report.
const (
	CapRunningInstances = "maxRunningInstances"
	CapVCPUs            = "maxVCPUs"
	CapGPUs             = "maxGPUs"
	CapHourlyBurnUSD    = "maxHourlyBurnUSD"
	CapRegionsInUse     = "maxRegionsInUse"
)

// Breach is one cap exceeded, with where the excess is.
type Breach struct {
	Cap      string  `json:"cap"`
	Observed float64 `json:"observed"`
	Limit    int     `json:"limit"`
	// Unit is what is counted, e.g. "GPU(s) running".
	Unit string `json:"unit"`
	// Regions and Types are where the counted quantity is, largest first,
	// as "name (amount)".
	Regions []string `json:"regions"`
	Types   []string `json:"types"`
}

// metric is one capped quantity: its total, and its amount per region and
// per instance type.
type metric struct {
	cap      string
	unit     string
	limit    int
	total    float64
	byRegion func(RegionCount) float64
	// perType is the quantity one instance of the type adds; nil for
	// regions in use, which counts every type once per instance.
	perType func(typ string) float64
}

// Evaluate lists every cap the census exceeds, in the order of Caps.
func (caps Caps) Evaluate(c *Census) []Breach {
	info := c.typeInfo
	metrics := []metric{
		{CapRunningInstances, "running instance(s)", caps.MaxRunningInstances, float64(c.Instances),
			func(r RegionCount) float64 { return float64(r.Instances) },
			func(string) float64 { return 1 }},
		{CapVCPUs, "vCPU(s) running", caps.MaxVCPUs, float64(c.VCPUs),
			func(r RegionCount) float64 { return float64(r.VCPUs) },
			func(t string) float64 { return float64(info(t).VCPUs) }},
		{CapGPUs, "GPU(s) running", caps.MaxGPUs, float64(c.GPUs),
			func(r RegionCount) float64 { return float64(r.GPUs) },
			func(t string) float64 { return float64(info(t).GPUs) }},
		{CapHourlyBurnUSD, "USD per hour estimated burn", caps.MaxHourlyBurnUSD, c.HourlyBurnUSD,
			func(r RegionCount) float64 { return r.HourlyBurnUSD },
			func(t string) float64 { return info(t).PriceUSD }},
		{CapRegionsInUse, "region(s) in use", caps.MaxRegionsInUse, float64(c.RegionsInUse),
			func(r RegionCount) float64 {
				if r.InUse() {
					return 1
				}
				return 0
			}, nil},
	}
	var out []Breach
	for _, m := range metrics {
		if m.total <= float64(m.limit) {
			continue
		}
		b := Breach{Cap: m.cap, Observed: m.total, Limit: m.limit, Unit: m.unit}
		type amount struct {
			name string
			n    float64
		}
		var regions, types []amount
		byType := map[string]float64{}
		for _, r := range c.Regions {
			n := m.byRegion(r)
			if m.perType == nil {
				// Regions in use: show what runs in each.
				if n > 0 {
					regions = append(regions, amount{r.Region, float64(r.Instances + r.ASGDesired + r.ECSTasks + r.SageMakerRunning)})
				}
			} else if n > 0 {
				regions = append(regions, amount{r.Region, n})
			}
			for typ, k := range r.Types {
				per := 1.0
				if m.perType != nil {
					per = m.perType(typ)
				}
				if per > 0 {
					byType[typ] += per * float64(k)
				}
			}
		}
		for typ, n := range byType {
			types = append(types, amount{typ, n})
		}
		for _, list := range [][]amount{regions, types} {
			sort.Slice(list, func(i, j int) bool {
				if list[i].n != list[j].n {
					return list[i].n > list[j].n
				}
				return list[i].name < list[j].name
			})
		}
		for _, a := range regions {
			b.Regions = append(b.Regions, fmt.Sprintf("%s (%s)", a.name, formatAmount(a.n)))
		}
		for _, a := range types {
			b.Types = append(b.Types, fmt.Sprintf("%s (%s)", a.name, formatAmount(a.n)))
		}
		out = append(out, b)
	}
	return out
}

// typeInfo is the information the census resolved for a type (from
// DescribeInstanceTypes, the table or an estimate); a census built by hand
// falls back to the table.
func (c *Census) typeInfo(typ string) TypeInfo {
	if c.types != nil {
		return c.types[typ]
	}
	return Prices[typ]
}

func formatAmount(n float64) string {
	if n == float64(int64(n)) {
		return fmt.Sprintf("%d", int64(n))
	}
	return fmt.Sprintf("%.2f", n)
}

// maxListed bounds the regions and types a line names.
const maxListed = 10

// Line says the breach in one line for the owner: the cap, the observed
// value, the limit, and where the excess is.
func (b Breach) Line() string {
	return fmt.Sprintf("census cap %s exceeded: %s %s, limit %d; regions: %s; instance types: %s",
		b.Cap, formatAmount(b.Observed), b.Unit, b.Limit, capped(b.Regions), capped(b.Types))
}

func capped(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	if len(list) > maxListed {
		return strings.Join(list[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(list)-maxListed)
	}
	return strings.Join(list, ", ")
}

// Summary is the census in one line, as logged on every run: the figures
// an owner reads to pick the caps.
func (c *Census) Summary() string {
	return fmt.Sprintf("%d running instance(s) (%d Spot), %d vCPU(s), %d GPU(s), about $%.2f/hour, %d region(s) in use of %d read; ASG desired %d, ECS tasks %d, SageMaker running %d",
		c.Instances, c.Spot, c.VCPUs, c.GPUs, c.HourlyBurnUSD, c.RegionsInUse, c.RegionsRead, c.ASGDesired, c.ECSTasks, c.SageMakerRunning)
}
