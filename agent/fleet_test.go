package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestFleetInstanceFailureIsolated: one instance's pipeline failing at
// run time (its forwarder cannot read its credentials) stops that
// instance only. The other polls and delivers; status names the stopped
// one; the heartbeat goes out once, from the first running instance, and
// moves to the next when that one stops; /metrics labels each instance's
// figures with its integration.
// fleetConfig writes a two-instance configuration (snow-prod, snow-emea,
// a simulator each) enrolled on a real relay, and returns its path.
func fleetConfig(t *testing.T, agent string) (*relayProc, string) {
	t.Helper()
	r := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := enrollBlock(t, r, agent, "snow-prod", "snow-emea")
	var urls []string
	for _, seed := range []int64{3, 4} {
		srv := httptest.NewServer(snowtest.New(snowtest.Options{Seed: seed, Incidents: 40, Username: "u", Password: "p",
			Now: func() time.Time { return time.Now().Add(-time.Minute) }}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	path := filepath.Join(t.TempDir(), "agent.yaml")
	cfgText := fmt.Sprintf(`agent: {id: %s, data_dir: data}
instances:
  - {integration: snow-prod, servicenow: {url: %s, auth: {method: basic, username: u, password: p}, lookback: 365d}}
  - {integration: snow-emea, servicenow: {url: %s, auth: {method: basic, username: u, password: p}, lookback: 365d}}
%s`, agent, urls[0], urls[1], block)
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	return r, path
}

func TestFleetInstanceFailureIsolated(t *testing.T) {
	r, path := fleetConfig(t, "edge-fleet")
	dir := filepath.Dir(path)
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := openFleet(t.Context(), cfg, zerolog.Nop(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// snow-emea's pipeline gets credentials it cannot read.
	bad := filepath.Join(dir, "garbage.creds")
	os.WriteFile(bad, []byte("not a seed\n"), 0o600)
	sub := *f.members[1].cfg
	sub.Relay.Credentials = bad
	f.members[1].Close()
	if f.members[1], err = openWith(t.Context(), &Agent{cfg: &sub, log: zerolog.Nop(), member: true,
		memberHeartbeat: func() wire.Heartbeat { return f.heartbeatFor(1) }}); err != nil {
		t.Fatal(err)
	}

	if hb := f.heartbeatFor(1); hb.Agent != "" {
		t.Errorf("a second instance sends a heartbeat too: %+v", hb)
	}
	if hb := f.heartbeatFor(0); hb.Agent != "edge-fleet" || !strings.Contains(string(hb.Status), `"instances"`) {
		t.Errorf("first instance's heartbeat = %+v", hb)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		recs, _ := r.records(t, "acme")
		n := 0
		for _, rec := range recs {
			if rec.Integration != "snow-prod" {
				t.Fatalf("a record of %s reached the relay", rec.Integration)
			}
			if rec.Table == "incident" && !rec.Deleted {
				n++
			}
		}
		if n < 30 {
			return fmt.Errorf("%d snow-prod incidents at the relay", n)
		}
		return nil
	})
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		s := f.Snapshot()
		s.Finalize(thresholds(cfg), time.Now())
		if s.Instances[1].Error == "" || !strings.Contains(s.Instances[1].Error, "relay.credentials") {
			return fmt.Errorf("snow-emea error = %q", s.Instances[1].Error)
		}
		if s.Verdict.Level != status.LevelFailing || !strings.HasPrefix(s.Verdict.Reasons[0], "snow-emea: stopped") {
			t.Errorf("verdict = %+v", s.Verdict)
		}
		if s.Instances[0].Error != "" {
			t.Errorf("snow-prod stopped too: %s", s.Instances[0].Error)
		}
		return nil
	})
	mfs, err := f.metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	labelled := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "sei_agent_buffer_pending_batches" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "integration" {
					labelled[l.GetValue()] = true
				}
			}
		}
	}
	if !labelled["snow-prod"] || !labelled["snow-emea"] {
		t.Errorf("metrics labelled with %v", labelled)
	}
	// The heartbeat moves on when the instance carrying it stops.
	f.mu.Lock()
	f.stopped[0] = fmt.Errorf("test")
	f.mu.Unlock()
	if hb0, hb1 := f.heartbeatFor(0), f.heartbeatFor(1); hb0.Agent != "" || hb1.Agent != "" {
		t.Errorf("with every instance stopped, heartbeats %q %q", hb0.Agent, hb1.Agent)
	}
	f.mu.Lock()
	f.stopped[0], f.stopped[1] = nil, nil
	f.stopped[0] = fmt.Errorf("test")
	f.mu.Unlock()
	if hb := f.heartbeatFor(1); hb.Agent != "edge-fleet" {
		t.Errorf("heartbeat did not move to snow-emea: %+v", hb)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestFleetInstanceNotOpened: an instance whose folder cannot be made
// (a file stands in its way) is reported and stays stopped; the other
// instance syncs all the same, and the error names the one that failed.
func TestFleetInstanceNotOpened(t *testing.T) {
	r, path := fleetConfig(t, "edge-fleet2")
	inst := filepath.Join(filepath.Dir(path), "data", "instances")
	if err := os.MkdirAll(inst, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inst, "snow-emea"), []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := agentCmd(context.Background(), "sync", "-c", path, "--timeout", "2m")
	if code != command.ExitFailure || !strings.Contains(errOut, "instance snow-emea") || !strings.Contains(out, "snow-emea: not started") {
		t.Errorf("sync: exit %d\n%s%s", code, out, errOut)
	}
	recs, _ := r.records(t, "acme")
	n := 0
	for _, rec := range recs {
		if rec.Integration == "snow-prod" && rec.Table == "incident" && !rec.Deleted {
			n++
		}
	}
	if n < 30 {
		t.Errorf("%d snow-prod incidents at the relay after sync", n)
	}
	stop := runAgent(t, path)
	// An offline status opens the buffers: wait until run has them.
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, err := os.Stat(filepath.Join(filepath.Dir(path), "data", status.AdminFileName))
		return err
	})
	var s *status.Snapshot
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		var code int
		s, code = statusJSON(t, path)
		if code == exitNotRunning || len(s.Instances) != 2 {
			return fmt.Errorf("status exit %d", code)
		}
		return nil
	})
	if s.Instances[1].Error == "" || s.Verdict.Level != status.LevelFailing || !strings.HasPrefix(s.Verdict.Reasons[0], "snow-emea: stopped") ||
		s.Instances[0].Error != "" {
		t.Errorf("status: verdict %+v, instances %+v", s.Verdict, s.Instances)
	}
	stop()
}

