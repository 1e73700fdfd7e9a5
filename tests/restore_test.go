package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/cli"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/handler"
	"github.com/killswitch/killswitch/internal/manifest"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/attack"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// manifestBucket is the stack's manifest bucket as named in moto's account.
var manifestBucket = guard.Resolve(guard.ManifestBucketName, "aws", moto.Region, motoAccount)

// restoreRig is the rig plus the manifest bucket, the latch and the
// quarantine policy, as the stack creates them.
type restoreRig struct {
	*rig
	env map[string]string // the KILLSWITCH_* variables the function has
}

// newRestoreRig seeds a small false alarm: instances in two regions (two of
// them the owner's, exempt by ID), an Auto Scaling group with a process the
// owner had suspended, and in eu-west-1 an ECS service, an EKS node group,
// a Batch environment and a function with reserved concurrency.
func newRestoreRig(t *testing.T, extra map[string]string) *restoreRig {
	t.Helper()
	ctx := context.Background()
	env := map[string]string{
		settings.EnvLatchParameter:      latchParameter,
		settings.EnvManifestBucket:      manifestBucket,
		settings.EnvQuarantinePolicyARN: quarantinePolicyARN,
		settings.EnvExemptNames:         "owner-fn",
	}
	for k, v := range extra {
		env[k] = v
	}
	plan := attack.Plan{Regions: []string{"eu-west-1", "us-east-1"}, Instances: 6, PerLaunch: 3, OwnerInstances: 2}
	r := newRig(t, plan, env)
	createQuarantinePolicy(t, r)
	if _, err := s3.NewFromConfig(r.plain).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(manifestBucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(r.plain).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(latchParameter),
		Value: aws.String(`{"tripped":false}`), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	if _, err := attack.SeedRelaunchers(ctx, r.plain, attack.RelauncherPlan{Region: "us-east-1", Groups: map[string]int32{"web-asg": 2}}); err != nil {
		t.Fatal(err)
	}
	asc := autoscaling.NewFromConfig(r.plain)
	if _, err := asc.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web-asg"),
		ScalingProcesses: []string{"AZRebalance"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := attack.SeedCompute(ctx, r.plain, "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	lc := lambda.NewFromConfig(r.plain, func(o *lambda.Options) { o.Region = "eu-west-1" })
	if _, err := lc.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("mining"),
		ReservedConcurrentExecutions: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(r.plain).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	// The rig's own variables (notify topic, exemptions) plus env.
	all := map[string]string{}
	for _, st := range settings.All {
		if v := st.Get(&r.settings); v != "" && v != st.Default() {
			all[st.Env] = v
		}
	}
	for k, v := range env {
		all[k] = v
	}
	return &restoreRig{rig: r, env: all}
}

// trip runs the budget alert through the handler, as the function would.
func (r *restoreRig) trip() *handler.Result {
	r.t.Helper()
	raw, err := os.ReadFile(budgetActual)
	if err != nil {
		r.t.Fatal(err)
	}
	res, err := r.invokeEvent(string(raw))
	if err != nil {
		r.t.Fatalf("trip: %v", err)
	}
	if res.Report == nil || res.Report.Totals.Changed == 0 {
		r.t.Fatalf("trip contained nothing: %+v", res)
	}
	return res
}

// cli runs the killswitch command in-process against moto, with the
// function's KILLSWITCH_* variables, and returns its exit code and output.
func (r *restoreRig) cli(args ...string) (int, string, string) {
	r.t.Helper()
	for _, kv := range moto.Env(motoServer.URL) {
		k, v, _ := strings.Cut(kv, "=")
		r.t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := cli.Run(ctx, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return r.env[k] }}, args)
	r.t.Logf("killswitch %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return code, stdout.String(), stderr.String()
}

func (r *restoreRig) instanceStates() map[string]string {
	r.t.Helper()
	st, err := attack.States(context.Background(), r.plain, []string{"eu-west-1", "us-east-1"})
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

func (r *restoreRig) ecsDesired() int32 {
	r.t.Helper()
	out, err := ecs.NewFromConfig(r.plain, func(o *ecs.Options) { o.Region = "eu-west-1" }).DescribeServices(context.Background(),
		&ecs.DescribeServicesInput{Cluster: aws.String("mining"), Services: []string{"miner"}})
	if err != nil || len(out.Services) != 1 {
		r.t.Fatalf("describing the service: %v", err)
	}
	return out.Services[0].DesiredCount
}

func (r *restoreRig) reserved(fn string) *int32 {
	r.t.Helper()
	out, err := lambda.NewFromConfig(r.plain, func(o *lambda.Options) { o.Region = "eu-west-1" }).GetFunctionConcurrency(context.Background(),
		&lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(fn)})
	if err != nil {
		r.t.Fatal(err)
	}
	return out.ReservedConcurrentExecutions
}

func (r *restoreRig) quarantined() int {
	r.t.Helper()
	out, err := iam.NewFromConfig(r.plain).ListEntitiesForPolicy(context.Background(), &iam.ListEntitiesForPolicyInput{PolicyArn: aws.String(quarantinePolicyARN)})
	if err != nil {
		r.t.Fatal(err)
	}
	return len(out.PolicyUsers) + len(out.PolicyGroups) + len(out.PolicyRoles)
}

// A false alarm, undone: the trip stops, scales and throttles; the restore
// refuses while the switch is tripped, shows its plan, and with --disarm
// puts everything back that can come back, leaving alone, item by item, an
// instance terminated since and a node group the owner resized since. A
// second restore changes nothing and says so.
func TestTripThenRestore(t *testing.T) {
	ctx := context.Background()
	r := newRestoreRig(t, nil)
	before := r.instanceStates()
	res := r.trip()

	// The report and the latch agree on the trip and its manifest.
	st := r.latch()
	tripID := manifest.TripID(st.Since)
	if want := "s3://" + manifestBucket + "/trips/" + tripID + "/"; res.Report.Manifest != want {
		t.Fatalf("report names manifest %q, want %q (the latch's Since)", res.Report.Manifest, want)
	}
	if res.Report.ManifestError != "" {
		t.Fatalf("manifest error: %s", res.Report.ManifestError)
	}
	if body := r.notify.receive(t, 1)[0].Body; !strings.Contains(body, res.Report.Manifest) || !strings.Contains(body, "killswitch restore") {
		t.Errorf("the notification does not name the manifest and the restore:\n%s", body)
	}
	stopped := []string{}
	for id, s := range r.instanceStates() {
		if s == "stopped" && before[id] == "running" {
			stopped = append(stopped, id)
		}
	}
	slices.Sort(stopped)
	if len(stopped) != 6 {
		t.Fatalf("the trip stopped %d instances, want the 6 not exempt", len(stopped))
	}
	if g := groupState(t, r.rig, "us-east-1", "web-asg"); g.Max != 0 || g.Desired != 0 {
		t.Fatalf("group after the trip = %+v", g)
	}
	if r.ecsDesired() != 0 || aws.ToInt32(r.reserved("mining")) != 0 || r.quarantined() == 0 {
		t.Fatalf("after the trip: service desired %d, mining reserved %v, quarantined %d", r.ecsDesired(), r.reserved("mining"), r.quarantined())
	}

	// Refused while tripped: nothing changes.
	code, _, stderr := r.cli("restore", "--latest", "--apply")
	if code != cli.ExitFailed || !strings.Contains(stderr, "REFUSED") || !strings.Contains(stderr, "--disarm") {
		t.Fatalf("restore --apply while tripped: exit %d, stderr %q; want a refusal naming --disarm", code, stderr)
	}
	if s := r.instanceStates()[stopped[0]]; s != "stopped" {
		t.Fatalf("a refused restore started %s (%s)", stopped[0], s)
	}

	// The owner meanwhile terminates one instance and resizes the node group.
	terminated := stopped[0]
	ec2c := ec2.NewFromConfig(r.plain, func(o *ec2.Options) { o.Region = r.seeded.Region[terminated] })
	if _, err := ec2c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{terminated}}); err != nil {
		t.Fatal(err)
	}
	eksc := eks.NewFromConfig(r.plain, func(o *eks.Options) { o.Region = "eu-west-1" })
	if _, err := eksc.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String("k8s"), NodegroupName: aws.String("gpu"),
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), MaxSize: aws.Int32(3), DesiredSize: aws.Int32(1)}}); err != nil {
		t.Fatal(err)
	}

	// The dry run says what it would do and does nothing.
	code, out, _ := r.cli("restore", "--trip", tripID)
	if code != cli.ExitOK || !strings.Contains(out, "DRY RUN") || !strings.Contains(out, "would restore") {
		t.Fatalf("dry-run restore: exit %d\n%s", code, out)
	}
	if s := r.instanceStates()[stopped[1]]; s != "stopped" {
		t.Fatalf("a dry-run restore started %s (%s)", stopped[1], s)
	}

	// With --disarm: disarmed first, then restored.
	code, out, _ = r.cli("restore", "--latest", "--apply", "--disarm")
	if code != cli.ExitOK {
		t.Fatalf("restore --apply --disarm: exit %d\n%s", code, out)
	}
	if st := r.latch(); st.Tripped {
		t.Errorf("latch still tripped after --disarm: %+v", st)
	}
	states := r.instanceStates()
	for _, id := range stopped[1:] {
		if states[id] != "running" {
			t.Errorf("instance %s: %s after the restore, want running", id, states[id])
		}
	}
	for _, want := range []string{terminated + "  left alone  not restorable: terminated", "gpu", "changed since: now min 1, max 3, desired 1"} {
		if !strings.Contains(collapse(out), collapse(want)) {
			t.Errorf("restore output lacks %q:\n%s", want, out)
		}
	}
	g := groupState(t, r.rig, "us-east-1", "web-asg")
	if g.Min != 1 || g.Max != 12 || g.Desired != 2 || strings.Join(g.Suspended, ",") != "AZRebalance" {
		t.Errorf("group after the restore = %+v, want min 1, max 12, desired 2, only the owner's AZRebalance still suspended", g)
	}
	if d := r.ecsDesired(); d != 10 {
		t.Errorf("service desired %d after the restore, want 10", d)
	}
	if got := r.reserved("mining"); aws.ToInt32(got) != 3 {
		t.Errorf("mining reserved concurrency %v after the restore, want 3", got)
	}
	if got := r.reserved("owner-fn"); aws.ToInt32(got) != 5 {
		t.Errorf("the owner's exempt function: reserved %v, want its own 5 untouched", got)
	}
	if n := r.quarantined(); n != 0 {
		t.Errorf("quarantine still attached to %d principal(s) after the restore", n)
	}

	// A second restore is a no-op that says so.
	code, out, _ = r.cli("restore", "--latest", "--apply")
	if code != cli.ExitOK || !strings.Contains(out, "Nothing to restore") || !strings.Contains(out, "Restored 0,") {
		t.Errorf("second restore: exit %d, want a no-op that says so:\n%s", code, out)
	}
	code, out, _ = r.cli("restore", "--latest", "--json")
	var doc struct {
		Report manifest.RestoreReport `json:"report"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != cli.ExitOK || doc.Report.Trip != tripID || doc.Report.Pending() != 0 {
		t.Errorf("restore --json: exit %d, %v, %+v\n%s", code, err, doc.Report, out)
	}
}

// collapse squeezes runs of spaces, so table columns compare as words.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// callLog records every call in order, with the S3 key of each object call.
type callLog struct {
	mu    sync.Mutex
	calls []string
	// after runs after each call returns, e.g. to cut the context.
	after func(op, region string)
}

func (l *callLog) attach(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("callLog",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op, region := awsmiddleware.GetOperationName(ctx), awsmiddleware.GetRegion(ctx)
				entry := awsmiddleware.GetServiceID(ctx) + " " + region + " " + op
				switch p := in.Parameters.(type) {
				case *s3.PutObjectInput:
					entry += " " + aws.ToString(p.Key)
				case *s3.GetObjectInput:
					entry += " " + aws.ToString(p.Key)
				}
				out, md, err := next.HandleInitialize(ctx, in)
				l.mu.Lock()
				l.calls = append(l.calls, entry)
				after := l.after
				l.mu.Unlock()
				if after != nil {
					after(op, region)
				}
				return out, md, err
			}), middleware.After)
	})
}

func (l *callLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// mutating says whether an operation changes a contained resource.
func mutating(op string) bool {
	for _, p := range []string{"Stop", "Terminate", "Update", "Suspend", "PutFunctionConcurrency", "Attach", "Cancel", "Delete", "Disable"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// invokeLogged runs the handler on cfg with every call logged.
func (r *restoreRig) invokeLogged(ctx context.Context, log *callLog) (*handler.Result, error) {
	r.t.Helper()
	cfg := r.plain.Copy()
	log.attach(&cfg)
	raw, err := os.ReadFile(budgetActual)
	if err != nil {
		r.t.Fatal(err)
	}
	return app.New(cfg, r.settings, nil, app.WithFunctionName("killswitch")).Handler.Handle(ctx, raw)
}

// The manifest comes first: in every region and kind, the plan object is
// written and read back before the first call that changes anything there.
func TestManifestIsWrittenAndVerifiedBeforeTheFirstChange(t *testing.T) {
	r := newRestoreRig(t, nil)
	log := &callLog{}
	if _, err := r.invokeLogged(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	calls := log.all()
	verified := map[string]bool{} // region -> a plan of it written and read back
	put := map[string]bool{}
	checked := 0
	for _, c := range calls {
		f := strings.Fields(c)
		service, region, op := f[0], f[1], f[2]
		switch {
		case service == "S3" && op == "PutObject" && strings.HasSuffix(f[3], "/plan.json"):
			put[f[3]] = true
		case service == "S3" && op == "GetObject" && put[f[3]]:
			verified[strings.Split(f[3], "/")[3]] = true
		case service != "S3" && service != "SSM" && service != "SNS" && mutating(op):
			if service == "IAM" {
				region = engine.GlobalRegion
			}
			if !verified[region] {
				t.Errorf("%s in %s before any plan of that region was written and read back; calls:\n%s", op, region, strings.Join(calls, "\n"))
				return
			}
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("only %d mutating calls seen; the seed should make many", checked)
	}
}

// A manifest that cannot be written does not stop the containment; the
// report and the notification say loudly that the restore will be manual.
func TestFailedManifestWriteStillContains(t *testing.T) {
	r := newRestoreRig(t, map[string]string{settings.EnvManifestBucket: "no-such-bucket-here"})
	res := r.trip()
	if !strings.Contains(res.Report.ManifestError, "no-such-bucket-here") || !strings.Contains(res.Report.ManifestError, "contained anyway") {
		t.Errorf("ManifestError = %q, want the bucket and that it contained anyway", res.Report.ManifestError)
	}
	for id, s := range r.instanceStates() {
		if r.seeded.Region[id] != "" && !slices.Contains(r.seeded.Exempt, id) && s != "stopped" {
			t.Errorf("instance %s: %s, want stopped despite the manifest failure", id, s)
		}
	}
	if body := r.notify.receive(t, 1)[0].Body; !strings.Contains(body, "RESTORE WILL BE MANUAL") {
		t.Errorf("the notification does not say the restore will be manual:\n%s", body)
	}
}

// The crash case: the sweep's context is cut right after the first
// instances are stopped. Every change made is in the manifest, the outcome
// included; the regions not reached are in neither.
func TestManifestDescribesEveryChangeWhenCutHalfway(t *testing.T) {
	r := newRestoreRig(t, map[string]string{settings.EnvRegionConcurrency: "1"})
	before := r.instanceStates()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &callLog{after: func(op, _ string) {
		if op == "StopInstances" {
			cancel()
		}
	}}
	_, _ = r.invokeLogged(ctx, log) // it fails: that is the point

	changed := map[string]bool{}
	for id, s := range r.instanceStates() {
		if before[id] == "running" && s != "running" {
			changed[id] = true
		}
	}
	if len(changed) == 0 || len(changed) == 6 {
		t.Fatalf("%d instances changed; the cut should fall between the two regions (calls:\n%s)", len(changed), strings.Join(log.all(), "\n"))
	}
	store := manifest.NewStore(s3.NewFromConfig(r.plain), manifestBucket)
	tripID, err := store.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	trip, err := store.Load(context.Background(), tripID)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]engine.Status{}
	for _, kinds := range trip.Items() {
		for _, it := range kinds["EC2 instances"] {
			recorded[it.ID] = it.Status
		}
	}
	for id := range changed {
		if st, ok := recorded[id]; !ok {
			t.Errorf("instance %s was stopped but is not in the manifest", id)
		} else if st != engine.StatusDone {
			t.Errorf("instance %s: recorded status %q, want done (the outcome is written after the cut)", id, st)
		}
	}
}
