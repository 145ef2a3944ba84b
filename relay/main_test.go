package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	relaytoken "github.com/sei-edge/servicenow-edge/relay/token"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for the relay's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCmd runs one sei-relay command in-process.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := writeConfig(t, dir, "data_dir: ''\nstore: {kind: postgres}\nhttp: {listen: nope}\n")
	external := filepath.Join(dir, "external.yaml")
	if err := os.WriteFile(external, []byte("data_dir: "+dir+"\nnats: {url: 'tls://nats:4222'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStderr []string
	}{
		{"no command", nil, command.ExitUsage, []string{"usage:"}},
		{"unknown command", []string{"frobnicate"}, command.ExitUsage, []string{`unknown command "frobnicate"`}},
		{"unknown flag", []string{"run", "--nope"}, command.ExitUsage, []string{"nope"}},
		{"missing file", []string{"run", "-c", filepath.Join(dir, "missing.yaml")}, command.ExitUsage, []string{"missing.yaml"}},
		{"invalid config lists every problem", []string{"run", "-c", bad}, command.ExitUsage, []string{
			"data_dir: required", "http.listen: must be host:port", "store.dsn: required when store.kind is postgres"}},
		{"enroll without names", []string{"enroll", "-c", good}, command.ExitUsage, []string{"--tenant", "--integration", "--agent"}},
		{"enroll external", []string{"enroll", "-c", external, "--tenant", "t", "--integration", "i", "--agent", "a"}, 0, []string{"external cluster: push the tenant's account JWT"}},
		{"revoke unknown", []string{"revoke", "-c", good, "--tenant", "t", "--agent", "a"}, command.ExitUsage, []string{"not enrolled"}},
		{"quarantine bad sub", []string{"quarantine", "-c", good, "purge"}, command.ExitUsage, []string{"quarantine list"}},
		{"quarantine without relay", []string{"quarantine", "-c", good, "list"}, command.ExitFailure, []string{"relay.json"}},
		{"token without verb", []string{"token"}, command.ExitUsage, []string{"token create"}},
		{"token bad verb", []string{"token", "mint"}, command.ExitUsage, []string{"mint"}},
		{"token create without tenant", []string{"token", "create", "-c", good}, command.ExitUsage, []string{"--tenant"}},
		{"token create bad tenant", []string{"token", "create", "-c", good, "--tenant", "Acme.Corp"}, command.ExitUsage, []string{"--tenant"}},
		{"token revoke unknown", []string{"token", "revoke", "-c", good, "nope"}, command.ExitUsage, []string{"no such token"}},
		{"quarantine bad tenant", []string{"quarantine", "-c", good, "list", "--tenant", "A.B"}, command.ExitUsage, []string{"--tenant"}},
		{"help", []string{"help"}, command.ExitOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestHTTPListenError checks that a busy http.listen stops the relay with a
// runtime error naming the key, and leaves no relay.json behind.
func TestHTTPListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
data_dir: data
http: {listen: %q}
nats: {listen: "127.0.0.1:0", max_store: 64MiB, max_memory: 16MiB}
stream: {max_bytes: 32MiB}
log: {level: warn}
`, busy.Addr().String()))
	code, _, stderr := runCmd(t, "run", "-c", cfgPath)
	if code != command.ExitFailure || !strings.Contains(stderr, "http.listen") {
		t.Errorf("run on a busy http.listen: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", runInfoFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("relay.json after a failed start: %v", err)
	}
}

// runningRelay is a `sei-relay run` in this test process.
type runningRelay struct {
	ri     runInfo
	ctx    context.Context // ends when the relay is told to stop
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startRun runs `sei-relay run -c cfgPath` and returns once its relay.json
// is in dataDir; the test fails when it exits first. stop is idempotent and
// runs at cleanup too.
func startRun(t *testing.T, cfgPath, dataDir string) *runningRelay {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningRelay{ctx: ctx, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- run(ctx, []string{"run", "-c", cfgPath}, io.Discard, r.stderr) }()
	t.Cleanup(func() { r.stop(t) })
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() (err error) {
		select {
		case code := <-r.done:
			r.done <- code
			t.Fatalf("relay exited %d:\n%s", code, r.stderr)
		default:
		}
		r.ri, err = readRunInfo(dataDir)
		return err
	})
	return r
}

// stop ends the relay and fails the test when it exits non-zero or does
// not stop within 30 s.
func (r *runningRelay) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case code := <-r.done:
		if code != 0 {
			t.Errorf("run exited %d:\n%s", code, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not stop")
	}
}

// TestRelayEndToEnd runs `sei-relay run` in-process with random ports,
// enrolls an agent while it runs, lets the agent publish a batch with the
// printed relay: block, reads the record back over HTTP, quarantines and
// replays a bad batch, revokes the agent, and stops the relay.
func TestRelayEndToEnd(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgPath := writeConfig(t, dir, `
data_dir: data
http: {listen: "127.0.0.1:0"}
nats: {listen: "127.0.0.1:0", max_store: 256MiB, max_memory: 32MiB}
stream: {max_bytes: 64MiB}
consumer: {max_deliver: 2, ack_wait: 2s}
log: {level: warn}
`)
	relay := startRun(t, cfgPath, dataDir)
	ctx, ri, stderr := relay.ctx, relay.ri, relay.stderr
	tokenRaw, err := os.ReadFile(filepath.Join(dataDir, tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenRaw))
	// The admin token never reaches the log (stderr under a service
	// manager): stderr names the file that holds it, which is 0600.
	if strings.Contains(stderr.String(), token) || !strings.Contains(stderr.String(), filepath.Join(dataDir, tokenFile)) {
		t.Errorf("stderr shows the generated token or does not name its file:\n%s", stderr.String())
	}
	if fi, err := os.Stat(filepath.Join(dataDir, tokenFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file: %v %v", fi, err)
	}

	code, out, errOut := runCmd(t, "enroll", "-c", cfgPath, "--tenant", "acme", "--integration", "snow", "--agent", "a1")
	if code != 0 {
		t.Fatalf("enroll: %d %s", code, errOut)
	}
	var block struct {
		Relay enroll.RelayBlock `yaml:"relay"`
	}
	if err := yaml.UnmarshalWithOptions([]byte(out), &block, yaml.Strict()); err != nil {
		t.Fatalf("enroll output is not a relay: block: %v\n%s", err, out)
	}
	if block.Relay.URL != ri.NATSURL || block.Relay.Tenant != "acme" || block.Relay.Integration != "snow" || block.Relay.CAFile == "" {
		t.Errorf("relay block %+v, relay.json %+v", block.Relay, ri)
	}
	if fi, err := os.Stat(block.Relay.Credentials); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v %v", fi, err)
	}
	if code, out, errOut := runCmd(t, "health", "-c", cfgPath); code != 0 || !strings.Contains(out, `"status"`) {
		t.Errorf("health of a running relay: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, _ := runCmd(t, "agents", "-c", cfgPath, "--json"); code != 0 || !strings.Contains(out, `"agent": "a1"`) {
		t.Errorf("agents: %d %s", code, out)
	}

	// The agent, configured only from the printed block.
	seed := nats.UserCredentials(block.Relay.Credentials)
	closed := make(chan struct{})
	// enroll asked the running relay to load the agent: it connects at
	// once, without waiting for the registry poll.
	nc, err := nats.Connect(block.Relay.URL, seed, nats.RootCAs(block.Relay.CAFile),
		nats.CustomInboxPrefix(wire.InboxPrefix("acme", "a1")), nats.MaxReconnects(1),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("agent connects right after enroll: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	publishBatch(ctx, t, js, "b1", wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: "abc", SysUpdatedOn: "2026-01-02 03:04:05", SysModCount: 1,
		Fields: map[string]json.RawMessage{"number": json.RawMessage(`"INC001"`)}}, "1")

	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		body, err := httpGet(ri.HTTPURL+"/v1/records?tenant=acme", token)
		if err != nil {
			return err
		}
		if !strings.Contains(body, `"sys_id":"abc"`) || !strings.Contains(body, "INC001") {
			return fmt.Errorf("records: %s", body)
		}
		return nil
	})
	if body, err := httpGet(ri.HTTPURL+"/healthz", token); err != nil {
		t.Errorf("healthz: %v %s", err, body)
	}
	checkTenantTokens(t, cfgPath, ri.HTTPURL, token)

	// A batch with the wrong schema is quarantined; replay republishes it.
	publishBatch(ctx, t, js, "bad1", wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: "x", SysUpdatedOn: "2026-01-02 03:04:05"}, "99")
	var qs []store.Quarantined
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		code, out, errOut := runCmd(t, "quarantine", "-c", cfgPath, "list", "--json")
		if code != 0 {
			return fmt.Errorf("quarantine list: %d %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &qs); err != nil || len(qs) != 1 {
			return fmt.Errorf("quarantine list: %v %s", err, out)
		}
		return nil
	})
	if qs[0].ID != "bad1" {
		t.Errorf("quarantined %+v", qs[0])
	}
	if code, out, errOut := runCmd(t, "quarantine", "-c", cfgPath, "replay", "bad1"); code != 0 {
		t.Errorf("replay: %d %s %s", code, out, errOut)
	}
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		_, out, _ := runCmd(t, "quarantine", "-c", cfgPath, "list", "--json")
		if err := json.Unmarshal([]byte(out), &qs); err != nil || len(qs) != 1 || qs[0].ID == "bad1" {
			return fmt.Errorf("after replay want the replayed copy re-quarantined: %s", out)
		}
		return nil
	})

	checkLargeQuarantine(ctx, t, js, cfgPath)

	if code, _, errOut := runCmd(t, "revoke", "-c", cfgPath, "--tenant", "acme", "--agent", "a1"); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Error("revoked agent not disconnected")
	}

	relay.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, runInfoFile)); !os.IsNotExist(err) {
		t.Errorf("relay.json left after a clean stop: %v", err)
	}
}

// TestRelayExternalNATS runs the relay against an existing NATS server
// (nats.url): no embedded server, the stream created there.
func TestRelayExternalNATS(t *testing.T) {
	ns := natstest.Start(t, &server.Options{JetStreamMaxStore: 128 << 20, JetStreamMaxMemory: 16 << 20})
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
data_dir: data
http: {listen: "127.0.0.1:0", token: tok}
nats: {url: %q}
stream: {max_bytes: 64MiB, replicas: 1}
log: {level: warn}
`, ns.ClientURL()))
	relay := startRun(t, cfgPath, filepath.Join(dir, "data"))
	ctx, ri := relay.ctx, relay.ri
	if ri.NATSURL != "" {
		t.Errorf("relay.json nats_url = %q in external mode", ri.NATSURL)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, err := js.Stream(ctx, wire.StreamName)
		return err
	})
	publishBatch(ctx, t, js, "b1", wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: "ext", SysUpdatedOn: "2026-01-02 03:04:05"}, "1")
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		body, err := httpGet(ri.HTTPURL+"/v1/records?tenant=acme", "tok")
		if err != nil || !strings.Contains(body, `"sys_id":"ext"`) {
			return fmt.Errorf("records: %v %s", err, body)
		}
		return nil
	})
	relay.stop(t)
}

