package stack_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/settings"
)

// nonDefault finds, for a knob of the table, a valid cdk.json value other
// than its default, from its type alone, so that a new knob is covered
// without editing this test. It returns the config that value gives.
func nonDefault(t *testing.T, st settings.Setting) (json.RawMessage, stack.Config) {
	t.Helper()
	def := st.Default()
	var candidates []any
	switch st.Type {
	case settings.Bool:
		b, _ := strconv.ParseBool(def)
		candidates = []any{!b}
	case settings.Int:
		n, _ := strconv.Atoi(def)
		candidates = []any{n + 1, n - 1}
	case settings.Duration:
		d, _ := time.ParseDuration(def)
		candidates = []any{(d + time.Second).String(), (d - time.Second).String()}
	case settings.StringList:
		candidates = []any{[]string{"i-0123456789abcdef0", "i-12345678"}, []string{"owner-asg", "prod/web"}, []string{"arn:aws:iam::123456789012:role/break-glass"}, []string{"eu-south-2"}}
	case settings.String:
		candidates = []any{"terminate", "stop", "off", "something-else"}
	}
	for _, c := range candidates {
		raw, _ := json.Marshal(c)
		cfg, err := stack.ParseConfig(map[string]any{st.Key: json.RawMessage(raw)}, nil)
		if err == nil && st.Get(&cfg.Settings) != def {
			return raw, cfg
		}
	}
	t.Fatalf("%s: no candidate value is valid and differs from the default %q; add one for its type to nonDefault", st.Key, def)
	return nil, stack.Config{}
}

// disarmKeyARN stands in for the deployed disarm key's ARN.
const disarmKeyARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// resolveEnv turns the synthesised environment into what the function would
// see: literal values as they are, and the stack's references resolved to
// plausible deployed values from the template itself.
func resolveEnv(t *testing.T, b built, env map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range env {
		switch v := v.(type) {
		case string:
			out[k] = v
		case map[string]any:
			if ids, ok := ownRoleIDs(b, v); ok {
				out[k] = ids
				continue
			} else if att, ok := v["Fn::GetAtt"].([]any); ok && len(att) == 2 && att[1] == "Arn" &&
				b.resources()[att[0].(string)]["Type"] == "AWS::KMS::Key" {
				out[k] = disarmKeyARN
				continue
			}
			id, _ := v["Ref"].(string)
			r := b.resources()[id]
			switch r["Type"] {
			case "AWS::SNS::Topic":
				out[k] = "arn:aws:sns:us-east-1:123456789012:" + b.props(id)["TopicName"].(string)
			case "AWS::SSM::Parameter":
				out[k] = b.props(id)["Name"].(string) // Ref of a parameter is its name
			case "AWS::IAM::ManagedPolicy":
				out[k] = "arn:aws:iam::123456789012:policy/" + b.props(id)["ManagedPolicyName"].(string) // Ref of a managed policy is its ARN
			case "AWS::S3::Bucket":
				out[k] = "killswitch-manifests-123456789012-us-east-1" // Ref of a bucket is its name, fixed per account and region
			default:
				t.Fatalf("%s: cannot resolve %v", k, v)
			}
		default:
			t.Fatalf("%s: unexpected value %v", k, v)
		}
	}
	return out
}

// ownRoleIDs resolves the stack's own role IDs (RoleId attributes, joined
// by commas) to plausible unique IDs: AROA and the logical ID.
func ownRoleIDs(b built, v map[string]any) (string, bool) {
	attr := func(x any) (string, bool) {
		ga, ok := x.(map[string]any)["Fn::GetAtt"].([]any)
		if !ok || len(ga) != 2 || ga[1] != "RoleId" || b.resources()[ga[0].(string)]["Type"] != "AWS::IAM::Role" {
			return "", false
		}
		return "AROA" + strings.ToUpper(ga[0].(string)), true
	}
	if id, ok := attr(v); ok {
		return id, true
	}
	join, ok := v["Fn::Join"].([]any)
	if !ok || len(join) != 2 || join[0] != "" {
		return "", false
	}
	var sb strings.Builder
	for _, part := range join[1].([]any) {
		if s, ok := part.(string); ok {
			sb.WriteString(s)
			continue
		}
		id, ok := attr(part)
		if !ok {
			return "", false
		}
		sb.WriteString(id)
	}
	return sb.String(), true
}

