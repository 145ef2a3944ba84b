package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// Unique strings, one in every secret slot; none may appear in any output,
// log, bundle, heartbeat or the relay's log.
const (
	scanPassword     = "SCAN-sn-password-Qx7"
	scanClientSecret = "SCAN-client-secret-Vb2"
	scanProxyPass    = "SCAN-proxy-password-Kd9"
	scanWrongSecret  = "SCAN-wrong-client-secret-Zr4"
	scanBrokenPass   = "SCAN-broken-config-password-Pm1"
)

// scanProxy is a forward HTTP proxy that demands Basic
// Proxy-Authorization, in front of the simulator.
type scanProxy struct {
	want   string
	target string
	mu     sync.Mutex
	served int
}

func (p *scanProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Proxy-Authorization") != p.want {
		w.Header().Set("Proxy-Authenticate", `Basic realm="scan"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	p.mu.Lock()
	p.served++
	p.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	req.Header.Del("Proxy-Authorization")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// scanOutputs collects every output to scan, by where it came from.
type scanOutputs struct {
	mu   sync.Mutex
	outs map[string]string
}

func (s *scanOutputs) add(where, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outs[where] += text
}

// cmd runs one command in-process and records its outputs.
func (s *scanOutputs) cmd(t *testing.T, ctx context.Context, args ...string) int {
	t.Helper()
	code, out, errOut := agentCmd(ctx, args...)
	s.add(strings.Join(args[:1], " ")+" stdout", out)
	s.add(strings.Join(args[:1], " ")+" stderr", errOut)
	return code
}

// TestSecretScan puts a unique string in every secret slot (ServiceNow
// password, OAuth client secret, access and refresh tokens, proxy password,
// NKEY seed, the relay's admin token) and runs validate, login, sync, run,
// status (text and JSON, live and offline), preview, bundle, a failed
// authentication and a broken configuration through the real CLI code.
// Every output, log, bundle file, heartbeat and the relay's log is
// scanned: none of the strings appears. The token store is the one place
// they may be, and it stays private (0600 files in a 0700 folder).
func TestSecretScan(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := relay.enroll(t, "acme", "servicenow", "edge-scan")
	seed := credentialsSeed(t, block)

	clock := func() time.Time { return time.Now().Add(-time.Minute) }
	sim := snowtest.New(snowtest.Options{Seed: 5, Incidents: 60, Now: clock, Username: "sei.integration", Password: scanPassword,
		OAuth: &snowtest.OAuthOptions{ClientID: "sei-client", ClientSecret: scanClientSecret, AccessTTL: time.Hour}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	proxy := &scanProxy{target: srv.URL, want: "Basic " + base64.StdEncoding.EncodeToString([]byte("proxy-user:"+scanProxyPass))}
	psrv := httptest.NewServer(proxy)
	t.Cleanup(psrv.Close)

	dir := t.TempDir()
	for name, content := range map[string]string{"client-secret": scanClientSecret + "\n", "proxy-password": scanProxyPass + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SCAN_SN_PASSWORD", scanPassword)
	cfgText := fmt.Sprintf(`agent: {id: edge-scan, data_dir: data}
servicenow:
  url: http://acme.service-now.invalid
  proxy: %s
  proxy_username: proxy-user
  proxy_password_file: proxy-password
  auth:
    method: oauth
    grant: password
    client_id: sei-client
    client_secret_file: client-secret
    username: sei.integration
    password: ${SCAN_SN_PASSWORD}
    redirect_url: http://127.0.0.1:0/oauth/callback
  lookback: 365d
%s`, psrv.URL, block)
	cfgPath := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	outs := &scanOutputs{outs: map[string]string{}}
	ctx := context.Background()

	if code := outs.cmd(t, ctx, "validate", "-c", cfgPath); code != 0 {
		t.Fatalf("validate exited %d:\n%s", code, outs.outs["validate stdout"])
	}
	outs.cmd(t, ctx, "validate", "-c", cfgPath, "--json")
	scanLogin(t, outs, cfgPath, srv.URL)
	if code := outs.cmd(t, ctx, "sync", "-c", cfgPath); code != 0 {
		t.Fatalf("sync exited %d:\n%s%s", code, outs.outs["sync stdout"], outs.outs["sync stderr"])
	}
	stop := scanRun(t, outs, cfgPath)
	// Wait for the admin endpoint: an offline status would open the
	// buffer while run is opening it.
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, err := os.Stat(filepath.Join(dir, "data", status.AdminFileName))
		return err
	})
	if code := outs.cmd(t, ctx, "status", "-c", cfgPath); code == exitNotRunning {
		t.Fatalf("status: the agent is not running:\n%s", outs.outs["status stdout"])
	}
	outs.cmd(t, ctx, "status", "--json", "-c", cfgPath)
	outs.cmd(t, ctx, "preview", "-c", cfgPath, "incident", "-n", "2")
	liveBundle := filepath.Join(t.TempDir(), "live.zip")
	if code := outs.cmd(t, ctx, "bundle", "-c", cfgPath, "-o", liveBundle); code != 0 {
		t.Fatalf("bundle exited %d: %s", code, outs.outs["bundle stderr"])
	}
	natstest.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return relayHasHeartbeat(relay, "edge-scan") })
	stop()
	outs.cmd(t, ctx, "status", "-c", cfgPath)
	outs.cmd(t, ctx, "status", "--json", "-c", cfgPath)
	offBundle := filepath.Join(t.TempDir(), "offline.zip")
	if code := outs.cmd(t, ctx, "bundle", "-c", cfgPath, "-o", offBundle); code != 0 {
		t.Fatalf("offline bundle exited %d: %s", code, outs.outs["bundle stderr"])
	}

	scanFailedAuth(t, outs, cfgText, block)
	scanBrokenConfig(t, outs, dir)

	tok := storedToken(t, filepath.Join(dir, "data"))
	secrets := map[string]string{
		"password": scanPassword, "client secret": scanClientSecret, "proxy password": scanProxyPass,
		"wrong client secret": scanWrongSecret, "broken config password": scanBrokenPass,
		"access token": tok[0], "refresh token": tok[1], "NKEY seed": seed, "relay admin token": relay.token,
	}
	for where, text := range outs.outs {
		scanText(t, where, text, secrets)
	}
	for _, b := range []string{liveBundle, offBundle} {
		scanZip(t, b, secrets)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "data", "log", "*"))
	if len(logs) == 0 {
		t.Error("no agent log file to scan")
	}
	for _, l := range logs {
		raw, _ := os.ReadFile(l)
		scanText(t, l, string(raw), secrets)
	}
	scanText(t, "relay log", relay.log.String(), secrets)
	scanText(t, "heartbeats (GET /v1/agents)", agentsAnswer(t, relay), secrets)
	checkTokenStorePrivate(t, filepath.Join(dir, "data"))
	if proxy.served == 0 {
		t.Error("no request went through the authenticating proxy")
	}
}

// credentialsSeed reads the NKEY seed from the credentials file the relay:
// block names.
func credentialsSeed(t *testing.T, block string) string {
	t.Helper()
	for _, line := range strings.Split(block, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "credentials:"); ok {
			raw, err := os.ReadFile(strings.Trim(strings.TrimSpace(v), `"'`))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(string(raw), "\n") {
				if strings.HasPrefix(l, "SU") {
					return strings.TrimSpace(l)
				}
			}
		}
	}
	t.Fatalf("no seed in the credentials of:\n%s", block)
	return ""
}

