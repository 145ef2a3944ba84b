package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
)

// TestReconcileEndToEnd makes each kind of change a poll cannot see (an
// autoSysFields(false) update, a hard delete without audit row, a row an
// ACL hid at poll time and shows later), checks that syncs miss them, then
// runs `sei-agent reconcile` once: the relay then matches the instance
// exactly, live rows, versions, fields and deletes.
func TestReconcileEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	ctx := context.Background()
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := relay.enroll(t, "acme", "servicenow", "edge-e2e")
	env := newAgentEnv(t, block, 600)
	withReconcile(t, env.cfgPath, "  reconcile: {interval: 24h, verify_fields: true}\n")

	rows := env.sim.Records("incident")
	shown := rows[3]["sys_id"].(string)
	env.sim.SetHidden("incident", shown, true)
	if code, out, errOut := agentCmd(ctx, "sync", "-c", env.cfgPath); code != 0 {
		t.Fatalf("sync exited %d: %s\n%s", code, out, errOut)
	}
	silent, gone := rows[10]["sys_id"].(string), rows[20]["sys_id"].(string)
	if err := env.sim.UpdateSilently("incident", silent, map[string]string{"short_description": "rewritten by a script with autoSysFields(false)"}); err != nil {
		t.Fatal(err)
	}
	if err := env.sim.HardDelete("incident", gone); err != nil {
		t.Fatal(err)
	}
	env.sim.SetHidden("incident", shown, false)

	// The check of the test: polling does not see any of them.
	if code, out, errOut := agentCmd(ctx, "sync", "-c", env.cfgPath); code != 0 {
		t.Fatalf("second sync exited %d: %s\n%s", code, out, errOut)
	}
	relay.waitDrained(t)
	before, _ := relay.records(t, "acme")
	if _, ok := before["incident/"+shown]; ok {
		t.Fatal("the poll saw the row shown after it was polled hidden")
	}
	if rec, ok := before["incident/"+gone]; !ok || rec.Deleted {
		t.Fatal("the poll saw the hard delete")
	}
	if strings.Contains(string(before["incident/"+silent].Fields), "autoSysFields") {
		t.Fatal("the poll saw the silent update")
	}

	code, out, errOut := agentCmd(ctx, "reconcile", "-c", env.cfgPath, "--table", "incident")
	if code != 0 {
		t.Fatalf("reconcile exited %d: %s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "incident: ServiceNow") || !strings.Contains(out, "repaired 2, deleted 1, still differing: none") {
		t.Errorf("reconcile output:\n%s", out)
	}
	relay.waitDrained(t)
	after, _ := relay.records(t, "acme")
	checkRelayMatches(t, env, after)
	checkStatusReconcile(t, env.cfgPath)

	// Every table is swept without --table; nothing is left to repair.
	if code, out, errOut := agentCmd(ctx, "reconcile", "-c", env.cfgPath); code != 0 || strings.Contains(out, "still differing: created") {
		t.Fatalf("second reconcile exited %d: %s\n%s", code, out, errOut)
	} else if strings.Count(out, "repaired 0, deleted 0") != 5 {
		t.Errorf("second reconcile of 5 tables repaired something:\n%s", out)
	}
	if code, _, errOut := agentCmd(ctx, "reconcile", "-c", env.cfgPath, "--table", "sys_audit"); code != 2 || !strings.Contains(errOut, "--table sys_audit") {
		t.Errorf("reconcile --table sys_audit: exit %d, %s; want 2 naming the flag", code, errOut)
	}
}

