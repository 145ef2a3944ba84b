package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// Remote requests end to end: the real sei-relay (embedded NATS with
// tenant accounts), agents run in-process, requests made through the
// relay's HTTP API with the admin token and tenant tokens.

// remoteAnswer is the relay's answer to a request, or its error.
type remoteAnswer struct {
	Kind   string          `json:"kind"`
	Agent  string          `json:"agent"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// ask posts body to the relay's requests endpoint of tenant/agent.
func (r *relayProc) ask(t *testing.T, token, tenant, agent, body string) (int, remoteAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.info.HTTPURL+"/v1/agents/"+tenant+"/"+agent+"/requests", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ans remoteAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("answer to %s (%s): %v\n%s", body, resp.Status, err, raw)
	}
	return resp.StatusCode, ans
}

// tenantToken runs `sei-relay token create` and returns the token.
func (r *relayProc) tenantToken(t *testing.T, tenant, name string) string {
	t.Helper()
	out, err := exec.Command(r.bin, "token", "create", "-c", r.cfg, "--tenant", tenant, "--name", name).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// remoteAgent is an agent configured for remote requests, running.
func remoteAgent(t *testing.T, relay *relayProc, tenant, id string, incidents int, extra string) *agentEnv {
	t.Helper()
	env := newAgentEnv(t, relay.enroll(t, tenant, "servicenow", id), incidents)
	raw, err := os.ReadFile(env.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "id: edge-e2e", "id: "+id, 1) + extra
	if err := os.WriteFile(env.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	runAgent(t, env.cfgPath)
	return env
}

// waitAnswers waits until the agent answers a status request (it has
// connected), and returns that answer.
func waitAnswers(t *testing.T, relay *relayProc, tenant, agent string) remoteAnswer {
	t.Helper()
	var ans remoteAnswer
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		var code int
		code, ans = relay.ask(t, relay.token, tenant, agent, `{"kind":"status"}`)
		if code != http.StatusOK {
			return fmt.Errorf("status request: %d %s", code, ans.Error)
		}
		return nil
	})
	return ans
}

// bigLog writes a log file of about 3 MB of incompressible lines, so the
// support bundle (the log's last 4 MiB) is larger than NATS's 1 MiB max
// payload; marker is its last line.
func bigLog(t *testing.T, path, marker string) {
	t.Helper()
	var b bytes.Buffer
	line := make([]byte, 96)
	for b.Len() < 3<<20 {
		rand.Read(line)
		fmt.Fprintf(&b, `{"level":"info","noise":"%s"}`+"\n", hex.EncodeToString(line))
	}
	fmt.Fprintf(&b, `{"level":"info","message":"%s"}`+"\n", marker)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRemoteRequestsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	logDir := t.TempDir()
	const marker = "remote-bundle-marker-7f3a"
	bigLog(t, filepath.Join(logDir, "sei-agent.log"), marker)
	env := remoteAgent(t, relay, "acme", "edge-a", 300, fmt.Sprintf(
		"log:\n  file: %s\nremote_requests:\n  allow: [status, validate, preview, resync, bundle]\n", filepath.Join(logDir, "sei-agent.log")))
	acmeToken := relay.tenantToken(t, "acme", "support portal")

	t.Run("status", func(t *testing.T) {
		ans := waitAnswers(t, relay, "acme", "edge-a")
		var snap status.Snapshot
		if err := json.Unmarshal(ans.Result, &snap); err != nil {
			t.Fatalf("status result: %v\n%s", err, ans.Result)
		}
		if ans.Kind != "status" || ans.Agent != "edge-a" || snap.Agent.ID != "edge-a" || !snap.Agent.Running || snap.Verdict.Level == "" {
			t.Errorf("status answer %s/%s: agent %q running %v verdict %q", ans.Kind, ans.Agent, snap.Agent.ID, snap.Agent.Running, snap.Verdict.Level)
		}
		// A tenant token of the agent's tenant may ask too.
		if code, ans := relay.ask(t, acmeToken, "acme", "edge-a", `{"kind":"status"}`); code != http.StatusOK {
			t.Errorf("status with the tenant token: %d %s", code, ans.Error)
		}
	})
	t.Run("validate", func(t *testing.T) {
		code, ans := relay.ask(t, acmeToken, "acme", "edge-a", `{"kind":"validate"}`)
		if code != http.StatusOK {
			t.Fatalf("validate: %d %s", code, ans.Error)
		}
		var checks []check
		if err := json.Unmarshal(ans.Result, &checks); err != nil {
			t.Fatalf("validate result: %v\n%s", err, ans.Result)
		}
		got := map[string]bool{}
		for _, c := range checks {
			got[c.Name] = c.OK
		}
		for _, name := range []string{"config", "data_dir", "buffer", "servicenow auth", "table incident", "relay"} {
			if ok, seen := got[name]; !seen || !ok {
				t.Errorf("validate check %q: seen %v ok %v (all: %s)", name, seen, ok, ans.Result)
			}
		}
	})
	t.Run("preview", func(t *testing.T) { checkRemotePreview(t, relay, acmeToken, env) })
	t.Run("resync", func(t *testing.T) { checkRemoteResync(t, relay, acmeToken, env) })
	t.Run("bundle", func(t *testing.T) { checkRemoteBundle(t, relay, acmeToken, env, marker) })
	t.Run("refusals", func(t *testing.T) { checkRemoteRefusals(t, relay, acmeToken) })
}

func checkRemotePreview(t *testing.T, relay *relayProc, token string, env *agentEnv) {
	code, ans := relay.ask(t, token, "acme", "edge-a", `{"kind":"preview","table":"incident","limit":2}`)
	if code != http.StatusOK {
		t.Fatalf("preview: %d %s", code, ans.Error)
	}
	var res struct {
		Table    string
		Excluded []string
		Records  []map[string]any
	}
	if err := json.Unmarshal(ans.Result, &res); err != nil {
		t.Fatalf("preview result: %v", err)
	}
	if res.Table != "incident" || len(res.Records) != 2 {
		t.Fatalf("preview: table %q, %d records, want incident and 2", res.Table, len(res.Records))
	}
	for _, rec := range res.Records {
		fields, _ := rec["fields"].(map[string]any)
		if rec["sys_id"] == "" || len(fields) == 0 {
			t.Errorf("preview record without sys_id or fields: %v", rec)
		}
		for _, f := range excluded {
			if _, ok := fields[f]; ok {
				t.Errorf("preview record carries excluded field %s", f)
			}
		}
	}
	checkNoExcluded(t, "preview answer", ans.Result, env.sim)
	for body, want := range map[string]string{
		`{"kind":"preview","table":"cmdb_ci"}`:                          "not synced",
		`{"kind":"preview","table":"incident","limit":1000}`:            "limit",
		`{"kind":"preview","table":"incident","integration":"other"}`:   `integration "other"`,
		`{"kind":"preview","table":"incident","limit":"two"}`:           "preview request",
		`{"kind":"preview","integration":"servicenow","table":"bogus"}`: "not synced",
	} {
		if code, ans := relay.ask(t, token, "acme", "edge-a", body); code != http.StatusBadRequest || !strings.Contains(ans.Error, want) {
			t.Errorf("%s: %d %q, want 400 naming %q", body, code, ans.Error, want)
		}
	}
}

// checkRemoteResync: a resync from long ago reads incident again whole
// (the regular poll reads only what changed), and resolves its repair.
func checkRemoteResync(t *testing.T, relay *relayProc, token string, env *agentEnv) {
	// Wait for the first poll to finish, so what follows is the resync's.
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		snap, _ := statusJSON(t, env.cfgPath)
		for _, tb := range snap.ServiceNow.Tables {
			if tb.Name == "incident" && tb.LastResult == status.ResultOK {
				return nil
			}
		}
		return fmt.Errorf("incident not polled yet")
	})
	before, _ := statusJSON(t, env.cfgPath)
	code, ans := relay.ask(t, token, "acme", "edge-a", `{"kind":"resync","integration":"servicenow","table":"incident","from":"2000-01-01"}`)
	if code != http.StatusOK {
		t.Fatalf("resync: %d %s", code, ans.Error)
	}
	var res struct {
		Table, From string
		Repair      uint64
	}
	if err := json.Unmarshal(ans.Result, &res); err != nil || res.Table != "incident" || res.From != "2000-01-01 00:00:00" || res.Repair == 0 {
		t.Fatalf("resync result %s (%v)", ans.Result, err)
	}
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		snap, _ := statusJSON(t, env.cfgPath)
		if snap.Buffer.Repairs <= before.Buffer.Repairs || snap.Buffer.RepairsPending > 0 || len(snap.Buffer.ResyncTables) > 0 {
			return fmt.Errorf("repairs %d (before %d), %d pending, resyncing %v", snap.Buffer.Repairs, before.Buffer.Repairs, snap.Buffer.RepairsPending, snap.Buffer.ResyncTables)
		}
		if snap.Verdict.Level != status.LevelOK {
			return fmt.Errorf("verdict %s %v", snap.Verdict.Level, snap.Verdict.Reasons)
		}
		if got := fetched(snap, "incident") - fetched(before, "incident"); got < 300 {
			return fmt.Errorf("incident: %d records read since the resync, want the whole table (300) again", got)
		}
		return nil
	})
	for body, want := range map[string]string{
		`{"kind":"resync","table":"incident","from":"yesterday"}`:                    "from",
		`{"kind":"resync","table":"incident","from":"2999-01-01"}`:                   "future",
		`{"kind":"resync","table":"nope","from":"2000-01-01"}`:                       "not synced",
		`{"kind":"resync","integration":"x","table":"incident","from":"2000-01-01"}`: `integration "x"`,
	} {
		if code, ans := relay.ask(t, token, "acme", "edge-a", body); code != http.StatusBadRequest || !strings.Contains(ans.Error, want) {
			t.Errorf("%s: %d %q, want 400 naming %q", body, code, ans.Error, want)
		}
	}
}

// fetched is how many records of table the agent has read since it started.
func fetched(s *status.Snapshot, table string) int64 {
	for _, tb := range s.ServiceNow.Tables {
		if tb.Name == table {
			return tb.FetchedTotal
		}
	}
	return 0
}

// checkRemoteBundle: a bundle larger than NATS's max payload arrives
// whole, is served by the bundle URL to the tenant's token only, and
// holds no secret.
func checkRemoteBundle(t *testing.T, relay *relayProc, token string, env *agentEnv, marker string) {
	start := time.Now()
	code, ans := relay.ask(t, token, "acme", "edge-a", `{"kind":"bundle"}`)
	if code != http.StatusOK {
		t.Fatalf("bundle: %d %s", code, ans.Error)
	}
	took := time.Since(start)
	var res struct {
		ID, SHA256, URL string
		Size            int64
	}
	if err := json.Unmarshal(ans.Result, &res); err != nil || res.URL == "" {
		t.Fatalf("bundle result %s (%v)", ans.Result, err)
	}
	if res.Size <= 1<<20 {
		t.Fatalf("bundle of %d bytes: the test wants one larger than the 1 MiB max payload", res.Size)
	}
	t.Logf("bundle of %d bytes made, sent in chunks and stored in %s", res.Size, took.Round(time.Millisecond))
	get := func(tok string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, relay.info.HTTPURL+res.URL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	code, zipped := get(token)
	sum := sha256.Sum256(zipped)
	if code != http.StatusOK || int64(len(zipped)) != res.Size || hex.EncodeToString(sum[:]) != res.SHA256 {
		t.Fatalf("GET %s: %d, %d bytes sha256 %x; the agent sent %d bytes sha256 %s", res.URL, code, len(zipped), sum, res.Size, res.SHA256)
	}
	path := filepath.Join(t.TempDir(), "remote-bundle.zip")
	os.WriteFile(path, zipped, 0o600)
	checkBundle(t, path, env)
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "logs/") {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			found = found || bytes.Contains(b, []byte(marker))
		}
	}
	if !found {
		t.Error("the bundle's logs lack the log file's last line")
	}
	if code, _ := get(relay.tenantToken(t, "other", "intruder")); code != http.StatusForbidden {
		t.Errorf("another tenant's token fetched the bundle: %d", code)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(env.dataDir, ".remote-bundle-*")); len(leftovers) > 0 {
		t.Errorf("the agent left its bundle files behind: %v", leftovers)
	}
}

// checkRemoteRefusals: another tenant's token is refused without learning
// whether the agent exists; an agent refuses what its allow list lacks,
// with its own text; an offline agent is a 504 saying so.
func checkRemoteRefusals(t *testing.T, relay *relayProc, acmeToken string) {
	otherToken := relay.tenantToken(t, "other", "other tenant")
	for _, agent := range []string{"edge-a", "no-such-agent"} {
		code, ans := relay.ask(t, otherToken, "acme", agent, `{"kind":"status"}`)
		if code != http.StatusForbidden || strings.Contains(ans.Error, agent) {
			t.Errorf("other tenant's token asking acme/%s: %d %q", agent, code, ans.Error)
		}
	}
	if code, ans := relay.ask(t, acmeToken, "acme", "edge-a", `{"kind":"shell"}`); code != http.StatusBadRequest || !strings.Contains(ans.Error, "kind") {
		t.Errorf("unknown kind: %d %q", code, ans.Error)
	}

	// An agent with the default allow list: status and validate only.
	remoteAgent(t, relay, "other", "edge-b", 20, "")
	waitAnswers(t, relay, "other", "edge-b")
	for _, kind := range []string{"preview", "resync", "bundle"} {
		code, ans := relay.ask(t, otherToken, "other", "edge-b", `{"kind":"`+kind+`","table":"incident"}`)
		if code != http.StatusForbidden || !strings.Contains(ans.Error, "remote_requests.allow") || !strings.Contains(ans.Error, kind) {
			t.Errorf("%s on an agent that does not allow it: %d %q", kind, code, ans.Error)
		}
	}

	// An agent that is enrolled but not running.
	relay.enroll(t, "acme", "servicenow", "edge-off")
	start := time.Now()
	code, ans := relay.ask(t, acmeToken, "acme", "edge-off", `{"kind":"status"}`)
	if code != http.StatusGatewayTimeout || !strings.Contains(ans.Error, "acme/edge-off did not answer") || !strings.Contains(ans.Error, "is it running and connected?") {
		t.Errorf("offline agent: %d %q", code, ans.Error)
	}
	t.Logf("offline agent answered 504 after %s", time.Since(start).Round(time.Millisecond))
}
