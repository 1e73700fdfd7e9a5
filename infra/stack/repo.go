package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BootstrapRelPath is where `make bootstrap` (and infra/main.go) writes the
// Lambda binary, relative to the repository root.
const BootstrapRelPath = "build/lambda/bootstrap"

// FindRepoRoot walks up from the working directory to the directory holding
// go.mod (which is also where cdk.json lives). `cdk synth` runs the app from
// the root; `go test` runs it from infra/stack.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root: no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}

// DefaultAssetDir is <repo root>/build/lambda.
func DefaultAssetDir() (string, error) {
	root, err := FindRepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.Dir(BootstrapRelPath)), nil
}

// checkBootstrap fails with a plain Go error (rather than a jsii panic deep
// inside Code.fromAsset) when the Lambda binary has not been built.
func checkBootstrap(assetDir string) error {
	p := filepath.Join(assetDir, "bootstrap")
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("lambda bootstrap not found at %s: run \"make bootstrap\" first", p)
	case err != nil:
		return fmt.Errorf("lambda bootstrap at %s: %w", p, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("lambda bootstrap at %s is not a regular file", p)
	}
	return nil
}