// withReconcile adds servicenow keys to the configuration at path.
func withReconcile(t *testing.T, path, keys string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "  page_size: 400\n", "  page_size: 400\n"+keys, 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkRelayMatches compares the relay's incidents with the instance: every
// row the API user can read is live at its version with the fields a fetch
// now returns (exclusions applied); every other incident is a tombstone.
func checkRelayMatches(t *testing.T, env *agentEnv, got map[string]relayRecord) {
	t.Helper()
	c, err := servicenow.New(servicenow.Config{URL: envURL(t, env), Logger: zerolog.Nop(),
		Auth:    servicenow.Auth{Method: "basic", Username: "sei.integration", Password: env.password},
		Exclude: servicenow.Exclusions{Global: excluded}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, row := range env.sim.Records("incident") {
		ids = append(ids, row["sys_id"].(string))
	}
	fresh, err := c.Fetch(context.Background(), servicenow.Table{Name: "incident", Field: servicenow.FieldUpdatedOn}, ids)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for _, want := range fresh {
		live[want.SysID] = true
		rec, ok := got["incident/"+want.SysID]
		if !ok || rec.Deleted || rec.SysUpdatedOn != want.SysUpdatedOn || rec.SysModCount != want.SysModCount {
			t.Errorf("incident %s: relay %+v, instance at %s/%d", want.SysID, rec, want.SysUpdatedOn, want.SysModCount)
			continue
		}
		var have map[string]json.RawMessage
		if err := json.Unmarshal(rec.Fields, &have); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rawStrings(want.Fields), rawStrings(have)); diff != "" {
			t.Errorf("incident %s fields (-instance +relay):\n%s", want.SysID, diff)
		}
	}
	for k, rec := range got {
		id, ok := strings.CutPrefix(k, "incident/")
		if ok && !live[id] && !rec.Deleted {
			t.Errorf("incident %s is gone from the instance but live in the relay", id)
		}
	}
	if len(live) != len(env.sim.Records("incident")) {
		t.Errorf("fetched %d incidents, the instance has %d", len(live), len(env.sim.Records("incident")))
	}
}

func rawStrings(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// envURL reads the instance URL back from the agent's configuration.
func envURL(t *testing.T, env *agentEnv) string {
	t.Helper()
	raw, err := os.ReadFile(env.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "url: "); ok && strings.HasPrefix(u, "http") {
			return u
		}
	}
	t.Fatal(fmt.Sprintf("no servicenow url in %s", env.cfgPath))
	return ""
}

// checkStatusReconcile reads `status --json` (the agent is not running: the
// figures come from its data directory) and checks incident's reconcile
// section: the sweep's repairs and equal counts.
func checkStatusReconcile(t *testing.T, cfgPath string) {
	t.Helper()
	_, out, errOut := agentCmd(context.Background(), "status", "--json", "-c", cfgPath)
	var snap struct {
		ServiceNow struct {
			Tables []struct {
				Name      string
				Reconcile *struct {
					Integration string    `json:"integration"`
					LastSweep   time.Time `json:"last_sweep"`
					ServiceNow  int64     `json:"servicenow_count"`
					Forwarded   int64     `json:"forwarded"`
					Repaired    int64     `json:"repaired"`
					Deleted     int64     `json:"deleted"`
					Mismatch    []string  `json:"mismatch"`
				} `json:"reconcile"`
			} `json:"tables"`
		} `json:"servicenow"`
	}
	if err := json.Unmarshal([]byte(out), &snap); err != nil {
		t.Fatalf("status --json: %v\n%s\n%s", err, out, errOut)
	}
	seen := 0
	for _, tb := range snap.ServiceNow.Tables {
		switch {
		case tb.Name == "incident":
			r := tb.Reconcile
			if r == nil || r.LastSweep.IsZero() || r.Repaired != 2 || r.Deleted != 1 || r.ServiceNow != r.Forwarded || len(r.Mismatch) != 0 || r.Integration != "servicenow" {
				t.Errorf("status incident reconcile = %+v", r)
			}
			seen++
		case tb.Name == "sys_audit" && tb.Reconcile != nil:
			t.Errorf("insert-only sys_audit has a reconcile section: %+v", tb.Reconcile)
		}
	}
	if seen != 1 {
		t.Errorf("status lists no incident table:\n%s", out)
	}
}
