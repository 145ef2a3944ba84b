package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/agent/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var now = time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)

// Secrets as an admin would configure them: a basic-auth password with
// characters JSON and URLs escape, an OAuth client secret, a refresh token
// and a NATS credentials file (user JWT plus nkey seed).
const (
	password     = `Pa$$"w0rd\!-SN basic`
	clientSecret = "cs_9f8e7d6c5b4a39281706"
	refreshToken = "rt.Q2xpZW50UmVmcmVzaFRva2VuLTIwMjY"
	seed         = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GJ5FGHK7DRQ6H4LI"
	jwt          = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQUJDIn0.c2lnbmF0dXJl"
	excluded     = "Customer says the VPN password is hunter2"
)

var creds = "-----BEGIN NATS USER JWT-----\n" + jwt + "\n------END NATS USER JWT------\n\n" +
	"************************* IMPORTANT *************************\n" +
	"NKEY Seed printed below can be used to sign and prove identity.\n\n" +
	"-----BEGIN USER NKEY SEED-----\n" + seed + "\n------END USER NKEY SEED------\n"

var secrets = []string{password, clientSecret, refreshToken, creds}

// forms returns every way a secret may be written that must not appear in
// the bundle.
func forms() map[string]string {
	m := map[string]string{}
	for i, s := range []string{password, clientSecret, refreshToken, seed, jwt, excluded} {
		js, _ := json.Marshal(s)
		m[fmt.Sprintf("secret %d raw", i)] = s
		m[fmt.Sprintf("secret %d json", i)] = string(js[1 : len(js)-1])
		m[fmt.Sprintf("secret %d url", i)] = url.QueryEscape(s)
	}
	return m
}

const configYAML = `# sei-agent configuration
agent:
  id: agent01
  data_dir: /var/lib/sei-agent
servicenow:
  url: https://acme.service-now.com
  proxy: "http://svc:Pa%24%24%22w0rd%5C%21-SN+basic@proxy.corp:8080"
  auth:
    method: oauth
    username: ${SN_USER}
    password: 'Pa$$"w0rd\!-SN basic'
    client_id: sei-agent
    client_secret: cs_9f8e7d6c5b4a39281706
    refresh_token: "rt.Q2xpZW50UmVmcmVzaFRva2VuLTIwMjY"
    password_file: /etc/sei-agent/password
  exclude_fields: [description, comments]
relay:
  url: tls://relay.example.com:4222
  nkey_seed: |
    SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GJ5FGHK7DRQ6H4LI
  tenant: acme
log:
  level: info
`

// logLines writes secrets the way careless code would log them.
func logLines() string {
	pw, _ := json.Marshal("basic auth with " + password + " rejected")
	cr, _ := json.Marshal(creds)
	return strings.Join([]string{
		`{"level":"info","time":"2026-11-28T15:00:00Z","table":"incident","records":120,"message":"page committed"}`,
		`{"level":"error","err":` + string(pw) + `,"message":"poll failed"}`,
		`{"level":"error","err":"oauth2: cannot fetch token: client_secret=` + clientSecret + `&refresh_token=` + refreshToken + `","message":"auth"}`,
		`{"level":"debug","creds":` + string(cr) + `}`,
		`{"level":"warn","record":{"sys_id":"abc","description":"` + excluded + `","number":"INC0010001"},"message":"odd record"}`,
		`plain text line with seed ` + seed + ` and url ` + url.QueryEscape(password),
		`{"level":"info","message":"poll finished","table":"incident"}`,
	}, "\n") + "\n"
}

// unzip returns the bundle's files by name.
func unzip(t *testing.T, path string) map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open bundle: %v", err)
	}
	defer zr.Close()
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = string(b)
	}
	return files
}

// grepSecrets fails for every secret form found in any file of the bundle,
// and in its raw bytes.
func grepSecrets(t *testing.T, path string, files map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range forms() {
		for name, data := range files {
			if strings.Contains(data, s) {
				t.Errorf("%s contains %s", name, what)
			}
		}
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the zip's bytes contain %s", what)
		}
	}
}

