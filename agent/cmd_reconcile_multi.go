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
	"github.com/sei-edge/servicenow-edge/relay/command"
)

// reconcileFleet is cmdReconcile for several instances: each instance (or
// the one --integration names) sweeps in turn, one line per table prefixed
// with its integration; an instance that fails does not stop the next,
// and the error names each that failed.
func reconcileFleet(ctx context.Context, cfg *config.Config, integration, table string, timeout time.Duration, stdout, stderr io.Writer) error {
	subs := cfg.Split()
	if integration != "" {
		sub, err := chooseInstance("reconcile", cfg, integration)
		if err != nil {
			return err
		}
		subs = []*config.Config{sub}
	}
	if table != "" {
		for _, sub := range subs {
			var names []string
			for _, t := range reconcileTables(sub) {
				names = append(names, t.Name)
			}
			if !slices.Contains(names, table) {
				return command.Usagef("--table %s: not a reconciled table of instance %s (these are: %s; only tables incremental on sys_updated_on are)",
					table, sub.Relay.Integration, strings.Join(names, ", "))
			}
		}
	}
	log, closer, err := commandLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	f, err := openFleet(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	var errs []error
	for _, sub := range subs {
		i := slices.Index(f.names, sub.Relay.Integration)
		m := f.members[i]
		if m == nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", f.names[i], f.stoppedErr(i)))
			continue
		}
		results, err := m.Reconcile(ctx, table, timeout)
		for _, r := range results {
			fmt.Fprintf(stdout, "%s: %s\n", f.names[i], describeResult(r))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", f.names[i], err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reconcile complete in %s: %d instance(s), every repair acknowledged by the relay, buffers empty\n",
		time.Since(start).Round(time.Millisecond), len(subs))
	return nil
}
