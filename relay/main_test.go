package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/store"
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

func checkFor(t *testing.T, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", total, err)
		}
		<-time.After(every)
	}
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
		{"no command", nil, exitUsage, []string{"usage:"}},
		{"unknown command", []string{"frobnicate"}, exitUsage, []string{`unknown command "frobnicate"`}},
		{"unknown flag", []string{"run", "--nope"}, exitUsage, []string{"nope"}},
		{"missing file", []string{"run", "-c", filepath.Join(dir, "missing.yaml")}, exitUsage, []string{"missing.yaml"}},
		{"invalid config lists every problem", []string{"run", "-c", bad}, exitUsage, []string{
			"data_dir: required", "http.listen: must be host:port", "store.dsn: required when store.kind is postgres"}},
		{"enroll without names", []string{"enroll", "-c", good}, exitUsage, []string{"--tenant", "--integration", "--agent"}},
		{"enroll external", []string{"enroll", "-c", external, "--tenant", "t", "--integration", "i", "--agent", "a"}, exitUsage, []string{"nats.url"}},
		{"revoke unknown", []string{"revoke", "-c", good, "--tenant", "t", "--agent", "a"}, exitUsage, []string{"not enrolled"}},
		{"quarantine bad sub", []string{"quarantine", "-c", good, "purge"}, exitUsage, []string{"quarantine list"}},
		{"quarantine without relay", []string{"quarantine", "-c", good, "list"}, exitRuntime, []string{"relay.json"}},
		{"help", []string{"help"}, exitOK, nil},
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
	if code != exitRuntime || !strings.Contains(stderr, "http.listen") {
		t.Errorf("run on a busy http.listen: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", runInfoFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("relay.json after a failed start: %v", err)
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "-c", cfgPath}, io.Discard, stderr) }()
	var ri runInfo
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() (err error) {
		select {
		case code := <-done:
			t.Fatalf("relay exited with %d:\n%s", code, stderr)
		default:
		}
		ri, err = readRunInfo(dataDir)
		return err
	})
	tokenRaw, err := os.ReadFile(filepath.Join(dataDir, tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenRaw))
	if !strings.Contains(stderr.String(), token) {
		t.Error("generated token not printed on stderr")
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
	seed, err := nats.NkeyOptionFromSeed(block.Relay.Credentials)
	if err != nil {
		t.Fatal(err)
	}
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

	checkFor(t, 10*time.Second, 100*time.Millisecond, func() error {
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

	// A batch with the wrong schema is quarantined; replay republishes it.
	publishBatch(ctx, t, js, "bad1", wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: "x", SysUpdatedOn: "2026-01-02 03:04:05"}, "99")
	var qs []store.Quarantined
	checkFor(t, 10*time.Second, 100*time.Millisecond, func() error {
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
	checkFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		_, out, _ := runCmd(t, "quarantine", "-c", cfgPath, "list", "--json")
		if err := json.Unmarshal([]byte(out), &qs); err != nil || len(qs) != 1 || qs[0].ID == "bad1" {
			return fmt.Errorf("after replay want the replayed copy re-quarantined: %s", out)
		}
		return nil
	})

	if code, _, errOut := runCmd(t, "revoke", "-c", cfgPath, "--tenant", "acme", "--agent", "a1"); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Error("revoked agent not disconnected")
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited %d:\n%s", code, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not stop")
	}
	if _, err := os.Stat(filepath.Join(dataDir, runInfoFile)); !os.IsNotExist(err) {
		t.Errorf("relay.json left after a clean stop: %v", err)
	}
}

// TestRelayExternalNATS runs the relay against an existing NATS server
// (nats.url): no embedded server, the stream created there.
func TestRelayExternalNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, JetStream: true,
		StoreDir: t.TempDir(), JetStreamMaxStore: 128 << 20, JetStreamMaxMemory: 16 << 20, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
data_dir: data
http: {listen: "127.0.0.1:0", token: tok}
nats: {url: %q}
stream: {max_bytes: 64MiB, replicas: 1}
log: {level: warn}
`, ns.ClientURL()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "-c", cfgPath}, io.Discard, stderr) }()
	var ri runInfo
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() (err error) {
		ri, err = readRunInfo(filepath.Join(dir, "data"))
		return err
	})
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
	checkFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, err := js.Stream(ctx, wire.StreamName)
		return err
	})
	publishBatch(ctx, t, js, "b1", wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: "ext", SysUpdatedOn: "2026-01-02 03:04:05"}, "1")
	checkFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		body, err := httpGet(ri.HTTPURL+"/v1/records?tenant=acme", "tok")
		if err != nil || !strings.Contains(body, `"sys_id":"ext"`) {
			return fmt.Errorf("records: %v %s", err, body)
		}
		return nil
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run exited %d:\n%s", code, stderr)
	}
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

// TestHealthWithoutRelay: the container health check fails, naming the
// missing run file, when no relay runs on the data_dir.
func TestHealthWithoutRelay(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "data_dir: data\n")
	code, _, stderr := runCmd(t, "health", "-c", cfgPath)
	if code == exitOK || !strings.Contains(stderr, runInfoFile) {
		t.Errorf("health without a relay: exit %d, stderr %q", code, stderr)
	}
}
