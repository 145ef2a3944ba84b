package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// reconcileView is the relay's check of one table an agent reconciled:
// the agent's figures from its heartbeat (its last sweep) and the relay's
// own count of the table's live records. Listed in /v1/agents under
// "reconcile".
type reconcileView struct {
	Table       string    `json:"table"`
	Integration string    `json:"integration"`
	LastSweep   time.Time `json:"last_sweep"`
	ServiceNow  int64     `json:"servicenow_count"` // ServiceNow's rows, as the agent's sweep counted them
	Forwarded   int64     `json:"agent_forwarded"`  // every row the agent forwarded and held live when the sweep ended
	// Relay is the relay's live records of the table, counted once per
	// sweep when the agent's backlog was empty and no poll had started
	// since the sweep; omitted while not comparable.
	Relay    *int64   `json:"relay_count,omitempty"`
	Mismatch []string `json:"mismatch,omitempty"` // the agent's windows still differing from ServiceNow
	// Match: ServiceNow, the agent and (when counted) the relay agree.
	Match bool `json:"match"`
}

// agentTables is the part of an agent's status snapshot the check reads:
// the tables of its one instance, or of each of its instances (an agent
// with several; each table's reconcile section names its integration).
type agentTables struct {
	ServiceNow agentServiceNow `json:"servicenow"`
	Instances  []struct {
		ServiceNow agentServiceNow `json:"servicenow"`
	} `json:"instances"`
}

// agentServiceNow is one instance's tables in an agent's status snapshot.
type agentServiceNow struct {
	Tables []struct {
		Name          string    `json:"name"`
		LastPollStart time.Time `json:"last_poll_start"`
		Reconcile     *struct {
			Integration string    `json:"integration"`
			LastSweep   time.Time `json:"last_sweep"`
			ServiceNow  int64     `json:"servicenow_count"`
			Forwarded   int64     `json:"forwarded"`
			Total       int64     `json:"forwarded_total"`
			Mismatch    []string  `json:"mismatch"`
		} `json:"reconcile"`
	} `json:"tables"`
}

// relayCounts caches the relay's counts per (tenant, agent, integration,
// table, sweep): each is counted once per sweep.
type relayCounts struct {
	mu sync.Mutex // guards counts
	m  map[string]int64
}

func (c *relayCounts) get(key string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[key]
	return n, ok
}

func (c *relayCounts) put(key string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]int64{}
	}
	c.m[key] = n
}

// checkReconcile compares each table the agent reconciled with the
// relay's own count, and returns the views and the reasons that make the
// agent DEGRADED (a table whose counts differ after a sweep).
func (s *Server) checkReconcile(ctx context.Context, tenant string, hb wire.Heartbeat) ([]reconcileView, []string) {
	var st agentTables
	if len(hb.Status) == 0 || json.Unmarshal(hb.Status, &st) != nil {
		return nil, nil
	}
	var views []reconcileView
	var reasons []string
	tables := st.ServiceNow.Tables
	for _, in := range st.Instances {
		tables = append(tables, in.ServiceNow.Tables...)
	}
	for _, t := range tables {
		r := t.Reconcile
		if r == nil || r.LastSweep.IsZero() || !wire.ValidName(r.Integration) {
			continue
		}
		fwd := r.Total
		if fwd == 0 { // an agent without the total: the compared range
			fwd = r.Forwarded
		}
		v := reconcileView{Table: t.Name, Integration: r.Integration, LastSweep: r.LastSweep,
			ServiceNow: r.ServiceNow, Forwarded: fwd, Mismatch: r.Mismatch}
		// Comparable: everything the agent forwarded is in the store
		// (backlog 0) and no poll has added rows since the sweep.
		if hb.Backlog == 0 && t.LastPollStart.Before(r.LastSweep) {
			if n, err := s.relayCount(ctx, tenant, hb.Agent, r.Integration, t.Name, r.LastSweep); err == nil {
				v.Relay = &n
			} else {
				s.log.Warn().Err(err).Str("table", t.Name).Msg("count records for the reconciliation check")
			}
		}
		// The agent's own verdict already names a table still differing
		// from ServiceNow; the relay adds what only it can see.
		v.Match = len(r.Mismatch) == 0 && (v.Relay == nil || *v.Relay == fwd)
		if v.Relay != nil && *v.Relay != fwd {
			reasons = append(reasons, fmt.Sprintf("table %s: the relay holds %d live records of integration %s, the agent forwarded %d (sweep of %s)",
				t.Name, *v.Relay, r.Integration, fwd, r.LastSweep.UTC().Format(time.RFC3339)))
		}
		views = append(views, v)
	}
	return views, reasons
}

// relayCount counts the live records of (tenant, integration, table),
// once per sweep.
func (s *Server) relayCount(ctx context.Context, tenant, agent, integration, table string, sweep time.Time) (int64, error) {
	key := strings.Join([]string{tenant, agent, integration, table, sweep.UTC().Format(time.RFC3339Nano)}, "\x00")
	if n, ok := s.counts.get(key); ok {
		return n, nil
	}
	var n int64
	after := ""
	for {
		recs, next, err := s.cfg.Store.List(ctx, store.Query{Tenant: tenant, Integration: integration, Table: table, After: after, Limit: store.MaxLimit})
		if err != nil {
			return 0, err
		}
		for _, r := range recs {
			if !r.Deleted {
				n++
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	s.counts.put(key, n)
	return n, nil
}
