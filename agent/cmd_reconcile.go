package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/reconcile"
	"github.com/sei-edge/servicenow-edge/relay/command"
)

// cmdReconcile runs one reconciliation sweep now (of every reconciled
// table, or of --table) with the configured settings, and forwards until
// the relay acknowledged every repair.
func cmdReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("reconcile", stdout)
	table := fs.String("table", "", "sweep only this table")
	integration := fs.String("integration", "", "with several instances (instances:), sweep only this one (default: every instance)")
	timeout := fs.Duration("timeout", 6*time.Hour, "give up (exit 1) when the sweep and its acknowledgements are not done by then")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if cfg.Multi() {
		return reconcileFleet(ctx, cfg, *integration, *table, *timeout, stdout, stderr)
	}
	if _, err := chooseInstance("reconcile", cfg, *integration); err != nil {
		return err
	}
	var names []string
	for _, t := range reconcileTables(cfg) {
		names = append(names, t.Name)
	}
	if *table != "" && !slices.Contains(names, *table) {
		return command.Usagef("--table %s: not a reconciled table of %s (these are: %s; only tables incremental on sys_updated_on are)",
			*table, cfg.File, strings.Join(names, ", "))
	}
	log, closer, err := commandLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	a, err := openOneShot(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	start := time.Now()
	results, err := a.Reconcile(ctx, *table, *timeout)
	for _, r := range results {
		fmt.Fprintln(stdout, describeResult(r))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reconcile complete in %s: every repair acknowledged by the relay, buffer empty\n",
		time.Since(start).Round(time.Millisecond))
	return nil
}

// describeResult is one line about a table's sweep.
func describeResult(r reconcile.Result) string {
	mismatch := "none"
	if len(r.Mismatch) > 0 {
		mismatch = strings.Join(r.Mismatch, "; ")
	}
	return fmt.Sprintf("%s: ServiceNow %d rows, forwarded %d, repaired %d, deleted %d, still differing: %s (%s)",
		r.Table, r.Source, r.Indexed, r.Repaired, r.Deleted, mismatch, r.Finished.Sub(r.Started).Round(time.Millisecond))
}
