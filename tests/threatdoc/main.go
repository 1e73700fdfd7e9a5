// Command threatdoc writes README.md's threat-model table from the table
// of attacker requests the lockdown evaluation asks (make readme-threats),
// so the README claims nothing the evaluator did not answer.
package main

import (
	"fmt"
	"os"

	"github.com/killswitch/killswitch/tests/internal/threats"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "threatdoc:", err)
		os.Exit(1)
	}
}

func run() error {
	path, err := threats.ReadmePath()
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, ok := threats.ReplaceInReadme(string(doc), threats.ReadmeTable())
	if !ok {
		return fmt.Errorf("%s lacks the markers %q and %q", path, threats.ReadmeBegin, threats.ReadmeEnd)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}