// scanLogin runs `sei-agent login`, following the printed URL as the
// admin's browser would (it reaches the instance, here the simulator at
// instanceURL, which approves at once).
func scanLogin(t *testing.T, outs *scanOutputs, cfgPath, instanceURL string) {
	t.Helper()
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		done <- run(ctx, []string{"login", "-c", cfgPath}, pw, &errb)
		pw.Close()
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if u := strings.TrimSpace(line); strings.HasPrefix(u, "http") {
			resp, err := http.Get(strings.Replace(u, "http://acme.service-now.invalid", instanceURL, 1))
			if err != nil {
				t.Errorf("follow the login URL: %v", err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("login exited %d:\n%s%s", code, out.String(), errb.String())
	}
	outs.add("login stdout", out.String())
	outs.add("login stderr", errb.String())
}

// scanRun starts `sei-agent run` in-process; the returned func stops it.
func scanRun(t *testing.T, outs *scanOutputs, cfgPath string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "-c", cfgPath}, &syncWriter{w: &stdout}, &syncWriter{w: &stderr})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("run exited %d:\n%s", code, stderr.String())
			}
			outs.add("run stdout", stdout.String())
			outs.add("run stderr", stderr.String())
		})
	}
	t.Cleanup(stop)
	return stop
}

// scanFailedAuth: a wrong client secret, with a fresh data directory (no
// stored token), through validate and sync.
func scanFailedAuth(t *testing.T, outs *scanOutputs, cfgText, block string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "client-secret"), []byte(scanWrongSecret+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "proxy-password"), []byte(scanProxyPass+"\n"), 0o600)
	path := filepath.Join(dir, "agent.yaml")
	os.WriteFile(path, []byte(cfgText), 0o600)
	if code := outs.cmd(t, context.Background(), "validate", "-c", path); code != command.ExitFailure {
		t.Errorf("validate with a wrong client secret exited %d, want 1", code)
	}
	if code := outs.cmd(t, context.Background(), "sync", "-c", path, "--timeout", "20s"); code != command.ExitFailure {
		t.Errorf("sync with a wrong client secret exited %d, want 1", code)
	}
}

