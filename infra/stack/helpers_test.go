package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/infra/stack"
)

// No t.Parallel anywhere in this package: parallel tests corrupt the jsii
// channel to the node process.

func TestMain(m *testing.M) {
	if os.Getenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == "" {
		os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	}
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// assert runs a CDK assertion, turning its panic into a test error so that
// one failed assertion does not kill the whole test binary.
func assert(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// assetDir is a temp dir holding a dummy bootstrap, so unit tests need no
// real Lambda build.
func assetDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type built struct {
	app   awscdk.App
	stack awscdk.Stack
	tmpl  assertions.Template
	json  map[string]any
}

// build synthesises the stack for cfg in region ("" = environment-agnostic).
func build(t *testing.T, cfg stack.Config, region string) built {
	t.Helper()
	b, err := tryBuild(t, cfg, region)
	if err != nil {
		t.Fatalf("NewKillswitchStack: %v", err)
	}
	return b
}

func tryBuild(t *testing.T, cfg stack.Config, region string) (built, error) {
	t.Helper()
	app := awscdk.NewApp(nil)
	props := &stack.KillswitchStackProps{Config: cfg, AssetDir: assetDir(t)}
	if region != "" {
		props.Env = &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String(region)}
	}
	s, err := stack.NewKillswitchStack(app, stack.StackID, props)
	if err != nil {
		return built{}, err
	}
	tmpl := assertions.Template_FromStack(s, nil)
	return built{app: app, stack: s, tmpl: tmpl, json: *tmpl.ToJSON()}, nil
}

func (b built) resources() map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range b.json["Resources"].(map[string]any) {
		out[id] = r.(map[string]any)
	}
	return out
}

// ofType returns the logical IDs of resources of type typ, sorted.
func (b built) ofType(typ string) []string {
	var ids []string
	for id, r := range b.resources() {
		if r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// one returns the logical ID of the single resource of type typ whose
// Properties[key] == value.
func (b built) one(t *testing.T, typ, key string, value any) string {
	t.Helper()
	var found []string
	for _, id := range b.ofType(typ) {
		props, _ := b.resources()[id]["Properties"].(map[string]any)
		if fmt.Sprint(props[key]) == fmt.Sprint(value) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s with %s=%v, found %v", typ, key, value, found)
	}
	return found[0]
}

func (b built) props(id string) map[string]any {
	p, _ := b.resources()[id]["Properties"].(map[string]any)
	return p
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }

func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

// functionEnv is the synthesised function's environment variables.
func (b built) functionEnv(t *testing.T) map[string]any {
	t.Helper()
	fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
	env, _ := b.props(fn)["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	if vars == nil {
		t.Fatalf("function %s has no environment variables", fn)
	}
	return vars
}

// functionRole is the logical ID of the function's role.
func (b built) functionRole(t *testing.T) string {
	t.Helper()
	fn := b.one(t, "AWS::Lambda::Function", "FunctionName", stack.FunctionName)
	return b.props(fn)["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
}

// roleStatements are the statements of every AWS::IAM::Policy attached to
// the role, and of the managed policies the CDK splits off when the role's
// inline policy would pass IAM's 10,240-character limit (OverflowPolicy).
func (b built) roleStatements(role string) []map[string]any {
	var out []map[string]any
	for _, id := range append(b.ofType("AWS::IAM::Policy"), b.ofType("AWS::IAM::ManagedPolicy")...) {
		p := b.props(id)
		roles, _ := p["Roles"].([]any)
		if !containsAny(roles, ref(role)) {
			continue
		}
		for _, s := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, s.(map[string]any))
		}
	}
	return out
}

var pseudoParam = regexp.MustCompile(`\$\{(Partition|Region|Account)\}`)

// cfnResource is how a resource of stack.Permissions (written with
// ${Partition}, ${Region} and ${Account}) appears in the template: a plain
// string, or an Fn::Join of its literal parts and pseudo-parameter Refs.
func cfnResource(pattern string) any {
	locs := pseudoParam.FindAllStringSubmatchIndex(pattern, -1)
	if len(locs) == 0 {
		return pattern
	}
	refs := map[string]string{"Partition": "AWS::Partition", "Region": "AWS::Region", "Account": "AWS::AccountId"}
	var parts []any
	last := 0
	for _, l := range locs {
		if l[0] > last {
			parts = append(parts, pattern[last:l[0]])
		}
		parts = append(parts, ref(refs[pattern[l[2]:l[3]]]))
		last = l[1]
	}
	if last < len(pattern) {
		parts = append(parts, pattern[last:])
	}
	return map[string]any{"Fn::Join": []any{"", parts}}
}

// sortedStrings is a statement's Action or Resource as a sorted list of
// their JSON forms, so that order and one-or-many do not matter.
func sortedStrings(v any) []string {
	var out []string
	for _, x := range list(v) {
		j, _ := json.Marshal(x)
		out = append(out, string(j))
	}
	sort.Strings(out)
	return out
}

// nagSuppressions are the rules_to_suppress cdk-nag recorded on a resource.
func (b built) nagSuppressions(id string) []map[string]any {
	meta, _ := b.resources()[id]["Metadata"].(map[string]any)
	nag, _ := meta["cdk_nag"].(map[string]any)
	var out []map[string]any
	for _, r := range list(nag["rules_to_suppress"]) {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// reflectEqualJSON compares two values as JSON, so that numbers and
// []any versus []map[string]any do not matter.
func reflectEqualJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
