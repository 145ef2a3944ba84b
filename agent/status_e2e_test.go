package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// runAgent starts `sei-agent run` in-process; the returned func stops it
// as a service manager would and checks it exited 0.
func runAgent(t *testing.T, cfgPath string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "-c", cfgPath}, io.Discard, &syncWriter{w: &logs}) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("sei-agent run exited %d\n%s", code, logs.String())
			}
		case <-time.After(60 * time.Second):
			t.Errorf("sei-agent run did not stop within 60s")
		}
	}
	t.Cleanup(stop)
	return stop
}

// statusJSON runs `sei-agent status --json`.
func statusJSON(t *testing.T, cfgPath string) (*status.Snapshot, int) {
	t.Helper()
	code, out, errOut := agentCmd(context.Background(), "status", "--json", "-c", cfgPath)
	var s status.Snapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json (exit %d): %v\n%s\n%s", code, err, out, errOut)
	}
	return &s, code
}

func TestStatusEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	relayDir := filepath.Join(t.TempDir(), "relay")
	relay := startRelay(t, relayDir, "127.0.0.1:0")
	env := newAgentEnv(t, relay.enroll(t, "acme", "servicenow", "edge-e2e"), 400)

	// Not running: says so, shows what the data directory holds, exit 3.
	code, out, _ := agentCmd(context.Background(), "status", "-c", env.cfgPath)
	if code != exitNotRunning || !strings.Contains(out, "not running") {
		t.Fatalf("status before start: exit %d\n%s", code, out)
	}

	stop := runAgent(t, env.cfgPath)
	var snap *status.Snapshot
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		snap, code = statusJSON(t, env.cfgPath)
		switch {
		case !snap.Agent.Running:
			return fmt.Errorf("agent not running yet: %s", snap.Agent.Note)
		case !snap.Relay.Connected || snap.Relay.LastAck.IsZero():
			return fmt.Errorf("relay not connected or nothing acknowledged yet: %+v", snap.Relay)
		case snap.Relay.Confirmed["incident"].UpdatedOn == "":
			return fmt.Errorf("no delivery confirmation for incident yet: %v", snap.Relay.Confirmed)
		case code != 0 || snap.Verdict.Level != status.LevelOK:
			return fmt.Errorf("verdict %s %v (exit %d)", snap.Verdict.Level, snap.Verdict.Reasons, code)
		}
		for _, tb := range snap.ServiceNow.Tables {
			if tb.LastResult != status.ResultOK {
				return fmt.Errorf("table %s: %s %s", tb.Name, tb.LastResult, tb.LastError)
			}
			if tb.NextPoll.IsZero() { // set once the whole cycle ended, just after the last table
				return fmt.Errorf("table %s: no next poll yet", tb.Name)
			}
		}
		return nil
	})
	checkLiveSnapshot(t, snap, env)
	checkRelaySeesAgent(t, relay)
	// Run by hand, as here, the agent claims no service state itself (the
	// CLI asks the service manager).
	if own, err := status.Query(context.Background(), env.dataDir); err != nil {
		t.Errorf("query the agent: %v", err)
	} else if own.Agent.ServiceState != "" {
		t.Errorf("the agent's own service state = %q, want none when run by hand", own.Agent.ServiceState)
	}

	// The human form shows every section.
	code, out, _ = agentCmd(context.Background(), "status", "-c", env.cfgPath)
	for _, section := range []string{"agent", "servicenow", "buffer", "relay", "verdict", "incident", "OK"} {
		if !strings.Contains(out, section) {
			t.Errorf("status output lacks %q:\n%s", section, out)
		}
	}
	if code != 0 || strings.Contains(out, "\x1b[") {
		t.Errorf("status exit %d; colour codes off a terminal: %v", code, strings.Contains(out, "\x1b["))
	}
	checkAdminMetrics(t, env.dataDir)

	// The relay goes away: DEGRADED with the reason, exit 1.
	natsURL, _ := url.Parse(relay.info.NATSURL)
	relay.stop()
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		snap, code = statusJSON(t, env.cfgPath)
		if snap.Verdict.Level != status.LevelDegraded || code != 1 {
			return fmt.Errorf("verdict %s (exit %d) after the relay stopped", snap.Verdict.Level, code)
		}
		if !strings.Contains(strings.Join(snap.Verdict.Reasons, " "), "relay") {
			return fmt.Errorf("reasons do not name the relay: %v", snap.Verdict.Reasons)
		}
		return nil
	})

	// A support bundle while the relay is down: no secret, no excluded value.
	bundlePath := filepath.Join(t.TempDir(), "bundle.zip")
	if code, out, errOut := agentCmd(context.Background(), "bundle", "-c", env.cfgPath, "-o", bundlePath); code != 0 {
		t.Fatalf("bundle exited %d: %s %s", code, out, errOut)
	}
	checkBundle(t, bundlePath, env)

	// It comes back on the same address: OK again.
	startRelay(t, relayDir, natsURL.Host)
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		snap, code = statusJSON(t, env.cfgPath)
		if snap.Verdict.Level != status.LevelOK || code != 0 || !snap.Relay.Connected {
			return fmt.Errorf("verdict %s %v (exit %d) after the relay returned", snap.Verdict.Level, snap.Verdict.Reasons, code)
		}
		return nil
	})
	if snap.Relay.Reconnects < 1 {
		t.Errorf("reconnects = %d after the relay came back", snap.Relay.Reconnects)
	}

	// Stopped: the offline view still shows the cursors and confirmations.
	stop()
	snap, code = statusJSON(t, env.cfgPath)
	if code != exitNotRunning || snap.Agent.Running || len(snap.ServiceNow.Tables) == 0 || snap.ServiceNow.Tables[0].Cursor == "" {
		t.Errorf("offline status (exit %d): %+v", code, snap)
	}
	offline := filepath.Join(t.TempDir(), "offline.zip")
	if code, out, errOut := agentCmd(context.Background(), "bundle", "-c", env.cfgPath, "-o", offline); code != 0 {
		t.Fatalf("bundle with the agent stopped exited %d: %s %s", code, out, errOut)
	}
	checkBundle(t, offline, env)
}