// scanBrokenConfig: a YAML error on the line after an inline password,
// through every command that reads the file.
func scanBrokenConfig(t *testing.T, outs *scanOutputs, dir string) {
	t.Helper()
	path := filepath.Join(dir, "broken.yaml")
	broken := "agent: {id: edge-scan, data_dir: data}\nservicenow:\n  auth:\n    password: " + scanBrokenPass + "\n   username: [oops\n"
	os.WriteFile(path, []byte(broken), 0o600)
	for _, verb := range []string{"validate", "run", "sync", "status", "bundle", "preview", "login", "install"} {
		args := []string{verb, "-c", path}
		if verb == "preview" {
			args = append(args, "incident")
		}
		if code := outs.cmd(t, context.Background(), args...); code != command.ExitUsage {
			t.Errorf("%s with a broken config exited %d, want 2", verb, code)
		}
	}
	if !strings.Contains(outs.outs["validate stdout"]+outs.outs["run stderr"], "line 5") {
		t.Errorf("the broken config's error does not name line 5:\n%s", outs.outs["run stderr"])
	}
}

// storedToken returns the access and refresh tokens from the agent's token
// store (the agent is stopped).
func storedToken(t *testing.T, dataDir string) [2]string {
	t.Helper()
	cfg := &config.Config{Agent: config.Agent{DataDir: dataDir}}
	buf, err := openExistingBuffer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	tok, err := (&tokenStore{buf: buf}).LoadToken(context.Background())
	if err != nil || tok == nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("no stored OAuth token (%v): the scan would miss the tokens", err)
	}
	return [2]string{tok.AccessToken, tok.RefreshToken}
}

func scanText(t *testing.T, where, text string, secrets map[string]string) {
	t.Helper()
	for name, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s shows the %s", where, name)
		}
	}
}

func scanZip(t *testing.T, path string, secrets map[string]string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) == 0 {
		t.Errorf("%s is empty", path)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		scanText(t, filepath.Base(path)+":"+f.Name, string(raw), secrets)
	}
}

// agentsAnswer is the relay's GET /v1/agents: the agents' last heartbeats.
func agentsAnswer(t *testing.T, r *relayProc) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.info.HTTPURL+"/v1/agents", nil)
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

func relayHasHeartbeat(r *relayProc, agent string) error {
	req, _ := http.NewRequest(http.MethodGet, r.info.HTTPURL+"/v1/agents", nil)
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), agent) {
		return fmt.Errorf("no heartbeat of %s yet: %s", agent, raw)
	}
	return nil
}

// checkTokenStorePrivate: the token store (the buffer's Badger files) sits
// in folders only its owner may enter. Badger creates its files with the
// process umask (0077 under the packaged unit and from main), so the
// folders are what this test, run in-process, can rely on.
func checkTokenStorePrivate(t *testing.T, dataDir string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	for _, dir := range []string{dataDir, bufferDir(&config.Config{Agent: config.Agent{DataDir: dataDir}})} {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("token store folder %s has mode %v, want 0700", dir, fi.Mode().Perm())
		}
	}
}