func publishBatch(ctx context.Context, t *testing.T, js jetstream.JetStream, id string, rec wire.Record, schema string) {
	t.Helper()
	body, err := wire.Encode([]wire.Record{rec})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(wire.IngestSubject("acme", "snow", rec.Table))
	m.Data = body
	m.Header.Set(wire.HeaderMsgID, id)
	m.Header.Set(wire.HeaderSchema, schema)
	m.Header.Set(wire.HeaderAgent, "a1")
	m.Header.Set(wire.HeaderRecords, "1")
	m.Header.Set(wire.HeaderEncoding, "zstd")
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(pctx, m); err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
}

func httpGet(url, token string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// TestRelayExternalNATSAccounts runs the relay against an external server
// set up as relay/doc.go tells a cluster operator: enroll writes the
// operator JWT, the account JWTs and the relay's credentials; the server
// trusts the operator and resolves accounts from that directory; the relay
// connects as a relay-account user. The agent, a user of its tenant's
// account, gets its batch stored, and cannot reach the other tenant.
func TestRelayExternalNATSAccounts(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsURL := "nats://" + ln.Addr().String()
	ln.Close()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
data_dir: data
http: {listen: "127.0.0.1:0", token: tok}
nats: {url: %q, credentials: data/relay-admin.creds}
stream: {max_bytes: 64MiB, replicas: 1}
log: {level: warn}
`, natsURL))
	blocks := map[string]enroll.RelayBlock{}
	for _, tenant := range []string{"acme", "other"} {
		code, out, errOut := runCmd(t, "enroll", "-c", cfgPath, "--tenant", tenant, "--integration", "snow", "--agent", "a1")
		if code != 0 {
			t.Fatalf("enroll: %d %s", code, errOut)
		}
		if !strings.Contains(errOut, "system_account") {
			t.Errorf("enroll does not tell the cluster operator what to install:\n%s", errOut)
		}
		var b struct {
			Relay enroll.RelayBlock `yaml:"relay"`
		}
		if err := yaml.Unmarshal([]byte(out), &b); err != nil {
			t.Fatal(err)
		}
		blocks[tenant] = b.Relay
	}

	// The cluster operator's side.
	opJWT, err := os.ReadFile(filepath.Join(dataDir, enroll.AccountsDir, "operator.jwt"))
	if err != nil {
		t.Fatal(err)
	}
	oc, err := jwt.DecodeOperatorClaims(string(opJWT))
	if err != nil {
		t.Fatal(err)
	}
	dr, err := server.NewDirAccResolver(filepath.Join(dataDir, enroll.ResolverDir), 0, 0, server.NoDelete)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(natsURL, "nats://"))
	p, _ := strconv.Atoi(port)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: p, NoSigs: true, NoLog: true, JetStream: true,
		StoreDir: t.TempDir(), JetStreamMaxStore: 128 << 20, JetStreamMaxMemory: 16 << 20,
		TrustedOperators: []*jwt.OperatorClaims{oc}, SystemAccount: oc.SystemAccount, AccountResolver: dr})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}

	relay := startRun(t, cfgPath, dataDir)
	ctx, ri := relay.ctx, relay.ri
	b := blocks["acme"]
	nc, err := nats.Connect(natsURL, nats.UserCredentials(b.Credentials), nats.CustomInboxPrefix(wire.InboxPrefix("acme", "a1")))
	if err != nil {
		t.Fatalf("agent connects to the external cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		body, err := wire.Encode([]wire.Record{{Op: wire.OpUpsert, Table: "incident", SysID: "ext", SysUpdatedOn: "2026-01-02 03:04:05"}})
		if err != nil {
			return err
		}
		m := nats.NewMsg(wire.IngestSubject("acme", "snow", "incident"))
		m.Data = body
		m.Header.Set(wire.HeaderMsgID, "b1")
		m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
		m.Header.Set(wire.HeaderEncoding, wire.Encoding)
		m.Header.Set(wire.HeaderRecords, "1")
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		_, err = js.PublishMsg(pctx, m) // the relay may still be setting the stream up
		return err
	})
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		body, err := httpGet(ri.HTTPURL+"/v1/records?tenant=acme", "tok")
		if err != nil || !strings.Contains(body, `"sys_id":"ext"`) || !strings.Contains(body, `"tenant":"acme"`) {
			return fmt.Errorf("records: %v %s", err, body)
		}
		return nil
	})
	if err := nc.Publish(wire.IngestSubject("other", "snow", "incident"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err == nil {
		if body, _ := httpGet(ri.HTTPURL+"/v1/records?tenant=other", "tok"); strings.Contains(body, "sys_id") {
			t.Errorf("acme's agent wrote into tenant other: %s", body)
		}
	}
	// Remote requests cross the external cluster's accounts the same way.
	fa := newFakeAgent(t, nc, "acme", "a1")
	close(fa.release)
	answer := relayAsk(t, ri.HTTPURL, "tok", "acme", "a1")
	if !strings.HasPrefix(answer, "200 ") || !strings.Contains(answer, `"answered_by":"a1"`) {
		t.Errorf("remote request over the external cluster: %s", answer)
	}
	relay.stop(t)
}

// relayAsk posts a status request for tenant/agent and returns the status
// code and body.
func relayAsk(t *testing.T, base, token, tenant, agent string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/agents/"+tenant+"/"+agent+"/requests", strings.NewReader(`{"kind":"status"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

// checkTenantTokens creates, uses, lists and revokes a tenant token against
// the running relay, which takes each change without a restart.
func checkTenantTokens(t *testing.T, cfgPath, base, admin string) {
	t.Helper()
	code, out, errOut := runCmd(t, "token", "create", "-c", cfgPath, "--tenant", "acme", "--name", "sei cloud")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errOut)
	}
	tok := strings.TrimSuffix(out, "\n")
	if strings.ContainsAny(tok, " \n\t") || len(tok) < 64 || errOut != "" {
		t.Fatalf("token create must print the token alone on stdout; stdout %q stderr %q", out, errOut)
	}
	if body, err := httpGet(base+"/v1/records?tenant=acme", tok); err != nil || !strings.Contains(body, `"sys_id":"abc"`) {
		t.Errorf("tenant token reading its tenant: %v %s", err, body)
	}
	for _, path := range []string{"/v1/records?tenant=other", "/v1/agents?tenant=other", "/metrics"} {
		if code := httpStatus(t, base+path, tok); code != http.StatusForbidden {
			t.Errorf("tenant token GET %s = %d, want 403", path, code)
		}
	}
	if code := httpStatus(t, base+"/v1/records?tenant=other", admin); code != http.StatusOK {
		t.Errorf("admin token GET other tenant = %d, want 200", code)
	}
	if raw, err := os.ReadFile(filepath.Join(filepath.Dir(cfgPath), "data", relaytoken.FileName)); err == nil && strings.Contains(string(raw), tok) {
		t.Errorf("token file must hold only the hash")
	}
	code, out, _ = runCmd(t, "token", "list", "-c", cfgPath, "--json")
	var list []struct{ ID, Tenant, Name string }
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0].Tenant != "acme" || list[0].Name != "sei cloud" {
		t.Fatalf("token list: %d %v %s", code, err, out)
	}
	if strings.Contains(out, tok) {
		t.Error("token list shows the token")
	}
	if code, _, errOut := runCmd(t, "token", "revoke", "-c", cfgPath, list[0].ID); code != 0 {
		t.Fatalf("token revoke: %s", errOut)
	}
	if code := httpStatus(t, base+"/v1/records?tenant=acme", tok); code != http.StatusUnauthorized {
		t.Errorf("revoked token = %d, want 401", code)
	}
	if code, _, _ := runCmd(t, "token", "revoke", "-c", cfgPath, list[0].ID); code != command.ExitUsage {
		t.Errorf("revoking an unknown id exits %d, want %d", code, command.ExitUsage)
	}
}

func httpStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkLargeQuarantine fills the quarantine past the NATS max payload (four
// undecodable batches of 700 KB) and lists, shows and replays through the
// CLI. Before, the list reply carried every batch's data and failed past
// 1 MiB.
func checkLargeQuarantine(ctx context.Context, t *testing.T, js jetstream.JetStream, cfgPath string) {
	t.Helper()
	bodies := map[string][]byte{}
	for i := range 4 {
		id := fmt.Sprintf("acme:big-%d", i)
		body := make([]byte, 700<<10)
		_, _ = rand.Read(body) // incompressible: stays 700 KB on the wire
		bodies[id] = body
		m := nats.NewMsg(wire.IngestSubject("acme", "snow", "incident"))
		m.Data = body
		m.Header.Set(wire.HeaderMsgID, id)
		m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
		m.Header.Set(wire.HeaderEncoding, wire.Encoding)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.PublishMsg(pctx, m)
		cancel()
		if err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		code, out, errOut := runCmd(t, "quarantine", "-c", cfgPath, "list", "--json", "--tenant", "acme")
		if code != 0 {
			return fmt.Errorf("quarantine list: %d %s", code, errOut)
		}
		var qs []store.Quarantined
		if err := json.Unmarshal([]byte(out), &qs); err != nil {
			return err
		}
		total := 0
		for _, q := range qs {
			if strings.HasPrefix(q.ID, "acme:big-") {
				total += q.Size
			}
		}
		if total != 4*700<<10 {
			return fmt.Errorf("quarantine lists %d bytes of big batches, want %d", total, 4*700<<10)
		}
		return nil
	})
	code, out, errOut := runCmd(t, "quarantine", "-c", cfgPath, "show", "--raw", "acme:big-2")
	if code != 0 || out != string(bodies["acme:big-2"]) {
		t.Errorf("quarantine show: exit %d, %d bytes (want %d): %s", code, len(out), len(bodies["acme:big-2"]), errOut)
	}
	if code, _, errOut := runCmd(t, "quarantine", "-c", cfgPath, "replay", "acme:big-1", "--tenant", "acme"); code != 0 {
		t.Errorf("quarantine replay of a 700 KB batch: %d %s", code, errOut)
	}
	if code, _, _ := runCmd(t, "quarantine", "-c", cfgPath, "show", "--tenant", "other", "acme:big-2"); code == 0 {
		t.Error("another tenant's id shows acme's batch")
	}
}

// TestHealthWithoutRelay: the container health check fails, naming the
// missing run file, when no relay runs on the data_dir.
func TestHealthWithoutRelay(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "data_dir: data\n")
	code, _, stderr := runCmd(t, "health", "-c", cfgPath)
	if code == command.ExitOK || !strings.Contains(stderr, runInfoFile) {
		t.Errorf("health without a relay: exit %d, stderr %q", code, stderr)
	}
}