// TestFleetRemoteRequests: an agent with several instances answers the
// cloud once: status carries every instance, preview and resync go to the
// instance the request names (and say which exist when it names none or
// another), bundle covers every instance.
func TestFleetRemoteRequests(t *testing.T) {
	r, path := fleetConfig(t, "edge-fleet3")
	raw, _ := os.ReadFile(path)
	os.WriteFile(path, append(raw, []byte("remote_requests: {allow: [status, validate, preview, resync, bundle]}\n")...), 0o600)
	runAgent(t, path)
	ans := waitAnswers(t, r, "acme", "edge-fleet3")
	var s status.Snapshot
	if err := json.Unmarshal(ans.Result, &s); err != nil || len(s.Instances) != 2 || s.Instances[1].Integration != "snow-emea" {
		t.Fatalf("status answer: %v %+v", err, s.Instances)
	}
	for _, in := range []string{"snow-prod", "snow-emea"} {
		code, ans := r.ask(t, r.token, "acme", "edge-fleet3", `{"kind":"preview","integration":"`+in+`","table":"incident","limit":2}`)
		var res struct {
			Integration string
			Records     []json.RawMessage
		}
		json.Unmarshal(ans.Result, &res)
		if code != http.StatusOK || res.Integration != in || len(res.Records) != 2 {
			t.Errorf("preview of %s: %d %q %+v", in, code, ans.Error, res)
		}
	}
	for body, want := range map[string]string{
		`{"kind":"preview","table":"incident"}`:                                             "several instances (snow-prod, snow-emea)",
		`{"kind":"preview","table":"incident","integration":"snow-apac"}`:                   `integration "snow-apac"`,
		`{"kind":"resync","table":"incident","from":"2026-01-01"}`:                          "several instances",
		`{"kind":"resync","integration":"snow-prod","table":"cmdb_ci","from":"2026-01-01"}`: "not synced",
	} {
		if code, ans := r.ask(t, r.token, "acme", "edge-fleet3", body); code != http.StatusBadRequest || !strings.Contains(ans.Error, want) {
			t.Errorf("%s: %d %q, want 400 naming %q", body, code, ans.Error, want)
		}
	}
	code, ans := r.ask(t, r.token, "acme", "edge-fleet3", `{"kind":"resync","integration":"snow-emea","table":"incident","from":"2026-01-01"}`)
	if code != http.StatusOK || !strings.Contains(string(ans.Result), `"snow-emea"`) {
		t.Errorf("resync of snow-emea: %d %q %s", code, ans.Error, ans.Result)
	}
	if code, ans := r.ask(t, r.token, "acme", "edge-fleet3", `{"kind":"bundle"}`); code != http.StatusOK {
		t.Errorf("bundle: %d %q", code, ans.Error)
	}
}

