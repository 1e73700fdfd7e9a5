package threats_test

import (
	"os"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/tests/internal/threats"
)

// README.md's threat-model table is the one ReadmeTable writes from the
// rows the lockdown evaluation asks.
func TestREADMEThreatTableIsCurrent(t *testing.T) {
	t.Parallel()
	path, err := threats.ReadmePath()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := threats.ReplaceInReadme(string(readme), threats.ReadmeTable())
	if !ok {
		t.Fatalf("README.md lacks the %s ... %s markers", threats.ReadmeBegin, threats.ReadmeEnd)
	}
	if want != string(readme) {
		t.Error("README.md's threat-model table is out of date; run `make readme-threats`")
	}
}

// Every row is a real request the table asks, and each group's answer in
// the README is the one every row of it must get.
func TestThreatRows(t *testing.T) {
	t.Parallel()
	rows := threats.Requests("111122223333", "us-east-1", "ap-east-1")
	seen := map[string]bool{}
	for _, r := range rows {
		if !strings.Contains(r.Action, ":") || r.Resource == "" || r.Group == "" {
			t.Errorf("malformed row %+v", r)
		}
		if (r.Group == threats.Recover) != r.Allowed {
			t.Errorf("%s %s: allowed=%v in group %q", r.Action, r.Resource, r.Allowed, r.Group)
		}
		k := string(r.Who) + " " + r.Action + " " + r.Resource
		if seen[k] {
			t.Errorf("duplicate row %s", k)
		}
		seen[k] = true
	}
}