// TestSettingsRoundTrip: every knob of internal/settings, set in cdk.json to
// a value other than its default, reaches the function's environment under
// its own variable, and the function's own settings.Load reads back the
// very value cdk.json gave.
func TestSettingsRoundTrip(t *testing.T) {
	knobs := 0
	for _, st := range settings.All {
		if st.Key == "" {
			continue
		}
		knobs++
		t.Run(st.Key, func(t *testing.T) {
			raw, cfg := nonDefault(t, st)
			want := st.Get(&cfg.Settings)
			b := build(t, cfg, "us-east-1")
			env := b.functionEnv(t)
			if got := env[st.Env]; got != want {
				t.Errorf("cdk.json %s=%s: %s = %v, want %q", st.Key, raw, st.Env, got, want)
			}

			resolved := resolveEnv(t, b, env)
			loaded, err := settings.Load(func(k string) string { return resolved[k] })
			if err != nil {
				t.Fatalf("settings.Load over the synthesised environment: %v", err)
			}
			if got := st.Get(&loaded); got != want {
				t.Errorf("cdk.json %s=%s: the function reads %q, want %q", st.Key, raw, got, want)
			}
			// And nothing else moved: the whole settings come back, with
			// the wired values the stack added.
			wantAll := cfg.Settings
			wantAll.NotifyTopicARN = "arn:aws:sns:us-east-1:123456789012:" + stack.NotifyTopicName
			wantAll.TripTopicARN = "arn:aws:sns:us-east-1:123456789012:" + stack.TripTopicName
			wantAll.NotifyEmails = append([]string{}, cfg.NotificationEmails...)
			wantAll.LatchParameter = stack.LatchParameterName
			wantAll.ManifestBucket = "killswitch-manifests-123456789012-us-east-1"
			wantAll.OwnRoleIDs = strings.Split(resolved[settings.EnvOwnRoleIDs], ",")
			if len(wantAll.OwnRoleIDs) < 2 {
				t.Errorf("%s = %q, want the function's and the scheduler's role IDs", settings.EnvOwnRoleIDs, resolved[settings.EnvOwnRoleIDs])
			}
			wantAll.DisarmKeyARN = disarmKeyARN
			if stack.QuarantineEnabled(cfg) {
				wantAll.QuarantinePolicyARN = "arn:aws:iam::123456789012:policy/" + stack.QuarantinePolicyName
			}
			if !reflect.DeepEqual(loaded, wantAll) {
				t.Errorf("loaded settings\n got %+v\nwant %+v", loaded, wantAll)
			}
		})
	}
	if knobs == 0 {
		t.Fatal("settings.All has no cdk.json keys")
	}
}

// TestEnvironmentHasOnlySettingsVariables: the function reads every
// KILLSWITCH_* variable the stack writes, and the stack writes every
// variable the function reads.
func TestEnvironmentHasOnlySettingsVariables(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	env := b.functionEnv(t)
	known := map[string]bool{}
	for _, st := range settings.All {
		known[st.Env] = true
		if _, ok := env[st.Env]; !ok {
			t.Errorf("the environment lacks %s", st.Env)
		}
	}
	for k := range env {
		if strings.HasPrefix(k, "KILLSWITCH_") && !known[k] {
			t.Errorf("the environment has %s, which the function does not read (not in settings.All)", k)
		}
	}
	if got := fmt.Sprint(env[settings.EnvLatchParameter]); !strings.Contains(got, "Ref") {
		t.Errorf("%s = %s, want a reference to the stack's latch parameter", settings.EnvLatchParameter, got)
	}
}
