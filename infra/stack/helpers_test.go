package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
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
