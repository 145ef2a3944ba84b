package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// One unique string per secret slot of each instance.
const (
	scanProdPassword   = "SCAN-multi-prod-password-Hj3"
	scanEmeaSecret     = "SCAN-multi-emea-client-secret-Wq8"
	scanEmeaProxyPass  = "SCAN-multi-emea-proxy-password-Lc5"
	scanMultiBrokenPwd = "SCAN-multi-broken-password-Tn6"
)

// TestSecretScanMultiInstance is TestSecretScan for a configuration with
// two instances, each with its own secrets (a basic password from the
// environment; an OAuth client secret from a file, its token, and a proxy
// password): validate, sync, run, status (live and offline, text and
// JSON), preview, bundle (live and offline) and a broken instance block
// never show any of them, nor does the log, the heartbeat or the relay's
// log; each instance's token store is private.
func TestSecretScanMultiInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := enrollBlock(t, relay, "edge-mscan", "snow-prod", "snow-emea")
	seed := credentialsSeed(t, block)
	clock := func() time.Time { return time.Now().Add(-time.Minute) }
	prod := snowtest.New(snowtest.Options{Seed: 11, Incidents: 40, Now: clock, Username: "sei.prod", Password: scanProdPassword})
	emea := snowtest.New(snowtest.Options{Seed: 12, Incidents: 30, Now: clock,
		OAuth: &snowtest.OAuthOptions{ClientID: "emea-client", ClientSecret: scanEmeaSecret, AccessTTL: time.Hour, ClientCredentials: true}})
	prodSrv, emeaSrv := httptest.NewServer(prod), httptest.NewServer(emea)
	t.Cleanup(prodSrv.Close)
	t.Cleanup(emeaSrv.Close)
	proxy := &scanProxy{target: emeaSrv.URL, want: "Basic " + base64.StdEncoding.EncodeToString([]byte("emea-proxy:"+scanEmeaProxyPass))}
	psrv := httptest.NewServer(proxy)
	t.Cleanup(psrv.Close)

	dir := t.TempDir()
	for name, content := range map[string]string{"emea-secret": scanEmeaSecret + "\n", "emea-proxy-password": scanEmeaProxyPass + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SCAN_PROD_PASSWORD", scanProdPassword)
	cfgText := fmt.Sprintf(`agent: {id: edge-mscan, data_dir: data}
instances:
  - integration: snow-prod
    servicenow:
      url: %s
      auth: {method: basic, username: sei.prod, password: "${SCAN_PROD_PASSWORD}"}
      lookback: 365d
  - integration: snow-emea
    servicenow:
      url: http://emea.service-now.invalid
      proxy: %s
      proxy_username: emea-proxy
      proxy_password_file: emea-proxy-password
      auth: {method: oauth, grant: client_credentials, client_id: emea-client, client_secret_file: emea-secret}
      lookback: 365d
%s`, prodSrv.URL, psrv.URL, block)
	cfgPath := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	outs := &scanOutputs{outs: map[string]string{}}
	ctx := context.Background()
	if code := outs.cmd(t, ctx, "validate", "-c", cfgPath); code != 0 {
		t.Fatalf("validate exited %d:\n%s", code, outs.outs["validate stdout"])
	}
	if code := outs.cmd(t, ctx, "sync", "-c", cfgPath); code != 0 {
		t.Fatalf("sync exited %d:\n%s%s", code, outs.outs["sync stdout"], outs.outs["sync stderr"])
	}
	stop := scanRun(t, outs, cfgPath)
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, err := os.Stat(filepath.Join(dir, "data", status.AdminFileName))
		return err
	})
	if code := outs.cmd(t, ctx, "status", "-c", cfgPath); code == exitNotRunning {
		t.Fatalf("status: the agent is not running:\n%s", outs.outs["status stdout"])
	}
	outs.cmd(t, ctx, "status", "--json", "-c", cfgPath)
	for _, in := range []string{"snow-prod", "snow-emea"} {
		if code := outs.cmd(t, ctx, "preview", "-c", cfgPath, "--integration", in, "incident", "-n", "2"); code != 0 {
			t.Errorf("preview --integration %s exited %d: %s", in, code, outs.outs["preview stderr"])
		}
	}
	liveBundle := filepath.Join(t.TempDir(), "live.zip")
	if code := outs.cmd(t, ctx, "bundle", "-c", cfgPath, "-o", liveBundle); code != 0 {
		t.Fatalf("bundle exited %d: %s", code, outs.outs["bundle stderr"])
	}
	natstest.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return relayHasHeartbeat(relay, "edge-mscan") })
	stop()
	outs.cmd(t, ctx, "status", "-c", cfgPath)
	outs.cmd(t, ctx, "status", "--json", "-c", cfgPath)
	offBundle := filepath.Join(t.TempDir(), "offline.zip")
	if code := outs.cmd(t, ctx, "bundle", "-c", cfgPath, "-o", offBundle); code != 0 {
		t.Fatalf("offline bundle exited %d: %s", code, outs.outs["bundle stderr"])
	}
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("agent: {id: x, data_dir: data}\ninstances:\n  - integration: a\n    servicenow:\n      auth:\n        password: "+scanMultiBrokenPwd+"\n       username: [oops\n"), 0o600)
	for _, verb := range []string{"validate", "run", "sync", "status", "bundle"} {
		if code := outs.cmd(t, ctx, verb, "-c", broken); code != command.ExitUsage {
			t.Errorf("%s with a broken instance block exited %d, want 2", verb, code)
		}
	}

	emeaTok := instanceToken(t, filepath.Join(dir, "data"), "snow-emea")
	secrets := map[string]string{"snow-prod password": scanProdPassword, "snow-emea client secret": scanEmeaSecret,
		"snow-emea proxy password": scanEmeaProxyPass, "broken config password": scanMultiBrokenPwd,
		"snow-emea access token": emeaTok, "NKEY seed": seed, "relay admin token": relay.token}
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
	for _, in := range []string{"snow-prod", "snow-emea"} {
		checkTokenStorePrivate(t, config.InstanceDataDir(filepath.Join(dir, "data"), in))
	}
	if proxy.served == 0 {
		t.Error("no request went through snow-emea's authenticating proxy")
	}
}

// enrollBlock runs `sei-relay enroll` with one --integration per
// integration and returns the relay: block it printed.
func enrollBlock(t *testing.T, r *relayProc, agent string, integrations ...string) string {
	t.Helper()
	args := []string{"enroll", "-c", r.cfg, "--tenant", "acme", "--agent", agent}
	for _, in := range integrations {
		args = append(args, "--integration", in)
	}
	out, err := execOutput(r.bin, args...)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	return out
}

// instanceToken is the access token stored in one instance's buffer (the
// agent is stopped).
func instanceToken(t *testing.T, dataDir, integration string) string {
	t.Helper()
	buf, err := openExistingBuffer(&config.Config{Agent: config.Agent{DataDir: config.InstanceDataDir(dataDir, integration)}})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	tok, err := (&tokenStore{buf: buf}).LoadToken(context.Background())
	if err != nil || tok == nil || tok.AccessToken == "" {
		t.Fatalf("no stored OAuth token of %s (%v): the scan would miss it", integration, err)
	}
	return tok.AccessToken
}
