// Command infra is the killswitch CDK app (cdk.json: "app": "go run ./infra").
// It reads and validates the killswitch context block, builds the Lambda
// bootstrap, and hands off to package stack, with cdk-nag AwsSolutions checks
// applied. Set KILLSWITCH_SKIP_BUILD=1 to use an existing build/lambda/bootstrap.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/killswitch/killswitch/infra/stack"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "killswitch:", err)
		jsii.Close() // os.Exit skips deferred calls
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)

	cfg, err := stack.ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	root, err := stack.FindRepoRoot()
	if err != nil {
		return err
	}
	if os.Getenv("KILLSWITCH_SKIP_BUILD") == "" {
		if err := buildBootstrap(root); err != nil {
			return err
		}
	}

	// The org block is read and checked before anything is built, so a bad
	// one fails fast, naming its key.
	org, withOrg, err := stack.OrgConfigFromContext(app.Node(), cfg)
	if err != nil {
		return err
	}
	if withOrg && org.OrgQuarantine && os.Getenv("KILLSWITCH_SKIP_BUILD") == "" {
		if err := build(root, stack.OrgQuarantineBootstrapRelPath, "./lambda/orgquarantine"); err != nil {
			return err
		}
	}

	assetDir := filepath.Join(root, filepath.Dir(stack.BootstrapRelPath))
	// The single-account stack, as always: with an org block it is the
	// management account's own switch, since SCPs do not bind that account.
	if _, err := stack.NewKillswitchStack(app, stack.StackID, &stack.KillswitchStackProps{
		StackProps: awscdk.StackProps{Env: env()},
		Config:     cfg,
		AssetDir:   assetDir,
	}); err != nil {
		return err
	}
	if withOrg {
		if _, err := stack.NewOrgStack(app, stack.OrgStackID, &stack.OrgStackProps{
			StackProps:            awscdk.StackProps{Env: env()},
			Org:                   org,
			Member:                cfg,
			AssetDir:              assetDir,
			OrgQuarantineAssetDir: filepath.Join(root, filepath.Dir(stack.OrgQuarantineBootstrapRelPath)),
		}); err != nil {
			return err
		}
	}

	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	return nil
}

// env pins the stack to the CLI's account and region when they are known
// (credentials/profile present); otherwise the stack is environment-agnostic.
func env() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" && region == "" {
		return nil
	}
	e := &awscdk.Environment{}
	if account != "" {
		e.Account = jsii.String(account)
	}
	if region != "" {
		e.Region = jsii.String(region)
	}
	return e
}

// buildBootstrap cross-compiles ./lambda exactly as `make bootstrap` does.
func buildBootstrap(root string) error {
	return build(root, stack.BootstrapRelPath, "./lambda")
}

// build cross-compiles a Lambda command for the arm64 provided.al2023 runtime.
func build(root, rel, pkg string) error {
	out := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	cmd.Stdout = os.Stderr // stdout belongs to the CDK CLI protocol
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the Lambda bootstrap (GOOS=linux GOARCH=arm64 go build -o %s %s) failed: %w; fix the build, or set KILLSWITCH_SKIP_BUILD=1 to use an existing %s", rel, pkg, err, rel)
	}
	return nil
}
