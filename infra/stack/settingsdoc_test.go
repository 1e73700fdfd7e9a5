package stack_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
)

// README.md's settings table is the one SettingsTable writes from the two
// tables of keys, so it lists exactly the keys cdk.json accepts, with
// their defaults. Run `make readme-settings` after adding a setting.
func TestREADMESettingsTableIsCurrent(t *testing.T) {
	want, err := stack.SettingsTable()
	if err != nil {
		t.Fatal(err)
	}
	root, err := stack.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := stack.BetweenMarkers(string(readme))
	if !ok {
		t.Fatalf("README.md lacks the %s ... %s markers", stack.SettingsBegin, stack.SettingsEnd)
	}
	if got != want {
		t.Errorf("README.md's settings table is out of date; run `make readme-settings`.\n got:\n%s\nwant:\n%s", got, want)
	}
	for _, key := range []string{"budgetUsd", "action", "resweepMinutes"} {
		if !strings.Contains(want, "| `"+key+"` |") {
			t.Errorf("table lacks %s", key)
		}
	}
}
