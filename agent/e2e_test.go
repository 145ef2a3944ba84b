package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// This file is the end-to-end test: the real sei-relay binary (embedded
// NATS with JetStream, Badger store), the ServiceNow simulator over real
// HTTP, and the agent's own commands (sync, run, status, bundle) called as
// main calls them. Nothing here imports the relay's packages: the relay is
// a separate program, reached only through its CLI, NATS and HTTP API.

// built holds the binaries the tests compiled, by name, once per test
// binary.
var built sync.Map // name -> *binary

type binary struct {
	once sync.Once
	path string
	err  error
}

// buildBinary compiles the main package pkg as name, once.
func buildBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	v, _ := built.LoadOrStore(name, &binary{})
	b := v.(*binary)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", name+"-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// buildRelay compiles sei-relay: the relay is a separate program, reached
// only through its CLI, NATS and HTTP API.
func buildRelay(t *testing.T) string { return buildBinary(t, "sei-relay", "../relay") }

// relayProc is a running sei-relay.
type relayProc struct {
	t        *testing.T
	bin, cfg string
	dataDir  string
	cmd      *exec.Cmd
	done     chan error
	log      *bytes.Buffer
	info     struct {
		NATSURL string `json:"nats_url"`
		CAFile  string `json:"ca_file"`
		HTTPURL string `json:"http_url"`
	}
	token string
}

func startRelay(t *testing.T, dataDir, natsListen string) *relayProc {
	t.Helper()
	r := &relayProc{t: t, bin: buildRelay(t), dataDir: dataDir, cfg: filepath.Join(dataDir, "..", filepath.Base(dataDir)+".yaml")}
	yml := fmt.Sprintf("data_dir: %s\nhttp: {listen: \"127.0.0.1:0\"}\nnats: {listen: %q}\n", dataDir, natsListen)
	if err := os.WriteFile(r.cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dataDir, "relay.json"))
	r.log = &bytes.Buffer{}
	r.cmd = exec.Command(r.bin, "run", "-c", r.cfg)
	r.cmd.Stderr = &syncWriter{w: r.log}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(r.stop)
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		raw, err := os.ReadFile(filepath.Join(dataDir, "relay.json"))
		if err != nil {
			select {
			case err := <-r.done:
				r.done <- err
				t.Fatalf("sei-relay exited: %v\n%s", err, r.log)
			default:
			}
			return err
		}
		return json.Unmarshal(raw, &r.info)
	})
	tok, err := os.ReadFile(filepath.Join(dataDir, "http.token"))
	if err != nil {
		t.Fatal(err)
	}
	r.token = strings.TrimSpace(string(tok))
	return r
}

// stop ends the relay with SIGTERM, as a service manager would.
func (r *relayProc) stop() {
	if r.cmd.ProcessState != nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			r.t.Errorf("sei-relay exited with %v\n%s", err, r.log)
		}
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
		r.t.Errorf("sei-relay did not stop on SIGTERM\n%s", r.log)
	}
}

// enroll runs `sei-relay enroll` and returns the relay: block it printed.
func (r *relayProc) enroll(t *testing.T, tenant, integration, agent string) string {
	t.Helper()
	out, err := exec.Command(r.bin, "enroll", "-c", r.cfg, "--tenant", tenant, "--integration", integration, "--agent", agent).Output()
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	var block struct {
		Relay struct {
			URL, Credentials, Tenant, Integration string
			CAFile                                string `yaml:"ca_file"`
		} `yaml:"relay"`
	}
	if err := yaml.Unmarshal(out, &block); err != nil || block.Relay.URL == "" || block.Relay.Credentials == "" {
		t.Fatalf("enroll printed no usable relay: block (%v):\n%s", err, out)
	}
	return string(out)
}

// records pages through GET /v1/records and returns every record by
// table/sys_id.
func (r *relayProc) records(t *testing.T, tenant string) (map[string]relayRecord, []byte) {
	t.Helper()
	out := map[string]relayRecord{}
	var raw bytes.Buffer
	after := ""
	for {
		u := r.info.HTTPURL + "/v1/records?tenant=" + tenant + "&limit=5000"
		if after != "" {
			u += "&after=" + after
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
		}
		raw.Write(body)
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var rec relayRecord
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("relay record %q: %v", sc.Text(), err)
			}
			k := rec.Table + "/" + rec.SysID
			if _, dup := out[k]; dup {
				t.Errorf("relay returned %s twice", k)
			}
			out[k] = rec
		}
		after = resp.Header.Get("Sei-Next-Cursor")
		if after == "" {
			return out, raw.Bytes()
		}
	}
}

