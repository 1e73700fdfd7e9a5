// Package iamsim drives a real IAM policy evaluator, the npm package
// @cloud-copilot/iam-simulate (pinned in the repository's package.json),
// from Go tests: moto stores policies but evaluates none, so a test that
// only reads moto's state cannot tell a deny list from a deny-by-default
// policy. Each Evaluate call runs one node process for its whole batch.
//
// It is for tests only: nothing in the function or the CLI imports it.
package iamsim

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed simulate.mjs
var script string

// The evaluator's answers.
const (
	Allowed          = "Allowed"
	ImplicitlyDenied = "ImplicitlyDenied"
	ExplicitlyDenied = "ExplicitlyDenied"
)

// Policy is one named policy document (any value that marshals to one:
// a guard.Document, a json.RawMessage read back from IAM, a map).
type Policy struct {
	Name   string `json:"name"`
	Policy any    `json:"policy"`
}

// OrgPolicies are the SCPs attached at one level of an organization (the
// root first, the account last).
type OrgPolicies struct {
	OrgIdentifier string   `json:"orgIdentifier"`
	Policies      []Policy `json:"policies"`
}

// Simulation is one request and the policies that decide it.
type Simulation struct {
	// Principal is the caller's ARN, or a service principal
	// ("scheduler.amazonaws.com") for a trust policy.
	Principal string
	Action    string
	Resource  string
	// ResourceAccount is the account that owns Resource.
	ResourceAccount string
	// Context holds request context keys (string or []string values),
	// e.g. aws:SourceArn. For an IAM principal, aws:PrincipalArn and
	// aws:PrincipalAccount default to Principal and its account.
	Context map[string]any

	Identity       []Policy
	Boundaries     []Policy
	ResourcePolicy any
	SCPs           []OrgPolicies
}

// Result is the evaluator's answer to one Simulation.
type Result struct {
	// Answer is Allowed, ImplicitlyDenied or ExplicitlyDenied.
	Answer string
	// IgnoredContextKeys are the context keys the evaluator dropped
	// because the action does not support them: a condition on such a key
	// never matches in AWS either.
	IgnoredContextKeys []string
}

// Denied says whether the request was denied, explicitly or implicitly.
func (r Result) Denied() bool { return r.Answer != Allowed }

type wireRequest struct {
	Principal string         `json:"principal"`
	Action    string         `json:"action"`
	Resource  wireResource   `json:"resource"`
	Context   map[string]any `json:"contextVariables"`
}

type wireResource struct {
	Resource  string `json:"resource"`
	AccountID string `json:"accountId"`
}

type wireSimulation struct {
	Request        wireRequest   `json:"request"`
	Identity       []Policy      `json:"identityPolicies"`
	SCPs           []OrgPolicies `json:"serviceControlPolicies"`
	RCPs           []OrgPolicies `json:"resourceControlPolicies"`
	ResourcePolicy any           `json:"resourcePolicy,omitempty"`
	Boundaries     []Policy      `json:"permissionBoundaryPolicies,omitempty"`
}

type wireResult struct {
	Answer  string   `json:"answer"`
	Ignored []string `json:"ignoredContextKeys"`
	Error   string   `json:"error"`
}

// ErrNotInstalled: node_modules lacks the evaluator; `npm ci` at the
// repository root installs it (make test does so itself).
var ErrNotInstalled = errors.New("iamsim: @cloud-copilot/iam-simulate is not installed: run `npm ci` at the repository root")

const entryPath = "node_modules/@cloud-copilot/iam-simulate/dist/esm/index.js"

// Entry finds the evaluator's ES module entry point, walking up from the
// working directory (a test's is its package directory) to the module root.
func Entry() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("iamsim: %w", err)
	}
	for {
		p := filepath.Join(dir, entryPath)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if b, _ := os.ReadFile(filepath.Join(dir, "go.mod")); bytes.HasPrefix(b, []byte("module github.com/killswitch/killswitch\n")) {
				return "", fmt.Errorf("%w (looked for %s)", ErrNotInstalled, p)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotInstalled
		}
		dir = parent
	}
}

// Evaluate runs every simulation in one node process. An evaluator error
// (an unknown action, a resource that matches none of the action's
// resource types, an invalid policy) is an error, never a deny: a test
// that took it for a deny would pass for the wrong reason.
func Evaluate(ctx context.Context, sims []Simulation) ([]Result, error) {
	if len(sims) == 0 {
		return nil, nil
	}
	entry, err := Entry()
	if err != nil {
		return nil, err
	}
	wire := make([]wireSimulation, len(sims))
	for i, s := range sims {
		c := map[string]any{}
		for k, v := range s.Context {
			c[k] = v
		}
		// IAM sets aws:PrincipalArn (the role's ARN for a role session)
		// and aws:PrincipalAccount on every request; the evaluator leaves
		// them missing unless given, and a missing key makes ArnNotLike
		// match: an SCP's exceptions would except nobody.
		if strings.HasPrefix(s.Principal, "arn:") && strings.Contains(s.Principal, ":iam::") {
			if _, ok := c["aws:PrincipalArn"]; !ok {
				c["aws:PrincipalArn"] = s.Principal
			}
			if _, ok := c["aws:PrincipalAccount"]; !ok {
				if parts := strings.SplitN(s.Principal, ":", 6); len(parts) == 6 {
					c["aws:PrincipalAccount"] = parts[4]
				}
			}
		}
		identity := s.Identity
		if identity == nil {
			identity = []Policy{}
		}
		scps := s.SCPs
		if scps == nil {
			scps = []OrgPolicies{}
		}
		wire[i] = wireSimulation{
			Request: wireRequest{
				Principal: s.Principal, Action: s.Action,
				Resource: wireResource{Resource: s.Resource, AccountID: s.ResourceAccount},
				Context:  c,
			},
			Identity: identity, SCPs: scps, RCPs: []OrgPolicies{},
			ResourcePolicy: s.ResourcePolicy, Boundaries: s.Boundaries,
		}
	}
	in, err := json.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("iamsim: encoding the simulations: %w", err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(entry)}
	cmd := exec.CommandContext(ctx, "node", "--input-type=module", "-e", script, u.String())
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("iamsim: node %s: %w: %s", entry, err, stderr.String())
	}
	var got []wireResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		return nil, fmt.Errorf("iamsim: reading the evaluator's answer: %w: %.500s", err, stdout.String())
	}
	if len(got) != len(sims) {
		return nil, fmt.Errorf("iamsim: %d answers to %d simulations", len(got), len(sims))
	}
	out := make([]Result, len(got))
	var errs []error
	for i, g := range got {
		switch {
		case g.Error != "":
			errs = append(errs, fmt.Errorf("iamsim: %s on %s by %s: evaluator error: %s", sims[i].Action, sims[i].Resource, sims[i].Principal, g.Error))
		case g.Answer != Allowed && g.Answer != ImplicitlyDenied && g.Answer != ExplicitlyDenied:
			errs = append(errs, fmt.Errorf("iamsim: %s on %s: unknown answer %q", sims[i].Action, sims[i].Resource, g.Answer))
		}
		out[i] = Result{Answer: g.Answer, IgnoredContextKeys: g.Ignored}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