// checkRelaySeesAgent: the agent's heartbeats reach the relay, whose
// /v1/agents shows its version, backlog and verdict.
func checkRelaySeesAgent(t *testing.T, r *relayProc) {
	t.Helper()
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodGet, r.info.HTTPURL+"/v1/agents?tenant=acme", nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Agents []struct {
				Agent   string `json:"agent"`
				Version string `json:"version"`
				Verdict string `json:"verdict"`
				Stale   bool   `json:"stale"`
			} `json:"agents"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		for _, a := range body.Agents {
			if a.Agent == "edge-e2e" && a.Version != "" && a.Verdict == status.LevelOK && !a.Stale {
				return nil
			}
		}
		return fmt.Errorf("relay's /v1/agents does not show edge-e2e healthy: %+v", body.Agents)
	})
}

func checkLiveSnapshot(t *testing.T, s *status.Snapshot, env *agentEnv) {
	t.Helper()
	if s.Agent.Version == "" || s.Agent.ConfigFile != env.cfgPath || s.Agent.Uptime <= 0 || s.Agent.PID == 0 {
		t.Errorf("agent section: %+v", s.Agent)
	}
	if s.ServiceNow.URL == "" || s.ServiceNow.AuthMethod != "basic" || len(s.ServiceNow.Tables) < 5 {
		t.Errorf("servicenow section: %+v", s.ServiceNow)
	}
	for _, tb := range s.ServiceNow.Tables {
		if tb.Name == "incident" && (tb.FetchedTotal < 300 || tb.Cursor == "" || tb.LastPollEnd.IsZero() || tb.NextPoll.IsZero() ||
			!strings.Contains(strings.Join(tb.ExcludedFields, ","), "description")) {
			t.Errorf("incident table: %+v", tb)
		}
	}
	if s.Buffer.MaxBytes == 0 || s.Buffer.FreeDisk == 0 {
		t.Errorf("buffer section: %+v", s.Buffer)
	}
	if s.Relay.URL == "" || s.Relay.RTT <= 0 || s.Relay.LastAckBatch == "" || s.Relay.CertExpiry.IsZero() {
		t.Errorf("relay section: %+v", s.Relay)
	}
	if c, ok := s.Relay.Confirmed["incident"]; !ok || c.UpdatedOn == "" {
		t.Errorf("no confirmed cursor for incident: %+v", s.Relay.Confirmed)
	}
}

// checkAdminMetrics scrapes /metrics over the admin socket.
func checkAdminMetrics(t *testing.T, dataDir string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, status.AdminFileName))
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ Network, Address string }
	json.Unmarshal(raw, &info)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, info.Network, info.Address)
	}}}
	resp, err := hc.Get("http://sei-agent/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"sei_agent_buffer_pending_batches", "sei_agent_relay_connected 1", `sei_agent_table_records_fetched_total{table="incident"}`,
		`sei_agent_table_last_success_timestamp_seconds{table="incident"}`, "sei_agent_servicenow_requests_total",
		"sei_agent_servicenow_offset_pages_total 0"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	if fi, err := os.Stat(info.Address); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket %s: %v, mode %v (want 0600)", info.Address, err, fi.Mode().Perm())
	}
}

// checkBundle unzips a support bundle and greps every file for every
// secret and for excluded values.
func checkBundle(t *testing.T, path string, env *agentEnv) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	seed := relaySeed(t, env.cfgPath)
	secrets := []string{env.password, seed}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		for _, s := range secrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("bundle file %s holds a secret", f.Name)
			}
		}
		for _, v := range excludedValues(env.sim) {
			if bytes.Contains(raw, []byte(v)) {
				t.Errorf("bundle file %s holds an excluded value %q", f.Name, v)
				break
			}
		}
	}
	for _, want := range []string{"status.json", "config.yaml", "system.json"} {
		if !names[want] {
			t.Errorf("bundle lacks %s (has %v)", want, names)
		}
	}
}

// relaySeed reads the agent's NKEY seed named by relay.credentials.
func relaySeed(t *testing.T, cfgPath string) string {
	t.Helper()
	raw, _ := os.ReadFile(cfgPath)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "credentials:"); ok {
			seed, err := os.ReadFile(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(seed))
		}
	}
	t.Fatal("no relay.credentials in the agent's configuration")
	return ""
}

// TestSyncUnderFaults: a sync under same-second bulk updates of more rows
// than a page holds, ACL-short pages, 429s, cut-off JSON and 5xx ends with
// every visible record at its latest version in the relay, none twice, and
// deletes applied.
func TestSyncUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	env := newAgentEnv(t, relay.enroll(t, "acme", "servicenow", "edge-e2e"), 1500)
	env.sim.HideRows("incident", 0.2)
	env.sim.SetFaults(snowtest.Faults{RateLimitEvery: 17, RetryAfter: time.Second, ServerErrorEvery: 11, TruncateEvery: 13})
	touches := 0
	env.sim.OnPage(func(table string, page int) {
		if table == "incident" && page%2 == 0 && touches < 4 {
			touches++
			env.sim.Touch("incident", 500) // more than a page, in one second
		}
	})
	var deleted []string
	for _, row := range env.sim.Records("incident")[:10] {
		id := row["sys_id"].(string)
		if env.sim.Hidden("incident", id) {
			continue
		}
		env.sim.Delete("incident", id)
		deleted = append(deleted, id)
	}
	if code, out, errOut := agentCmd(context.Background(), "sync", "-c", env.cfgPath); code != 0 {
		t.Fatalf("sync exited %d: %s\n%s", code, out, errOut)
	}
	if touches == 0 {
		t.Fatal("no bulk update happened during paging")
	}
	// Right after the sync every visible record is there; a record touched
	// again after the scan passed it may still be one version behind.
	var got map[string]relayRecord
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		got, _ = relay.records(t, "acme")
		return relayHoldsVisible(env.sim, got, deleted, false)
	})
	// The next run (its overlap re-reads the boundary) brings the latest
	// version of everything, still with faults.
	env.sim.OnPage(nil)
	if code, out, errOut := agentCmd(context.Background(), "sync", "-c", env.cfgPath); code != 0 {
		t.Fatalf("second sync exited %d: %s\n%s", code, out, errOut)
	}
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		got, _ = relay.records(t, "acme")
		return relayHoldsVisible(env.sim, got, deleted, true)
	})
	for k, rec := range got {
		if strings.HasPrefix(k, "incident/") && !rec.Deleted && env.sim.Hidden("incident", rec.SysID) {
			t.Errorf("relay holds %s, which the API user cannot see", k)
		}
	}
	var codes []int
	for _, r := range env.sim.Requests() {
		if r.Status >= 400 {
			codes = append(codes, r.Status)
		}
	}
	for _, want := range []int{429, 500} {
		if !containsInt(codes, want) && !containsInt(codes, 503) {
			t.Errorf("the simulator answered no %d: faults untested (%v)", want, codes)
		}
	}
}

// relayHoldsVisible checks every incident the API user can see is in the
// relay (at exactly its version when exact), and deleted ones are
// tombstones.
func relayHoldsVisible(sim *snowtest.Server, got map[string]relayRecord, deleted []string, exact bool) error {
	visible := 0
	for _, row := range sim.Records("incident") {
		id := row["sys_id"].(string)
		if sim.Hidden("incident", id) {
			continue
		}
		visible++
		rec, ok := got["incident/"+id]
		if !ok || rec.Deleted {
			return fmt.Errorf("incident %s missing from the relay", id)
		}
		if exact && (rec.SysUpdatedOn != row["sys_updated_on"] || fmt.Sprint(rec.SysModCount) != row["sys_mod_count"]) {
			return fmt.Errorf("incident %s: relay at %s/%d, instance at %v/%v", id, rec.SysUpdatedOn, rec.SysModCount, row["sys_updated_on"], row["sys_mod_count"])
		}
	}
	if visible < 1000 {
		return fmt.Errorf("only %d visible incidents: the test lost its teeth", visible)
	}
	for _, id := range deleted {
		if !got["incident/"+id].Deleted {
			return fmt.Errorf("deleted incident %s is not a tombstone", id)
		}
	}
	return nil
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestSyncWithOAuth: the password grant through the agent's commands;
// tokens persist in the agent's state, so the next run (a new process)
// refreshes instead of sending the password again, and never logs them.
func TestSyncWithOAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := relay.enroll(t, "acme", "servicenow", "edge-e2e")
	clock := func() time.Time { return time.Now().Add(-time.Minute) }
	sim := snowtest.New(snowtest.Options{Seed: 3, Incidents: 200, Now: clock, Username: "sei.integration", Password: "any-password-e2e",
		OAuth: &snowtest.OAuthOptions{ClientID: "sei-client", ClientSecret: "client-Secret-e2e-9f3", AccessTTL: time.Hour}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf(`agent: {id: edge-e2e, data_dir: data}
servicenow:
  url: %s
  auth:
    method: oauth
    grant: password
    client_id: sei-client
    client_secret: ${E2E_CLIENT_SECRET}
    username: sei.integration
    password: ${E2E_SN_PASSWORD}
  lookback: 365d
%s`, srv.URL, block)
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	t.Setenv("E2E_CLIENT_SECRET", "client-Secret-e2e-9f3")
	t.Setenv("E2E_SN_PASSWORD", "any-password-e2e")
	grants := func(kind string) int {
		n := 0
		for _, r := range sim.Requests() {
			if r.Grant == kind {
				n++
			}
		}
		return n
	}
	for i := range 2 {
		if code, out, errOut := agentCmd(context.Background(), "sync", "-c", cfgPath); code != 0 {
			t.Fatalf("sync %d exited %d: %s\n%s", i+1, code, out, errOut)
		}
	}
	if n := grants("password"); n != 1 {
		t.Errorf("%d password grants over two runs: the stored token was not reused", n)
	}
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Path, "/api/now/") && r.Auth != "bearer" {
			t.Errorf("Table API request without a bearer token: %+v", r)
		}
	}
	relay.waitDrained(t)
	got, _ := relay.records(t, "acme")
	if n := countTable(got, "incident"); n < 150 {
		t.Errorf("relay holds %d incidents after an OAuth sync", n)
	}
	checkDirClean(t, filepath.Join(dir, "data"), sim, "client-Secret-e2e-9f3", "any-password-e2e")
}
