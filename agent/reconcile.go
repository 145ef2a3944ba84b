package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/reconcile"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/status"
)

// reconcileTables are the polled tables with their sweep settings: those
// incremental on sys_updated_on, whatever their interval (the reconcile
// command sweeps a table whose schedule is off too).
func reconcileTables(cfg *config.Config) []reconcile.Table {
	var out []reconcile.Table
	for _, t := range syncTables(cfg) {
		interval, verify := cfg.ServiceNow.ReconcileOf(t.Name, t.Field)
		if t.Field != "sys_updated_on" {
			continue
		}
		out = append(out, reconcile.Table{Table: t, Interval: interval, VerifyFields: verify})
	}
	return out
}

// newSweeper builds the reconciliation sweeper over the agent's client,
// buffer and poller.
func (a *Agent) newSweeper() *reconcile.Sweeper {
	return reconcile.New(reconcile.Config{
		Tables:   reconcileTables(a.cfg),
		Lookback: time.Duration(a.cfg.ServiceNow.Lookback),
		// A table is compared once a poll of it completed: up to its cursor.
		Bound: func(table string) string {
			st := a.poller.TableStats(table)
			if st.LastSuccess.IsZero() {
				return ""
			}
			return st.Cursor.Time
		},
		Logger: a.log.With().Str("component", "reconcile").Logger(),
	}, a.sn, a.buf, a.poller)
}

// Reconcile sweeps every reconciled table (or only table) now and forwards
// until the buffer is empty: it returns nil only when the relay
// acknowledged every repair (and anything else pending).
func (a *Agent) Reconcile(ctx context.Context, table string, timeout time.Duration) ([]reconcile.Result, error) {
	var results []reconcile.Result
	err := a.whileForwarding(ctx, "reconcile", timeout, func(ctx context.Context) error {
		for _, t := range reconcileTables(a.cfg) {
			if table != "" && t.Name != table {
				continue
			}
			r, err := a.sweeper.Sweep(ctx, t.Name)
			if err != nil {
				return err
			}
			results = append(results, *r)
		}
		return a.drain(ctx, "reconcile")
	})
	return results, err
}

// reconcileSection adds each reconciled table's sweep figures to sn.
func (a *Agent) reconcileSection(sn *status.ServiceNow) {
	addReconcile(a.cfg, sn, a.sweeper.Results())
}

// addReconcile adds each reconciled table's sweep figures (results) to sn.
func addReconcile(cfg *config.Config, sn *status.ServiceNow, results map[string]reconcile.Result) {
	settings := map[string]reconcile.Table{}
	for _, t := range reconcileTables(cfg) {
		settings[t.Name] = t
	}
	for i := range sn.Tables {
		t := &sn.Tables[i]
		set, ok := settings[t.Name]
		if !ok {
			continue
		}
		t.Reconcile = reconcileStatus(set, results[t.Name])
		t.Reconcile.Integration = cfg.Relay.Integration
	}
}

// reconcileStatus is the status of one table's sweeps: the figures of the
// last finished one, and the phase of the one in progress.
func reconcileStatus(set reconcile.Table, r reconcile.Result) *status.ReconcileStatus {
	rs := &status.ReconcileStatus{Interval: status.Duration(set.Interval)}
	done := r
	if r.Table != "" && !r.Done() {
		rs.Running, rs.LastError = r.Phase, r.Error
		if r.Previous != nil {
			done = *r.Previous
		} else {
			done = reconcile.Result{}
		}
	}
	if done.Done() {
		rs.LastSweep = done.Finished
		rs.ServiceNow, rs.Forwarded, rs.Repaired, rs.Deleted = done.Source, done.Indexed, done.Repaired, done.Deleted
		rs.ForwardedTotal = done.Total
		rs.Mismatch = done.Mismatch
		if set.Interval > 0 {
			rs.NextSweep = done.Finished.Add(set.Interval)
		}
	}
	return rs
}

// checkReconcile is validate's line for the reconciliation sweeps: one
// Aggregate API count (of an empty window) on the first table swept on a
// schedule; none when no table is.
func checkReconcile(ctx context.Context, client *servicenow.Client, cfg *config.Config) []check {
	var swept []string
	var first *reconcile.Table
	for _, t := range reconcileTables(cfg) {
		if t.Interval > 0 {
			swept = append(swept, t.Name)
			if first == nil {
				first = &t
			}
		}
	}
	if first == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if _, err := client.Count(cctx, first.Table, "sys_created_on<1970-01-02 00:00:00"); err != nil {
		return []check{{"reconcile", false, fmt.Sprintf("servicenow.reconcile.interval: the Aggregate API (/api/now/stats/%s) failed: %v; let the integration user read it, or set servicenow.reconcile.interval: 0", first.Name, err)}}
	}
	return []check{{"reconcile", true, fmt.Sprintf("Aggregate API readable; swept every %s: %s", first.Interval, strings.Join(swept, ", "))}}
}
