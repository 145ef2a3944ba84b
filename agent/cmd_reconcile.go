package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/reconcile"
	"github.com/sei-edge/servicenow-edge/relay/command"
)

// cmdReconcile runs one reconciliation sweep now (of every reconciled
// table, or of --table) with the configured settings, and forwards until
// the relay acknowledged every repair. With several instances each (or
// the one --integration names) sweeps in turn, its lines prefixed with its
// integration; one that fails does not stop the next, and the error names
// each that failed. A single instance is a fleet of one.
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
	subs, err := reconcileInstances(cfg, *integration, *table)
	if err != nil {
		return err
	}
	log, closer, err := commandLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	f, err := openOneShotFleet(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer f.Close()
	// named prefixes what concerns instance i with its integration, for
	// the instances form only.
	named := func(i int) string {
		if !cfg.Multi() {
			return ""
		}
		return f.names[i] + ": "
	}
	start := time.Now()
	var errs []error
	for _, sub := range subs {
		i := slices.Index(f.names, sub.Relay.Integration)
		m := f.members[i]
		if m == nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", f.names[i], f.stoppedErr(i)))
			continue
		}
		results, err := m.Reconcile(ctx, *table, *timeout)
		for _, r := range results {
			fmt.Fprintf(stdout, "%s%s\n", named(i), describeResult(r))
		}
		if err != nil && cfg.Multi() {
			err = fmt.Errorf("instance %s: %w", f.names[i], err)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	took := time.Since(start).Round(time.Millisecond)
	if cfg.Multi() {
		fmt.Fprintf(stdout, "reconcile complete in %s: %d instance(s), every repair acknowledged by the relay, buffers empty\n", took, len(subs))
	} else {
		fmt.Fprintf(stdout, "reconcile complete in %s: every repair acknowledged by the relay, buffer empty\n", took)
	}
	return nil
}

// reconcileInstances returns the instances reconcile sweeps: every one, or
// the one --integration names. With --table, each must reconcile it.
func reconcileInstances(cfg *config.Config, integration, table string) ([]*config.Config, error) {
	subs := cfg.Split()
	if integration != "" {
		sub, err := chooseInstance("reconcile", cfg, integration)
		if err != nil {
			return nil, err
		}
		subs = []*config.Config{sub}
	}
	if table == "" {
		return subs, nil
	}
	for _, sub := range subs {
		var names []string
		for _, t := range reconcileTables(sub) {
			names = append(names, t.Name)
		}
		if !slices.Contains(names, table) {
			of := cfg.File
			if cfg.Multi() {
				of = "instance " + sub.Relay.Integration
			}
			return nil, command.Usagef("--table %s: not a reconciled table of %s (these are: %s; only tables incremental on sys_updated_on are)",
				table, of, strings.Join(names, ", "))
		}
	}
	return subs, nil
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
