package tests

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/killswitch/killswitch/internal/cli"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// -update rewrites the CLI's golden files from what the binary prints.
var updateGolden = flag.Bool("update", false, "rewrite tests/testdata/cli/*.golden")

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// killswitchBinary builds cmd/killswitch once per test run, as `go install`
// would: the golden tests run the real binary, not the package in-process.
func killswitchBinary(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "killswitch-cli-")
		if err != nil {
			cliErr = err
			return
		}
		cliBin = filepath.Join(dir, "killswitch")
		out, err := exec.Command("go", "build", "-o", cliBin, "github.com/killswitch/killswitch/cmd/killswitch").CombinedOutput()
		if err != nil {
			cliErr = errors.New("building cmd/killswitch: " + err.Error() + "\n" + string(out))
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

// run runs the built binary against moto with the function's variables.
func (r *restoreRig) run(args ...string) (int, string, string) {
	r.t.Helper()
	cmd := exec.Command(killswitchBinary(r.t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.t.TempDir()}, moto.Env(motoServer.URL)...)
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		r.t.Fatal(err)
	}
	r.t.Logf("killswitch %s -> %d\nstderr:\n%s", strings.Join(args, " "), code, stderr.String())
	return code, stdout.String(), stderr.String()
}

var (
	instanceID = regexp.MustCompile(`\bi-[0-9a-f]{8,17}\b`)
	tripIDRe   = regexp.MustCompile(`trip-\d{8}T\d{6}Z`)
	stampRe    = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC`)
	requestID  = regexp.MustCompile(`RequestID: [A-Za-z0-9-]+`)
)

// normalise replaces what changes from run to run (instance IDs, trip IDs,
// times) with placeholders of the same width, so tables stay aligned, and
// sorts the rows of each table, whose order follows the random IDs.
func normalise(s string) string {
	s = instanceID.ReplaceAllStringFunc(s, func(id string) string { return "i-" + strings.Repeat("x", len(id)-2) })
	s = tripIDRe.ReplaceAllString(s, "trip-YYYYMMDDTHHMMSSZ")
	s = requestID.ReplaceAllString(s, "RequestID: REQUEST-ID")
	s = stampRe.ReplaceAllStringFunc(s, func(t string) string { return "YYYY-MM-DD HH:MM:SS UTC"[:len(t)-4] + " UTC" })
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && strings.HasPrefix(lines[j], "    ") && !strings.HasPrefix(strings.TrimSpace(lines[j]), "ID ") {
			j++
		}
		sort.Strings(lines[i:j])
		i = max(j, i+1)
	}
	return strings.Join(lines, "\n")
}

// golden compares got, normalised, with tests/testdata/cli/name.golden.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name+".golden")
	got = normalise(got)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./tests -run TestCLI -update` to write it)", err)
	}
	if got != string(want) {
		t.Errorf("killswitch output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The operator's day, with the built binary: scan finds the false alarm's
// resources (exit 3), trip shows the plan, status shows armed, then after
// the trip tripped with its manifest, and a dry-run restore shows what it
// would put back. Each table is held to a golden file, and every --json
// parses.
func TestCLIGolden(t *testing.T) {
	r := newRestoreRig(t, nil)
	regions := "--regions=eu-west-1,us-east-1"

	code, out, stderr := r.run("scan", regions)
	if code != cli.ExitFound {
		t.Errorf("scan: exit %d, want %d (found)", code, cli.ExitFound)
	}
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		if !regexp.MustCompile(`(?m)^  ` + region + ` +\d+ found`).MatchString(stderr) {
			t.Errorf("scan printed no progress line for %s on stderr:\n%s", region, stderr)
		}
	}
	golden(t, "scan", out)

	code, out, _ = r.run("trip", regions)
	if code != cli.ExitOK {
		t.Errorf("trip (dry run): exit %d", code)
	}
	golden(t, "trip-dry-run", out)

	// One run of the stack's schedule while armed, with caps this false
	// alarm's GPUs stay under: its census is what status shows.
	armed := *r.rig
	armed.settings.MaxRunningInstances, armed.settings.MaxVCPUs, armed.settings.MaxGPUs = 100, 1000, 100
	armed.settings.MaxHourlyBurnUSD, armed.settings.MaxRegionsInUse = 1000, 10
	res, err := armed.invokeIn([]string{"eu-west-1", "us-east-1"}, scheduledEvent(t))
	if err != nil || res.Tripped || res.Census == nil {
		t.Fatalf("scheduled run while armed: tripped %v, census %v, error %v", res != nil && res.Tripped, res != nil && res.Census != nil, err)
	}
	code, out, _ = r.run("status")
	if code != cli.ExitOK {
		t.Errorf("status while armed: exit %d", code)
	}
	golden(t, "status-armed", out)
	if want := "  Census:      YYYY-MM-DD HH:MM:SS UTC: " + res.Census.Summary() + "\n"; !strings.Contains(normalise(out), want) {
		t.Errorf("status does not show the schedule's census %q:\n%s", want, out)
	}

	r.trip()
	code, out, _ = r.run("status")
	if code != cli.ExitOK {
		t.Errorf("status while tripped: exit %d", code)
	}
	golden(t, "status-tripped", out)

	code, out, _ = r.run("restore", "--latest")
	if code != cli.ExitOK {
		t.Errorf("restore (dry run): exit %d", code)
	}
	golden(t, "restore-dry-run", out)

	// Disarm, restore for real, and trip again from the CLI: the same
	// handler as the function, so a new manifest and the latch set again.
	if code, out, _ := r.run("disarm", "--reason", "false alarm"); code != cli.ExitOK || !strings.Contains(out, "DISARMED") {
		t.Errorf("disarm: exit %d\n%s", code, out)
	}
	if code, out, _ := r.run("restore", "--latest", "--apply"); code != cli.ExitOK || !strings.Contains(out, "Restored 16,") {
		t.Errorf("restore --apply: exit %d\n%s", code, out)
	}
	code, out, _ = r.run("trip", "--apply", "--reason", "drill")
	if code != cli.ExitOK || !strings.Contains(out, "CONTAINED") || !strings.Contains(out, "Restore manifest: s3://"+manifestBucket+"/trips/trip-") ||
		!strings.Contains(out, "The switch is TRIPPED") {
		t.Errorf("trip --apply: exit %d\n%s", code, out)
	}
	if st := r.latch(); !st.Tripped || !strings.Contains(st.Reason, "drill") {
		t.Errorf("latch after trip --apply: %+v", st)
	}

	for _, args := range [][]string{
		{"scan", regions, "--json"}, {"trip", regions, "--json"}, {"status", "--json"}, {"restore", "--json"},
	} {
		code, out, _ := r.run(args...)
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) == 0 {
			t.Errorf("killswitch %s: exit %d, output is not a JSON object (%v):\n%s", strings.Join(args, " "), code, err, out)
		}
	}
}

