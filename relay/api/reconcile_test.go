package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// reconcileStatus is an agent status snapshot with the reconcile figures
// of incident and sys_user, polled last at pollStart.
func reconcileStatus(sweep, pollStart time.Time, incident, sysUser int64) json.RawMessage {
	table := func(name string, fwd int64) string {
		// forwarded counts the compared range (older rows); the relay
		// compares its count with forwarded_total.
		return fmt.Sprintf(`{"name":%q,"last_poll_start":%q,"reconcile":{"integration":"snow1","last_sweep":%q,"servicenow_count":%d,"forwarded":%d,"forwarded_total":%d}}`,
			name, pollStart.Format(time.RFC3339), sweep.Format(time.RFC3339), fwd-2, fwd-2, fwd)
	}
	return json.RawMessage(`{"servicenow":{"tables":[` + table("incident", incident) + "," + table("sys_user", sysUser) + `]}}`)
}

// TestAgentsCheckReconcile: the relay counts its live records of each table
// an agent reconciled; a table whose count differs from what the agent
// forwarded makes the agent DEGRADED, named, but only once the agent's
// backlog is empty and no poll has started since the sweep.
func TestAgentsCheckReconcile(t *testing.T) {
	f := newFixture(t)
	sweep := now.Add(-time.Hour)
	// t1/snow1 holds 27 live incidents and 27 live sys_user rows.
	putAgent(t, f.st, "t1", "edge", now, wire.Heartbeat{Agent: "edge", Time: now, Verdict: "OK",
		Status: reconcileStatus(sweep, sweep.Add(-time.Minute), 27, 30)})
	putAgent(t, f.st, "t1", "busy", now, wire.Heartbeat{Agent: "busy", Time: now, Verdict: "OK", Backlog: 40,
		Status: reconcileStatus(sweep, sweep.Add(-time.Minute), 27, 30)})
	putAgent(t, f.st, "t1", "polled", now, wire.Heartbeat{Agent: "polled", Time: now, Verdict: "OK",
		Status: reconcileStatus(sweep, sweep.Add(time.Minute), 27, 30)})
	resp := f.get(t, "/v1/agents?tenant=t1", adminToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/agents: %s", resp.Status)
	}
	var a agentsAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	views := map[string]agentView{}
	for _, v := range a.Agents {
		views[v.Agent] = v
	}
	edge := views["edge"]
	if edge.Verdict != "DEGRADED" || len(edge.Reasons) != 1 || !strings.Contains(edge.Reasons[0], "table sys_user: the relay holds 27 live records of integration snow1, the agent forwarded 30") {
		t.Errorf("edge: verdict %s, reasons %q; want DEGRADED naming sys_user", edge.Verdict, edge.Reasons)
	}
	if len(edge.Reconcile) != 2 || !edge.Reconcile[0].Match || edge.Reconcile[1].Match || edge.Reconcile[0].Relay == nil || *edge.Reconcile[0].Relay != 27 {
		t.Errorf("edge reconcile = %+v", edge.Reconcile)
	}
	for _, name := range []string{"busy", "polled"} {
		v := views[name]
		if v.Verdict != "OK" || len(v.Reconcile) != 2 || v.Reconcile[1].Relay != nil {
			t.Errorf("%s (not comparable): verdict %s, reconcile %+v; want OK and no relay count", name, v.Verdict, v.Reconcile)
		}
	}
}

// TestAgentsCheckReconcileInstances: an agent with several instances
// carries each instance's tables under "instances"; the relay checks
// them as it checks a single instance's.
func TestAgentsCheckReconcileInstances(t *testing.T) {
	f := newFixture(t)
	sweep := now.Add(-time.Hour)
	one := reconcileStatus(sweep, sweep.Add(-time.Minute), 27, 30)
	multi := json.RawMessage(`{"servicenow":{"tables":[]},"instances":[` + string(one) + `]}`)
	putAgent(t, f.st, "t1", "fleet", now, wire.Heartbeat{Agent: "fleet", Time: now, Verdict: "OK", Status: multi})
	resp := f.get(t, "/v1/agents?tenant=t1", adminToken)
	var a agentsAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	if len(a.Agents) != 1 || len(a.Agents[0].Reconcile) != 2 || a.Agents[0].Verdict != "DEGRADED" ||
		!strings.Contains(strings.Join(a.Agents[0].Reasons, " "), "table sys_user: the relay holds 27") {
		t.Errorf("fleet: %+v", a.Agents)
	}
}
