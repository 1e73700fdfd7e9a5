// Command money prints the money simulation: the dollars the origin story
// (300 × p3.2xlarge at t = 0) loses before containment on the budget path,
// the billing-alarm path and the census path, measured against moto, and
// what the census schedule costs a month. Run it with `make money`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/killswitch/killswitch/tests/internal/money"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

func main() {
	latency := flag.Duration("latency", 50*time.Millisecond, "latency the fault proxy adds to every AWS call")
	minutes := flag.Int("census-minutes", 5, "the census interval the table is worked out for")
	flag.Parse()
	if err := run(*latency, *minutes); err != nil {
		fmt.Fprintln(os.Stderr, "money:", err)
		os.Exit(1)
	}
}

func run(latency time.Duration, minutes int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, err := moto.Start(ctx)
	if err != nil {
		return fmt.Errorf("the simulation needs moto_server: %w", err)
	}
	defer srv.Stop()
	o := money.Origin(srv.URL)
	o.Latency, o.CensusMinutes, o.Log = latency, minutes, os.Stderr
	res, err := money.Simulate(ctx, o)
	if err != nil {
		return err
	}
	res.Table(os.Stdout)
	return nil
}