// waitDrained waits until the relay's durable consumer has nothing pending
// and nothing unacknowledged: every published batch is in the store. It
// asks JetStream with the relay's admin credentials.
func (r *relayProc) waitDrained(t *testing.T) {
	t.Helper()
	opt := nats.UserCredentials(filepath.Join(r.dataDir, "relay-admin.creds"))
	nc, err := nats.Connect(r.info.NATSURL, opt, nats.RootCAs(r.info.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, wire.StreamName, "sei-relay")
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("relay consumer: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

type relayRecord struct {
	Tenant, Integration, Table string
	SysID                      string          `json:"sys_id"`
	SysUpdatedOn               string          `json:"sys_updated_on"`
	SysModCount                int64           `json:"sys_mod_count"`
	Deleted                    bool            `json:"deleted"`
	Fields                     json.RawMessage `json:"fields"`
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// agentEnv is one agent configured against a relay and a simulator.
type agentEnv struct {
	sim      *snowtest.Server
	cfgPath  string
	dataDir  string
	password string
}

// excluded are the fields the test configuration excludes everywhere.
var excluded = []string{"description", "comments", "work_notes"}

func newAgentEnv(t *testing.T, relayBlock string, incidents int) *agentEnv {
	t.Helper()
	const password = "sn-Pa55word-e2e-secret"
	// The instance's clock runs a minute behind the agent's: updates made
	// "now" fall inside the agent's window (now minus lag), as with real
	// clock skew, which the overlap absorbs.
	sim := snowtest.New(snowtest.Options{Seed: 42, Incidents: incidents, Changes: incidents / 10, Users: 150, Groups: 8,
		Username: "sei.integration", Password: password, Now: func() time.Time { return time.Now().Add(-time.Minute) }})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	env := &agentEnv{sim: sim, cfgPath: filepath.Join(dir, "agent.yaml"), dataDir: filepath.Join(dir, "data"), password: password}
	os.WriteFile(filepath.Join(dir, "sn-password"), []byte(password+"\n"), 0o600)
	cfg := fmt.Sprintf(`agent:
  id: edge-e2e
  data_dir: data
servicenow:
  url: %s
  auth:
    method: basic
    username: sei.integration
    password_file: sn-password
  lookback: 365d
  page_size: 400
  exclude_fields: [%s]
status:
  relay_degraded: 2s
  relay_failing: 1h
%s`, srv.URL, strings.Join(excluded, ", "), relayBlock)
	if err := os.WriteFile(env.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return env
}

// agentCmd runs one sei-agent command in-process and returns its exit code
// and output.
func agentCmd(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// watchStream records every ingest message the relay's stream receives,
// through the relay's admin credentials.
func watchStream(t *testing.T, r *relayProc) func() [][]byte {
	t.Helper()
	opt := nats.UserCredentials(filepath.Join(r.dataDir, "relay-admin.creds"))
	nc, err := nats.Connect(r.info.NATSURL, opt, nats.RootCAs(r.info.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	var bodies [][]byte
	if _, err := nc.Subscribe(wire.IngestWildcard, func(m *nats.Msg) {
		mu.Lock()
		bodies = append(bodies, m.Data)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	return func() [][]byte {
		nc.Flush()
		mu.Lock()
		defer mu.Unlock()
		return bodies
	}
}

// waitRelayHolds waits until the relay serves every live record of the
// simulator at its exact version and every deleted one as a tombstone.
func waitRelayHolds(t *testing.T, r *relayProc, sim *snowtest.Server, tables ...string) map[string]relayRecord {
	t.Helper()
	var got map[string]relayRecord
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		got, _ = r.records(t, "acme")
		for _, table := range tables {
			for _, row := range sim.Records(table) {
				k := table + "/" + row["sys_id"].(string)
				rec, ok := got[k]
				if !ok {
					return fmt.Errorf("relay lacks %s", k)
				}
				if rec.Deleted || rec.SysUpdatedOn != row["sys_updated_on"] || fmt.Sprint(rec.SysModCount) != row["sys_mod_count"] {
					return fmt.Errorf("relay holds %s at %s/%d (deleted %v), instance at %v/%v",
						k, rec.SysUpdatedOn, rec.SysModCount, rec.Deleted, row["sys_updated_on"], row["sys_mod_count"])
				}
			}
		}
		return nil
	})
	return got
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	ctx := context.Background()
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := relay.enroll(t, "acme", "servicenow", "edge-e2e")
	env := newAgentEnv(t, block, 3000)
	stream := watchStream(t, relay)
	tables := []string{"incident", "change_request", "sys_user", "sys_user_group", "sysapproval_approver"}

	// First sync: a backfill of a few thousand incidents and the rest.
	code, out, errOut := agentCmd(ctx, "sync", "-c", env.cfgPath)
	if code != 0 {
		t.Fatalf("sync exited %d: %s\n%s", code, out, errOut)
	}
	relay.waitDrained(t)
	first := waitRelayHolds(t, relay, env.sim, tables...)
	if n := countTable(first, "incident"); n < 2900 {
		t.Fatalf("relay holds %d incidents, want the simulator's ~3000", n)
	}
	checkDeletions(t, env.sim, first)

	// Re-running the sync adds nothing and doubles nothing.
	if code, out, errOut := agentCmd(ctx, "sync", "-c", env.cfgPath); code != 0 {
		t.Fatalf("second sync exited %d: %s\n%s", code, out, errOut)
	}
	relay.waitDrained(t)
	again, _ := relay.records(t, "acme")
	if len(again) != len(first) {
		t.Errorf("re-sync changed the relay from %d to %d records", len(first), len(again))
	}
	for k, rec := range first {
		if a := again[k]; a.SysUpdatedOn != rec.SysUpdatedOn || a.SysModCount != rec.SysModCount {
			t.Errorf("re-sync changed %s", k)
		}
	}

	// Updates, a bulk same-second touch and deletes: the next sync brings
	// exactly the new versions.
	var changed []string
	for i, row := range env.sim.Records("incident")[:40] {
		id := row["sys_id"].(string)
		if err := env.sim.Update("incident", id, map[string]string{"state": "2", "description": fmt.Sprintf("secret detail %d of the e2e test", i)}); err != nil {
			t.Fatal(err)
		}
		changed = append(changed, id)
	}
	env.sim.Touch("change_request", 250)
	var deleted []string
	for _, row := range env.sim.Records("incident")[100:105] {
		id := row["sys_id"].(string)
		if err := env.sim.Delete("incident", id); err != nil {
			t.Fatal(err)
		}
		deleted = append(deleted, id)
	}
	if code, out, errOut := agentCmd(ctx, "sync", "-c", env.cfgPath); code != 0 {
		t.Fatalf("third sync exited %d: %s\n%s", code, out, errOut)
	}
	relay.waitDrained(t)
	final := waitRelayHolds(t, relay, env.sim, tables...)
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		final, _ = relay.records(t, "acme")
		for _, id := range deleted {
			if rec := final["incident/"+id]; !rec.Deleted {
				return fmt.Errorf("deleted incident %s is not a tombstone in the relay: %+v", id, rec)
			}
		}
		return nil
	})
	for _, id := range changed {
		if rec := final["incident/"+id]; !strings.Contains(string(rec.Fields), `"state":"2"`) {
			t.Errorf("incident %s lacks its update: %s", id, rec.Fields)
		}
	}

	// No excluded field anywhere: the relay's output, the stream, the
	// agent's data directory (buffer, state, logs).
	_, relayRaw := relay.records(t, "acme")
	checkNoExcluded(t, "the relay's /v1/records", relayRaw, env.sim)
	var wireRaw bytes.Buffer
	for _, body := range stream() {
		recs, err := wire.Decode(body)
		if err != nil {
			t.Fatalf("stream message: %v", err)
		}
		nd, _ := wire.EncodeNDJSON(recs)
		wireRaw.Write(nd)
	}
	if wireRaw.Len() == 0 {
		t.Fatal("saw no message on the stream")
	}
	checkNoExcluded(t, "the stream", wireRaw.Bytes(), env.sim)
	checkDirClean(t, env.dataDir, env.sim, env.password, relaySeed(t, env.cfgPath))
}

func countTable(recs map[string]relayRecord, table string) int {
	n := 0
	for _, r := range recs {
		if r.Table == table && !r.Deleted {
			n++
		}
	}
	return n
}

// checkDeletions: incidents the simulator deleted at generation are
// tombstones in the relay.
func checkDeletions(t *testing.T, sim *snowtest.Server, got map[string]relayRecord) {
	t.Helper()
	n := 0
	for _, row := range sim.Records("sys_audit_delete") {
		if row["tablename"] != "incident" {
			continue
		}
		rec, ok := got["incident/"+row["documentkey"].(string)]
		if !ok || !rec.Deleted {
			t.Errorf("deleted incident %v is not a tombstone in the relay", row["documentkey"])
		}
		n++
	}
	if n == 0 {
		t.Error("the simulator deleted no incident: the delete path went untested")
	}
}

// checkNoExcluded looks for the excluded field names as keys and for the
// simulator's values of those fields.
func checkNoExcluded(t *testing.T, where string, raw []byte, sim *snowtest.Server) {
	t.Helper()
	for _, f := range excluded {
		if bytes.Contains(raw, []byte(`"`+f+`":`)) {
			t.Errorf("excluded field %q found in %s", f, where)
		}
	}
	for _, v := range excludedValues(sim) {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("a value of an excluded field found in %s: %q", where, v)
			return
		}
	}
}

// excludedValues are distinctive values of excluded fields on the instance.
func excludedValues(sim *snowtest.Server) []string {
	var vals []string
	for _, row := range sim.Records("incident") {
		if d, _ := row["description"].(string); len(d) >= 20 {
			vals = append(vals, d)
		}
	}
	for _, row := range sim.Records("sys_journal_field") {
		if v, _ := row["value"].(string); len(v) >= 20 {
			vals = append(vals, v)
		}
	}
	return vals
}

// checkDirClean greps every file of the agent's data directory (buffer,
// state, logs) for excluded values and for secrets.
func checkDirClean(t *testing.T, dir string, sim *snowtest.Server, secrets ...string) {
	t.Helper()
	vals := append(excludedValues(sim), secrets...)
	logs, _ := filepath.Glob(filepath.Join(dir, "log", "*.log"))
	if len(logs) == 0 {
		t.Errorf("no log file under %s/log: the secret check would be empty", dir)
	}
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Mode()&os.ModeSocket != 0 {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, v := range vals {
			if bytes.Contains(raw, []byte(v)) {
				t.Errorf("an excluded value or a secret found in %s: %q", path, v)
				return nil
			}
		}
		return nil
	})
}
