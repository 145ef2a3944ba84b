package status

import (
	"fmt"
	"strings"
	"time"
)

// ReconcileStatus is a table's completeness reconciliation: the last
// finished sweep's figures, and the sweep in progress if one is. It is
// the "reconcile" object of a table in the status JSON (omitted for tables
// never swept and not reconciled).
//
//	"reconcile": {
//	  "integration": "servicenow",             // the relay integration it is forwarded to
//	  "interval_seconds": 86400,               // 0: no scheduled sweeps
//	  "last_sweep": "…",                       // when the last finished sweep ended; omitted before the first
//	  "servicenow_count": 120345,              // ServiceNow's rows (Aggregate API) in the compared windows
//	  "forwarded": 120345,                     // rows the agent forwarded and holds live in the same range, after the repairs
//	  "forwarded_total": 120360,               // every live row forwarded when the sweep ended (newer ones too)
//	  "repaired": 3, "deleted": 1,             // rows the last sweep fetched and forwarded; deletes it forwarded
//	  "mismatch": ["created 2026-03"],         // windows still differing after the sweep; omitted when none
//	  "running": "ids",                        // the phase of a sweep in progress (count|ids|verify); omitted when none
//	  "last_error": "…",                       // why the sweep in progress stopped; omitted when none
//	  "next_sweep": "…"                        // omitted when unscheduled
//	}
type ReconcileStatus struct {
	// Integration is the relay integration the table is forwarded to:
	// the relay compares its own count of the table's records with
	// Forwarded.
	Integration string    `json:"integration,omitempty"`
	Interval    Duration  `json:"interval_seconds"`
	LastSweep   time.Time `json:"last_sweep,omitzero"`
	ServiceNow  int64     `json:"servicenow_count"`
	Forwarded   int64     `json:"forwarded"`
	// ForwardedTotal is every row forwarded and live when the sweep
	// ended, rows newer than its bound included: what the relay should
	// hold once the agent's backlog is empty.
	ForwardedTotal int64     `json:"forwarded_total"`
	Repaired       int64     `json:"repaired"`
	Deleted        int64     `json:"deleted"`
	Mismatch       []string  `json:"mismatch,omitempty"`
	Running        string    `json:"running,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	NextSweep      time.Time `json:"next_sweep,omitzero"`
}

// evaluateReconcile: a table whose last sweep left windows whose counts
// still differ from ServiceNow's is DEGRADED, named.
func evaluateReconcile(v *verdictBuilder, s *Snapshot) {
	for _, t := range s.ServiceNow.Tables {
		r := t.Reconcile
		if r == nil || r.LastSweep.IsZero() || len(r.Mismatch) == 0 {
			continue
		}
		v.degrade("table %s: after the reconciliation sweep of %s ServiceNow counts %d rows, the agent forwarded %d (still differing: %s)",
			t.Name, clock(r.LastSweep), r.ServiceNow, r.Forwarded, strings.Join(r.Mismatch, ", "))
	}
}

// renderReconcile is a table's reconciliation line.
func renderReconcile(p *printer, t TableStatus) {
	r := t.Reconcile
	if r == nil {
		return
	}
	var parts []string
	if !r.LastSweep.IsZero() {
		parts = append(parts, fmt.Sprintf("last sweep %s: ServiceNow %d, forwarded %d, repaired %d, deleted %d",
			p.when(r.LastSweep), r.ServiceNow, r.Forwarded, r.Repaired, r.Deleted))
	} else {
		parts = append(parts, "never swept")
	}
	if r.Running != "" {
		parts = append(parts, "sweep in progress ("+r.Running+")")
	}
	if !r.NextSweep.IsZero() && r.Running == "" {
		parts = append(parts, "next "+p.when(r.NextSweep))
	}
	colour := ""
	if len(r.Mismatch) > 0 {
		parts = append(parts, "STILL DIFFERING: "+strings.Join(r.Mismatch, ", "))
		colour = ansiYellow
	}
	p.wrapped("  "+t.Name+" reconcile: ", strings.Join(parts, "; "), colour)
	if r.LastError != "" {
		p.wrapped("  "+t.Name+" reconcile error: ", r.LastError, ansiRed)
	}
}