// TestValidateNamesUnenrolledInstance: credentials enrolled for snow-prod
// only, a configuration with snow-prod and snow-emea: validate fails and
// says how to enroll for both.
func TestValidateNamesUnenrolledInstance(t *testing.T) {
	r := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := enrollBlock(t, r, "edge-half", "snow-prod")
	block = strings.Replace(block, "integration: snow-prod", "", 1) // the instances name theirs
	path := filepath.Join(t.TempDir(), "agent.yaml")
	cfgText := fmt.Sprintf(`agent: {id: edge-half, data_dir: data}
instances:
  - {integration: snow-prod, servicenow: {url: http://%s, auth: {method: basic, username: u, password: p}}}
  - {integration: snow-emea, servicenow: {url: http://%s, auth: {method: basic, username: u, password: p}}}
%s`, closedAddr(t), closedAddr(t), block)
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := agentCmd(context.Background(), "validate", "-c", path)
	if code != command.ExitFailure || !strings.Contains(out, "FAIL relay integrations") ||
		!strings.Contains(out, "do not allow snow-emea:") || !strings.Contains(out, "--integration snow-prod --integration snow-emea --replace") {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}
}

// TestFleetReconcile: `reconcile` sweeps every instance (or the one
// --integration names), each line naming its instance.
func TestFleetReconcile(t *testing.T) {
	_, path := fleetConfig(t, "edge-fleet4")
	if code, out, errOut := agentCmd(context.Background(), "sync", "-c", path); code != 0 {
		t.Fatalf("sync: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := agentCmd(context.Background(), "reconcile", "-c", path, "--table", "incident")
	if code != 0 || !strings.Contains(out, "snow-prod: incident: ServiceNow") || !strings.Contains(out, "snow-emea: incident: ServiceNow") ||
		!strings.Contains(out, "2 instance(s)") {
		t.Errorf("reconcile: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = agentCmd(context.Background(), "reconcile", "-c", path, "--table", "incident", "--integration", "snow-emea")
	if code != 0 || strings.Contains(out, "snow-prod:") || !strings.Contains(out, "snow-emea: incident") {
		t.Errorf("reconcile --integration snow-emea: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := agentCmd(context.Background(), "reconcile", "-c", path, "--integration", "snow-apac"); code != command.ExitUsage || !strings.Contains(errOut, "snow-prod, snow-emea") {
		t.Errorf("reconcile --integration snow-apac: %d %s", code, errOut)
	}
}
