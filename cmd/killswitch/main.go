// Command killswitch is the kill switch's operator CLI: scan, trip,
// restore, status and disarm. The logic lives in internal/cli; see
// `killswitch --help`.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/killswitch/killswitch/internal/cli"
)

func main() {
	// Ctrl-C ends the calls in flight; a restore or trip cut short says
	// what it did before it stopped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Run(ctx, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}
