// Package metrics is the one definition of the metrics the kill switch
// writes in CloudWatch embedded metric format (EMF): their namespace,
// names, units and dimensions. The function emits exactly these, and the
// stack's dashboard and alarms read exactly these, so the two cannot drift.
//
// The stack (infra) imports this package, so it stays a leaf: the standard
// library only, never the engine or the AWS SDK.
package metrics

import (
	"slices"
	"strings"
)

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "Killswitch"

// Unit is a CloudWatch unit, as EMF and the dashboard spell it.
type Unit string

const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	None         Unit = "None"
)

// Dimension names. Their values are bounded: a region in use, a kind of the
// kinds table, a verb a kind speaks.
const (
	DimRegion = "Region"
	DimKind   = "Kind"
	DimVerb   = "Verb"
)

// Metric is one CloudWatch metric: a name with its dimension set. The same
// name with another dimension set (RunningInstances in total and per
// Region) is another metric to CloudWatch, and so another Metric here.
type Metric struct {
	Name string
	Unit Unit
	// Dimensions are the dimension names; nil is the account total.
	Dimensions []string
	// Doc says what it counts, for the dashboard's readers and the docs.
	Doc string
}

// ID is the metric's name and dimension names, unique over All.
func (m Metric) ID() string {
	if len(m.Dimensions) == 0 {
		return m.Name
	}
	return m.Name + "/" + strings.Join(m.Dimensions, ",")
}

var byRegion = []string{DimRegion}

// The census, on every armed scheduled run: in total, and per region in
// use (regions with nothing running are left out, which bounds the records
// to the regions an owner or an attacker actually uses).
var (
	RunningInstances    = Metric{"RunningInstances", Count, nil, "running or pending EC2 instances, every region"}
	VCPUs               = Metric{"VCPUs", Count, nil, "vCPUs of those instances"}
	GPUs                = Metric{"GPUs", Count, nil, "GPUs and accelerators of those instances"}
	HourlyBurnUSD       = Metric{"HourlyBurnUSD", None, nil, "estimated on-demand USD per hour of those instances"}
	RegionsInUse        = Metric{"RegionsInUse", Count, nil, "regions with instances, Auto Scaling groups, ECS tasks or SageMaker compute"}
	CensusRegionsFailed = Metric{"CensusRegionsFailed", Count, nil, "regions the census could not read"}
	CensusAPICalls      = Metric{"CensusAPICalls", Count, nil, "API calls the census made (every page, every service)"}
	CensusDuration      = Metric{"CensusDuration", Milliseconds, nil, "the census's wall time"}

	RegionRunningInstances = Metric{"RunningInstances", Count, byRegion, "running or pending EC2 instances in the region"}
	RegionVCPUs            = Metric{"VCPUs", Count, byRegion, "vCPUs running in the region"}
	RegionGPUs             = Metric{"GPUs", Count, byRegion, "GPUs and accelerators running in the region"}
	RegionHourlyBurnUSD    = Metric{"HourlyBurnUSD", None, byRegion, "estimated USD per hour in the region"}
)

// ScheduledRuns is 1 on every run of the stack's schedule, the census's or
// (while tripped) the re-sweep's: the heartbeat whose absence means the
// schedule or the function is gone.
var ScheduledRuns = Metric{"ScheduledRuns", Count, nil, "runs of the schedule (census while armed, re-sweep while tripped)"}

// Every sweep: a trip's, or a re-sweep's.
var (
	Trips              = Metric{"Trips", Count, nil, "trips: sweeps started by a budget, an alarm, a census cap or a manual invoke (not dry runs)"}
	SweepDuration      = Metric{"SweepDuration", Milliseconds, nil, "the sweep's wall time"}
	ResourcesContained = Metric{"ResourcesContained", Count, nil, "resources the sweep contained (or, in a dry run, would have)"}
	SweepFailures      = Metric{"SweepFailures", Count, nil, "resources the sweep could not contain, or could not place"}
	SweepRegionsFailed = Metric{"SweepRegionsFailed", Count, nil, "regions the sweep could not reach or list in full"}

	ContainedByKindVerb = Metric{"ResourcesContained", Count, []string{DimKind, DimVerb}, "resources contained, by kind and by the verb the report uses"}
)

// The latch, whenever the run read or wrote it.
var (
	Tripped          = Metric{"Tripped", Count, nil, "1 while the switch is tripped, 0 while armed"}
	Resweeps         = Metric{"Resweeps", Count, nil, "scheduled re-sweeps since the trip"}
	RelaunchesCaught = Metric{"RelaunchesCaught", Count, nil, "resources the re-sweeps caught since the trip"}
)

// The daily self-test.
var (
	SelfTestPassed       = Metric{"SelfTestPassed", Count, nil, "1 when every check passed, 0 when any failed"}
	SelfTestChecksFailed = Metric{"SelfTestChecksFailed", Count, nil, "checks that failed"}
)

// All lists every metric, in the order of the definitions above.
func All() []Metric {
	return []Metric{
		RunningInstances, VCPUs, GPUs, HourlyBurnUSD, RegionsInUse, CensusRegionsFailed, CensusAPICalls, CensusDuration,
		RegionRunningInstances, RegionVCPUs, RegionGPUs, RegionHourlyBurnUSD,
		ScheduledRuns,
		Trips, SweepDuration, ResourcesContained, SweepFailures, SweepRegionsFailed, ContainedByKindVerb,
		Tripped, Resweeps, RelaunchesCaught,
		SelfTestPassed, SelfTestChecksFailed,
	}
}

// sameDimensions says whether the metric's dimension set is names.
func (m Metric) sameDimensions(names []string) bool {
	return slices.Equal(m.Dimensions, names) || len(m.Dimensions) == 0 && len(names) == 0
}
