// Command settingsdoc writes README.md's settings table from the tables of
// keys (make readme-settings), so the README never drifts from cdk.json.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/killswitch/killswitch/infra/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "settingsdoc:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := stack.FindRepoRoot()
	if err != nil {
		return err
	}
	path := filepath.Join(root, "README.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	table, err := stack.SettingsTable()
	if err != nil {
		return err
	}
	out, ok := stack.ReplaceBetweenMarkers(string(doc), table)
	if !ok {
		return fmt.Errorf("%s lacks the markers %q and %q", path, stack.SettingsBegin, stack.SettingsEnd)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}
