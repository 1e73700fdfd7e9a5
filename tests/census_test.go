package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/faultproxy"
	"github.com/killswitch/killswitch/tests/internal/money"
)

// scheduledEvent is exactly what the stack's schedule sends: the infra
// test TestScheduledEventFileIsTheTemplatesInput holds this file to the
// synthesised template's schedule input.
func scheduledEvent(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/scheduled-event.json")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// armLatch writes the stack's latch, armed, with the day's self-test
// already done (so a census test sees the census alone); selfTestDone
// false leaves the self-test due.
func armLatch(t *testing.T, r *rig, selfTestDone bool) {
	t.Helper()
	st := latch.State{}
	if selfTestDone {
		// Only as data: the self-test is due 24 hours after this.
		st.LastSelfTest = time.Now().UTC()
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(r.plain).PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(latchParameter),
		Value: aws.String(string(b)), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

// invokeIn runs the handler on a raw event with the engine, the census and
// the self-test limited to regions: moto lists 38, and a test about one
// cap need not read the empty ones.
func (r *rig) invokeIn(regions []string, event string) (*handler.Result, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewJSONHandler(testWriter{r.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return app.New(r.cfg, r.settings, log, app.WithFunctionName("killswitch"), app.WithRegions(regions)).Handler.Handle(ctx, json.RawMessage(event))
}

func censusRig(t *testing.T, plan attack.Plan, env map[string]string) *rig {
	t.Helper()
	vars := map[string]string{settings.EnvLatchParameter: latchParameter}
	for k, v := range env {
		vars[k] = v
	}
	r := newRig(t, plan, vars)
	armLatch(t, r, true)
	r.calls.Reset()
	return r
}

// The owner's normal use, two small instances in one region: the census
// counts them, publishes nothing and makes no mutating call, not even to
// the latch.
func TestCensusOverNormalUse(t *testing.T) {
	r := censusRig(t, attack.Plan{Regions: []string{"us-east-1"}, OwnerInstances: 2}, nil)
	res, err := r.invokeEvent(scheduledEvent(t))
	if err != nil {
		t.Fatalf("scheduled run: %v", err)
	}
	c := res.Census
	if c == nil {
		t.Fatal("no census taken")
	}
	if c.Instances != 2 || c.VCPUs != 4 || c.GPUs != 0 || c.RegionsInUse != 1 || c.RegionsFailed != 0 {
		t.Errorf("census = %s; want 2 instances, 4 vCPUs, no GPU, 1 region", c.Summary())
	}
	if c.TypeSource["t3.micro"] != "DescribeInstanceTypes" {
		t.Errorf("t3.micro sized from %q, want DescribeInstanceTypes (moto knows it)", c.TypeSource["t3.micro"])
	}
	if res.Tripped || res.Report != nil || len(res.Breaches) > 0 || res.Notified || res.SelfTest != nil {
		t.Errorf("normal use: tripped %v, report %v, breaches %v, notified %v, self-test %v; want none",
			res.Tripped, res.Report != nil, res.Breaches, res.Notified, res.SelfTest != nil)
	}
	for k, n := range r.calls.Mutating() {
		t.Errorf("the census made %d mutating %s %s call(s) in %s", n, k.Service, k.Operation, k.Region)
	}
	if d := r.calls.Calls("EC2", "", "DescribeInstances"); d != c.RegionsRead {
		t.Errorf("%d DescribeInstances calls over %d regions: want one paginated describe per region", d, c.RegionsRead)
	}
	st := r.states()
	for _, id := range r.seeded.Exempt {
		if st[id] != "running" {
			t.Errorf("owner instance %s: %s", id, st[id])
		}
	}
	if l := r.latch(); l.Tripped {
		t.Errorf("latch = %+v", l)
	}
}

// The attacker launches 300 GPU instances over 17 regions (Spot and
// protected ones among them). The schedule's next run, with the exact
// event the stack's schedule sends, trips on the census and contains them
// all, as a budget alert would: latch, report and all.
func TestCensusTripsOnTheOriginStory(t *testing.T) {
	plan := attack.OriginStory()
	plan.Instances = 300
	r := censusRig(t, plan, nil)
	res, err := r.invokeEvent(scheduledEvent(t))
	if err != nil {
		t.Fatalf("scheduled run: %v", err)
	}
	if !res.Tripped || res.Report == nil || res.Census == nil {
		t.Fatalf("the census did not trip: %+v", res)
	}
	c := res.Census
	if c.Instances != 302 || c.RegionsInUse != 17 || c.GPUs != 300 {
		t.Errorf("census = %s; want 302 instances (2 the owner's), 300 GPUs, 17 regions", c.Summary())
	}
	var caps []string
	for _, b := range res.Breaches {
		caps = append(caps, b.Cap)
	}
	if want := []string{census.CapRunningInstances, census.CapVCPUs, census.CapGPUs, census.CapHourlyBurnUSD, census.CapRegionsInUse}; fmt.Sprint(caps) != fmt.Sprint(want) {
		t.Errorf("caps crossed %v, want every default cap %v", caps, want)
	}
	checkOriginStoryContained(t, r)
	if got, want := count(res.Report, "EC2 instances", "stopped"), len(r.seeded.Attackers()); got != want {
		t.Errorf("report: stopped %d, want %d", got, want)
	}
	if l := r.latch(); !l.Tripped || !strings.Contains(l.Reason, "census cap maxGPUs exceeded (300, limit 0)") {
		t.Errorf("latch = %+v, want tripped by the census", l)
	}
	msgs := r.notify.receive(t, 1)
	for _, want := range []string{"KILLSWITCH TRIPPED", "census cap maxGPUs exceeded: 300 GPU(s) running, limit 0",
		"census cap maxRegionsInUse exceeded: 17 region(s) in use, limit 3", "p3.2xlarge", "g4dn.xlarge", "ap-east-1", "me-south-1", "THE SWITCH HOLDS"} {
		if !strings.Contains(msgs[0].Subject+"\n"+msgs[0].Body, want) {
			t.Errorf("report lacks %q:\n%s\n%s", want, msgs[0].Subject, msgs[0].Body)
		}
	}
	t.Logf("census of %d instances over %d regions (%d read): %v, %d calls; sweep %v; the whole run %d calls",
		c.Instances, c.RegionsInUse, c.RegionsRead, c.Duration.Round(time.Millisecond), c.Calls,
		res.Report.FinishedAt.Sub(res.Report.StartedAt).Round(time.Millisecond), r.calls.Calls("", "", ""))
}

// Each cap alone trips, and the report names it, the observed value, the
// limit, and the regions and instance types where the excess is. The
// attack: 4 × p3.2xlarge, 2 in each of 2 regions (32 vCPUs, 4 GPUs,
// $12.24 an hour).
func TestEachCapAloneTrips(t *testing.T) {
	loose := map[string]string{
		settings.EnvMaxRunningInstances: "1000", settings.EnvMaxVCPUs: "1000", settings.EnvMaxGPUs: "1000",
		settings.EnvMaxHourlyBurnUSD: "1000", settings.EnvMaxRegionsInUse: "10",
	}
	tests := []struct {
		env, limit, cap string
		want            []string
	}{
		{settings.EnvMaxRunningInstances, "3", census.CapRunningInstances, []string{"4 running instance(s), limit 3", "eu-west-1 (2), us-east-1 (2)", "p3.2xlarge (4)"}},
		{settings.EnvMaxVCPUs, "31", census.CapVCPUs, []string{"32 vCPU(s) running, limit 31", "eu-west-1 (16), us-east-1 (16)", "p3.2xlarge (32)"}},
		{settings.EnvMaxGPUs, "3", census.CapGPUs, []string{"4 GPU(s) running, limit 3", "eu-west-1 (2), us-east-1 (2)", "p3.2xlarge (4)"}},
		{settings.EnvMaxHourlyBurnUSD, "12", census.CapHourlyBurnUSD, []string{"12.24 USD per hour estimated burn, limit 12", "eu-west-1 (6.12), us-east-1 (6.12)", "p3.2xlarge (12.24)"}},
		{settings.EnvMaxRegionsInUse, "1", census.CapRegionsInUse, []string{"2 region(s) in use, limit 1", "eu-west-1 (2), us-east-1 (2)", "p3.2xlarge (4)"}},
	}
	for _, tc := range tests {
		t.Run(tc.cap, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range loose {
				env[k] = v
			}
			env[tc.env] = tc.limit
			regions := []string{"us-east-1", "eu-west-1"}
			r := censusRig(t, attack.Plan{Regions: regions, Instances: 4, PerLaunch: 2}, env)
			res, err := r.invokeIn(regions, scheduledEvent(t))
			if err != nil {
				t.Fatalf("scheduled run: %v", err)
			}
			if !res.Tripped || len(res.Breaches) != 1 || res.Breaches[0].Cap != tc.cap {
				t.Fatalf("tripped %v on %+v, want %s alone", res.Tripped, res.Breaches, tc.cap)
			}
			if got := count(res.Report, "EC2 instances", "stopped"); got != 4 {
				t.Errorf("stopped %d, want the 4 instances", got)
			}
			msgs := r.notify.receive(t, 1)
			for _, want := range append([]string{"census cap " + tc.cap + " exceeded"}, tc.want...) {
				if !strings.Contains(msgs[0].Body, want) {
					t.Errorf("report lacks %q:\n%s", want, msgs[0].Body)
				}
			}
		})
	}
}

// DescribeInstanceTypes failing in every region (here UnauthorizedOperation
// from the fault proxy) never stops the census: it sizes the instances from
// the embedded table, trips and contains. One peer failed open on exactly
// this. g4dn.xlarge is a type moto's DescribeInstanceTypes knows, so
// without the fault it would be sized from the call.
func TestCensusTripsWhenDescribeInstanceTypesFails(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1", "ap-east-1"}
	r := censusRig(t, attack.Plan{Regions: regions, Instances: 6, SpotEvery: 1}, nil)
	p := behindProxy(t, r, faultproxy.Config{FailOperations: map[string]string{"DescribeInstanceTypes": "UnauthorizedOperation"}}, awsconfig.Options{})
	res, err := r.invokeIn(regions, scheduledEvent(t))
	if err != nil {
		t.Fatalf("scheduled run: %v", err)
	}
	if failed := p.Sum("ec2", "", "DescribeInstanceTypes").Failed; failed == 0 {
		t.Fatal("the proxy failed no DescribeInstanceTypes call: the test proves nothing")
	}
	c := res.Census
	if c == nil || c.TypeSource["g4dn.xlarge"] != "table" || c.GPUs != 6 {
		t.Fatalf("census = %+v; want g4dn.xlarge sized from the table, 6 GPUs", c)
	}
	gap := false
	for _, g := range c.Gaps {
		gap = gap || strings.Contains(g, "DescribeInstanceTypes") && strings.Contains(g, "UnauthorizedOperation")
	}
	if !gap {
		t.Errorf("no gap names the failed DescribeInstanceTypes: %q", c.Gaps)
	}
	if !res.Tripped || len(res.Breaches) == 0 {
		t.Fatalf("did not trip: %+v", res.Breaches)
	}
	running, err := attack.RunningByRegion(context.Background(), r.plain, regions)
	if err != nil {
		t.Fatal(err)
	}
	for region, n := range running {
		if n > 0 {
			t.Errorf("%s: %d instance(s) still running", region, n)
		}
	}
	r.notify.receive(t, 1)
}

// The money simulation: the origin story at the 5-minute default loses
// under $100 on the census path, and far more on the budget's.
func TestMoneySimulation(t *testing.T) {
	res, err := money.Simulate(context.Background(), money.Origin(motoServer.URL))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.Table(&b)
	t.Log("\n" + b.String())
	censusRow := res.CensusDefault()
	if censusRow.Path == "" || censusRow.WorstUSD <= 0 || censusRow.WorstUSD >= 100 {
		t.Errorf("census path at the default loses $%.2f in the worst case, want under $100", censusRow.WorstUSD)
	}
	if res.Rows[0].WorstUSD < 100*censusRow.WorstUSD {
		t.Errorf("budget path $%.0f vs census $%.2f: the census should save orders of magnitude", res.Rows[0].WorstUSD, censusRow.WorstUSD)
	}
	if d := res.Measured.CensusBurnUSD - res.BurnUSD; d < 0 || d > 1 {
		t.Errorf("the census estimated $%.2f/hour, the scenario burns $%.2f/hour (plus the owner's two small instances)", res.Measured.CensusBurnUSD, res.BurnUSD)
	}
}