// Every command has complete --help (exit 0, on stdout), and bad usage
// exits 2.
func TestCLIHelpAndUsage(t *testing.T) {
	r := &restoreRig{rig: &rig{t: t}}
	code, out, _ := r.run("--help")
	if code != cli.ExitOK {
		t.Errorf("--help: exit %d", code)
	}
	golden(t, "help", out)
	for _, cmd := range []string{"scan", "trip", "restore", "status", "disarm"} {
		code, out, _ := r.run(cmd, "--help")
		if code != cli.ExitOK || !strings.Contains(out, "Usage:\n  killswitch "+cmd) || !strings.Contains(out, "-profile") || !strings.Contains(out, "Exit codes") {
			t.Errorf("%s --help: exit %d, incomplete:\n%s", cmd, code, out)
		}
		golden(t, "help-"+cmd, out)
	}
	for _, args := range [][]string{{}, {"bogus"}, {"scan", "--no-such-flag"}, {"restore", "--trip", "x", "--latest"}, {"status", "extra"}, {"scan", "--role", "Admin"}, {"trip", "--account-concurrency", "2"}, {"status", "--org", "--account-concurrency", "0"}} {
		if code, _, _ := r.run(args...); code != cli.ExitUsage {
			t.Errorf("killswitch %q: exit %d, want %d", args, code, cli.ExitUsage)
		}
	}
}

// With no KILLSWITCH_* variables at all, the CLI finds the bucket, the
// latch and the quarantine through the deployed stack's outputs, and
// trip --from-stack plans with the deployed function's own settings
// (here: action terminate), not the defaults.
func TestCLIFindsTheSwitchThroughTheStack(t *testing.T) {
	ctx := context.Background()
	r := newRestoreRig(t, nil)
	template := `{"Resources":{"H":{"Type":"AWS::CloudFormation::WaitConditionHandle"}},"Outputs":{` +
		`"ManifestBucketName":{"Value":"` + manifestBucket + `"},` +
		`"LatchParameterName":{"Value":"` + latchParameter + `"},` +
		`"QuarantinePolicyArn":{"Value":"` + quarantinePolicyARN + `"},` +
		`"FunctionName":{"Value":"killswitch"}}}`
	if _, err := cloudformation.NewFromConfig(r.plain).CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String(guard.StackName), TemplateBody: aws.String(template)}); err != nil {
		t.Fatal(err)
	}
	// The deployed function, in the stack's region, with its environment.
	fns := lambda.NewFromConfig(r.plain)
	role, err := iam.NewFromConfig(r.plain).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ks-fn"), AssumeRolePolicyDocument: aws.String("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fns.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("killswitch"), Role: role.Role.Arn,
		Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &lambdatypes.FunctionCode{ZipFile: zipOf(t)},
		Environment: &lambdatypes.Environment{Variables: map[string]string{settings.EnvAction: "terminate", settings.EnvManifestBucket: manifestBucket}},
	}); err != nil {
		t.Fatal(err)
	}
	r.env = nil

	code, out, _ := r.run("status")
	if code != cli.ExitOK || !strings.Contains(out, "armed (not tripped)") || !strings.Contains(out, "none recorded in s3://"+manifestBucket) {
		t.Errorf("status from the stack: exit %d\n%s", code, out)
	}
	code, out, _ = r.run("trip", "--from-stack", "--regions=us-east-1")
	if code != cli.ExitOK || !strings.Contains(out, "EC2 action: terminate") || !strings.Contains(out, "would terminate") {
		t.Errorf("trip --from-stack: exit %d, want the function's terminate plan\n%s", code, out)
	}
	code, out, _ = r.run("trip", "--regions=us-east-1")
	if code != cli.ExitOK || !strings.Contains(out, "would stop") {
		t.Errorf("trip without --from-stack: exit %d, want the default stop plan\n%s", code, out)
	}
}

// zipOf is a minimal deployment package.
func zipOf(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("bootstrap")
	if err == nil {
		_, err = w.Write([]byte("#!/bin/sh\n"))
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