func TestWriteRedactsEverySecret(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "sei-agent.log")
	if err := os.WriteFile(logFile, []byte(logLines()), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := &status.Snapshot{Time: now, Agent: status.Agent{ID: "agent01", Running: true, DataDir: dir},
		Relay: status.Relay{URL: "tls://relay.example.com:4222", LastError: "authorization violation for seed " + seed}}
	snap.Finalize(status.Thresholds{}, now)
	out := filepath.Join(dir, "bundle.zip")
	err := Write(t.Context(), out, Input{
		Status: snap, RedactedConfig: []byte(configYAML), Secrets: secrets, ExcludedFields: []string{"description", "comments"},
		LogFiles: []string{logFile}, DataDir: dir, ServiceState: "running", Version: "1.2.3", Now: now,
		ServiceFacts: map[string]string{"unit": "/etc/systemd/system/sei-agent.service"},
		Figures: map[string]any{
			"buffer": map[string]any{"pending_batches": 2, "note": "token " + refreshToken},
			"stream": json.RawMessage(`{"messages": 12}`),
		},
	})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("bundle mode = %o, want 600", perm)
	}
	files := unzip(t, out)
	grepSecrets(t, out, files)

	var names []string
	for n := range files {
		names = append(names, n)
	}
	want := []string{"README.txt", "config.yaml", "figures/buffer.json", "figures/stream.json",
		"logs/sei-agent.log", "status.json", "status.txt", "system.json"}
	if diff := cmp.Diff(want, names, cmpSort); diff != "" {
		t.Errorf("bundle files (-want +got):\n%s", diff)
	}
	// What support needs survives the redaction.
	for name, keep := range map[string][]string{
		"config.yaml": {"url: https://acme.service-now.com", "username: ${SN_USER}", "password: ***",
			"client_secret: ***", "refresh_token: ***", "password_file: /etc/sei-agent/password",
			"nkey_seed: ***", "tenant: acme", "client_id: sei-agent", "exclude_fields: [description, comments]"},
		"logs/sei-agent.log": {`"message":"page committed"`, `"description":"***"`, `"number":"INC0010001"`,
			`"message":"poll finished","table":"incident"}`},
		"status.txt":          {"agent01", "verdict"},
		"system.json":         {`"goos"`, `"service_state": "running"`, `"unit": "/etc/systemd/system/sei-agent.service"`},
		"figures/stream.json": {`"messages": 12`},
		"README.txt":          {"4 secret values were given", "logs/sei-agent.log"},
	} {
		for _, k := range keep {
			if !strings.Contains(files[name], k) {
				t.Errorf("%s lacks %q:\n%s", name, k, files[name])
			}
		}
	}
	if got, want := strings.Count(files["logs/sei-agent.log"], "\n"), 7; got != want {
		t.Errorf("log has %d lines, want %d", got, want)
	}
	var back status.Snapshot
	if err := json.Unmarshal([]byte(files["status.json"]), &back); err != nil || back.Agent.ID != "agent01" {
		t.Errorf("status.json = %v, %v", back.Agent, err)
	}
	var sys System
	if err := json.Unmarshal([]byte(files["system.json"]), &sys); err != nil {
		t.Fatal(err)
	}
	if sys.NumCPU < 1 || sys.GoVersion == "" || sys.DiskTotal <= 0 || sys.Hostname == "" {
		t.Errorf("system.json = %+v", sys)
	}
	if runtime.GOOS == "linux" && sys.Kernel == "" {
		t.Errorf("system.json has no kernel: %+v", sys)
	}
}

var cmpSort = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

// TestWriteOffline makes a bundle as `sei-agent bundle` does with the
// service down: an offline snapshot, the caller's redacted config, one log
// file missing.
func TestWriteOffline(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "sei-agent.log")
	if err := os.WriteFile(logFile, []byte(logLines()), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := &status.Snapshot{Agent: status.Agent{ServiceState: "stopped", DataDir: dir},
		Buffer: status.Buffer{PendingBatches: 3, PendingRecords: 42}}
	snap.Finalize(status.Thresholds{}, now)
	// The caller's redaction missed the client secret: the key rule and the
	// value scrubber both catch it.
	redacted := []byte("servicenow:\n  auth:\n    password: '***'\n    client_secret: " + clientSecret + "\n")
	out := filepath.Join(dir, "offline.zip")
	if err := Write(t.Context(), out, Input{
		Status: snap, RedactedConfig: redacted, Secrets: secrets, ExcludedFields: []string{"description"},
		LogFiles: []string{logFile, filepath.Join(dir, "sei-agent.log.1")}, DataDir: dir, ServiceState: "stopped",
	}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	files := unzip(t, out)
	grepSecrets(t, out, files)
	if !strings.Contains(files["errors.txt"], "sei-agent.log.1") {
		t.Errorf("errors.txt does not name the missing log:\n%s", files["errors.txt"])
	}
	if !strings.Contains(files["status.txt"], "NOT RUNNING") || !strings.Contains(files["README.txt"], "offline snapshot") {
		t.Errorf("offline bundle does not say the agent is down:\n%s\n%s", files["status.txt"], files["README.txt"])
	}
	if !strings.Contains(files["config.yaml"], "client_secret: ***") {
		t.Errorf("config.yaml = %q", files["config.yaml"])
	}
}

// TestWriteNothing: a bundle is made even when the caller knows nothing.
func TestWriteNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "empty.zip")
	if err := Write(t.Context(), out, Input{}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	files := unzip(t, out)
	for _, want := range []string{"status", "config", "logs"} {
		if !strings.Contains(files["errors.txt"], want+":") {
			t.Errorf("errors.txt lacks %s:\n%s", want, files["errors.txt"])
		}
	}
	if _, ok := files["system.json"]; !ok {
		t.Error("no system.json")
	}
}

func TestWriteBadDestination(t *testing.T) {
	out := filepath.Join(t.TempDir(), "missing", "b.zip")
	if err := Write(t.Context(), out, Input{}); err == nil {
		t.Error("Write to a missing directory succeeded")
	}
}

func TestWriteCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	out := filepath.Join(dir, "b.zip")
	if err := Write(ctx, out, Input{LogFiles: []string{"x"}}); err == nil {
		t.Error("Write with a cancelled context succeeded")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("cancelled Write left %s: %v", out, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("cancelled Write left %v", left)
	}
}

func TestReadTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	content := "first line " + clientSecret + "\nsecond\nthird\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		limit int64
		want  string
	}{
		{1 << 20, content},
		{int64(len("second\nthird\n")) + 3, "second\nthird\n"}, // starts mid-line: the partial line goes
		{4, ""},
	}
	for _, tt := range tests {
		got, err := readTail(path, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("readTail(%d) = %q, want %q", tt.limit, got, tt.want)
		}
	}
}
