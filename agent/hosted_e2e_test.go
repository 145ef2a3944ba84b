package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// The hosted end-to-end test: ServiceNow Cloud without an install. Two
// relays (sei-relay binaries) share one external NATS server and one
// PostgreSQL schema, as at scale; two hosted agents (sei-agent hosted
// processes) share the integrations through leases. Two simulated
// instances over TLS: one with basic auth, one with OAuth
// (authorization_code). Everything goes through the public surfaces: the
// HTTP API, a browser following redirects, the processes' logs.

const (
	hostedAdmin    = "hosted-e2e-admin-token"
	hostedLease    = 3 * time.Second
	basicPassword  = "Basic-Pa55-hosted-SECRET"
	oauthClientID  = "sei-hosted-client"
	oauthSecretVal = "OAuth-Client-hosted-SECRET"
)

// postgresSchema makes a fresh schema in SEI_TEST_POSTGRES_URL's database
// and returns a DSN for it; the test is skipped without the variable (and
// fails with CI=true).
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SEI_TEST_POSTGRES_URL")
	if base == "" {
		msg := "SEI_TEST_POSTGRES_URL is not set; run `export SEI_TEST_POSTGRES_URL=$(scripts/ci-postgres.sh)`: several relays need a shared store"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "hosted_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// shortDir is a temporary folder with a short path, for the hosted
// agents' data_dir (their pipelines' admin sockets must fit in sun_path;
// t.TempDir's names are long).
func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "seih")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startHostedRelay starts a relay with the hosted configuration yml.
func startHostedRelay(t *testing.T, dir, yml string) *relayProc {
	t.Helper()
	dataDir := filepath.Join(dir, "data")
	r := &relayProc{t: t, bin: buildRelay(t), dataDir: dataDir, cfg: filepath.Join(dir, "relay.yaml"), token: hostedAdmin, log: &bytes.Buffer{}}
	if err := os.WriteFile(r.cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(r.bin, "run", "-c", r.cfg)
	r.cmd.Stderr = &syncWriter{w: r.log}
	r.cmd.Stdout = r.cmd.Stderr
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
	return r
}

// hostedProc is a running `sei-agent hosted`.
type hostedProc struct {
	name string
	cmd  *exec.Cmd
	done chan error
	log  *bytes.Buffer
}

func startHosted(t *testing.T, dir, dataDir, name, natsURL, seedFile, caFile string) *hostedProc {
	t.Helper()
	cfg := filepath.Join(dir, name+".yaml")
	yml := fmt.Sprintf("hosted: {name: %s, data_dir: %s, ca_file: %s}\nrelay: {url: %q, credentials: %s}\nlog: {level: info}\n",
		name, filepath.Join(dataDir, name+"-data"), caFile, natsURL, seedFile)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &hostedProc{name: name, log: &bytes.Buffer{}, done: make(chan error, 1)}
	h.cmd = exec.Command(buildBinary(t, "sei-agent", "."), "hosted", "-c", cfg)
	h.cmd.Stderr = &syncWriter{w: h.log}
	h.cmd.Stdout = h.cmd.Stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- h.cmd.Wait() }()
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			h.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-h.done:
			case <-time.After(30 * time.Second):
				h.cmd.Process.Kill()
				t.Errorf("sei-agent hosted %s did not stop on SIGTERM", name)
			}
		}
	})
	return h
}

// api calls the relay's HTTP API with the admin token; redirects are not
// followed.
func (r *relayProc) api(t *testing.T, method, path string, body any) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, r.info.HTTPURL+path, rd)
	req.Header.Set("Authorization", "Bearer "+r.token)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// holder returns the hosted agent that holds integration id, per the API.
func (r *relayProc) holder(t *testing.T, id string) string {
	_, body, _ := r.api(t, "GET", "/v1/integrations/"+id, nil)
	var v struct{ Holder string }
	_ = json.Unmarshal([]byte(body), &v)
	return v.Holder
}

// waitHolds waits until the relay serves every record of sim's tables for
// tenant at its exact version.
func waitHolds(t *testing.T, r *relayProc, tenant string, sim *snowtest.Server, tables ...string) map[string]relayRecord {
	t.Helper()
	var got map[string]relayRecord
	natstest.CheckFor(t, 90*time.Second, 100*time.Millisecond, func() error {
		got, _ = r.records(t, tenant)
		for _, table := range tables {
			for _, row := range sim.Records(table) {
				k := table + "/" + row["sys_id"].(string)
				rec, ok := got[k]
				if !ok {
					return fmt.Errorf("%s lacks %s", tenant, k)
				}
				if rec.SysUpdatedOn != row["sys_updated_on"] || fmt.Sprint(rec.SysModCount) != row["sys_mod_count"] {
					return fmt.Errorf("%s holds %s at %s/%d, instance at %v/%v", tenant, k, rec.SysUpdatedOn, rec.SysModCount, row["sys_updated_on"], row["sys_mod_count"])
				}
			}
		}
		return nil
	})
	return got
}

func TestHostedEndToEnd(t *testing.T) {
	dsn := postgresSchema(t)
	dir, hdir := t.TempDir(), shortDir(t)

	// One NATS server for both relays and both hosted agents; one NKEY user.
	ukp, _ := nkeys.CreateUser()
	seed, _ := ukp.Seed()
	pub, _ := ukp.PublicKey()
	seedFile := filepath.Join(dir, "nats.seed")
	os.WriteFile(seedFile, seed, 0o600)
	ns := natstest.Start(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})

	// Two instances over TLS (httptest's certificate: one CA for both).
	spread := 30 * 24 * time.Hour
	// The instances' clocks run a minute behind: updates made "now" fall
	// inside a poll's window (now minus lag), as with real clock skew.
	behind := func() time.Time { return time.Now().Add(-time.Minute) }
	simBasic := snowtest.New(snowtest.Options{Seed: 11, Incidents: 80, Changes: 12, Users: 25, Groups: 4, Spread: spread, Now: behind,
		Username: "sei.basic", Password: basicPassword})
	simOAuth := snowtest.New(snowtest.Options{Seed: 12, Incidents: 60, Changes: 8, Users: 20, Groups: 3, Spread: spread, Now: behind,
		OAuth: &snowtest.OAuthOptions{ClientID: oauthClientID, ClientSecret: oauthSecretVal}})
	basicSrv, oauthSrv := httptest.NewTLSServer(simBasic), httptest.NewTLSServer(simOAuth)
	defer basicSrv.Close()
	defer oauthSrv.Close()
	caFile := filepath.Join(dir, "instances-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: basicSrv.Certificate().Raw}), 0o600)
	keyFile := filepath.Join(dir, "hosted.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600)

	// Two relays; the public URL (a load balancer in production) is relay a.
	addrA := freeAddr(t)
	relayYAML := func(listen string) string {
		return fmt.Sprintf(`data_dir: data
http: {listen: %q, token: %s}
nats: {url: %q, credentials: %s}
store: {kind: postgres, dsn: %q}
stream: {max_bytes: 256MiB, replicas: 1}
log: {level: info}
hosted:
  secret_key_file: %s
  public_url: http://%s
  lease_ttl: %s
  ca_file: %s
`, listen, hostedAdmin, ns.ClientURL(), seedFile, dsn, keyFile, addrA, hostedLease, caFile)
	}
	os.MkdirAll(filepath.Join(dir, "a"), 0o700)
	os.MkdirAll(filepath.Join(dir, "b"), 0o700)
	ra := startHostedRelay(t, filepath.Join(dir, "a"), relayYAML(addrA))
	rb := startHostedRelay(t, filepath.Join(dir, "b"), relayYAML("127.0.0.1:0"))

	agents := map[string]*hostedProc{
		"h1": startHosted(t, dir, hdir, "h1", ns.ClientURL(), seedFile, caFile),
		"h2": startHosted(t, dir, hdir, "h2", ns.ClientURL(), seedFile, caFile),
	}

	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, body, _ := ra.api(t, "GET", "/v1/agents", nil)
		if !strings.Contains(body, `{"agent":"h1"`) || !strings.Contains(body, `{"agent":"h2"`) {
			return fmt.Errorf("hosted agents not present: %s\nh1: %s\nh2: %s", body, agents["h1"].log, agents["h2"].log)
		}
		return nil
	})

	// 1. Create the two integrations over HTTP, on either relay.
	code, body, _ := ra.api(t, "POST", "/v1/integrations", map[string]any{
		"tenant": "acme", "name": "snow", "type": "cloud", "url": basicSrv.URL,
		"auth":           map[string]any{"method": "basic", "username": "sei.basic", "password": basicPassword},
		"exclude_fields": []string{"description"}})
	if code != http.StatusCreated {
		t.Fatalf("create acme.snow: %d %s", code, body)
	}
	code, body, _ = rb.api(t, "POST", "/v1/integrations", map[string]any{
		"tenant": "globex", "name": "cloud", "type": "cloud", "url": oauthSrv.URL,
		"auth": map[string]any{"method": "oauth", "client_id": oauthClientID, "client_secret": oauthSecretVal}})
	if code != http.StatusCreated || !strings.Contains(body, `"redirect_url":"http://`+addrA+`/v1/oauth/callback"`) {
		t.Fatalf("create globex.cloud: %d %s", code, body)
	}
	outputs := []string{body}

	// 2. Validate both on a hosted agent.
	code, body, _ = rb.api(t, "POST", "/v1/integrations/acme.snow/validate", nil)
	if code != 200 || strings.Contains(body, "FAIL") || !strings.Contains(body, "ok   servicenow auth") || !strings.Contains(body, "ok   table incident") {
		t.Fatalf("validate acme.snow: %d\n%s", code, body)
	}
	outputs = append(outputs, body)
	code, body, _ = ra.api(t, "POST", "/v1/integrations/globex.cloud/validate", nil)
	if code != 200 || !strings.Contains(body, "FAIL servicenow auth") || !strings.Contains(body, "Connect ServiceNow") {
		t.Fatalf("validate globex.cloud before connecting: %d\n%s", code, body)
	}

	// 3. Connect ServiceNow: oauth/start on one relay, a browser through
	// the instance, back to the public URL (the other relay).
	code, _, hdr := rb.api(t, "GET", "/v1/integrations/globex.cloud/oauth/start", nil)
	loc := hdr.Get("Location")
	if code != http.StatusFound || !strings.HasPrefix(loc, oauthSrv.URL+"/oauth_auth.do?") {
		t.Fatalf("oauth/start: %d %s", code, loc)
	}
	browser := oauthSrv.Client()
	resp, err := browser.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "ServiceNow is connected") {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	outputs = append(outputs, string(page))
	code, body, _ = ra.api(t, "POST", "/v1/integrations/globex.cloud/validate", nil)
	if code != 200 || strings.Contains(body, "FAIL") {
		t.Fatalf("validate globex.cloud once connected: %d\n%s", code, body)
	}
	outputs = append(outputs, body)

	// 4. Data lands for both, each under its own tenant.
	tables := []string{"incident", "change_request", "sys_user"}
	waitHolds(t, ra, "acme", simBasic, tables...)
	waitHolds(t, rb, "globex", simOAuth, tables...)
	for _, id := range []string{"acme.snow", "globex.cloud"} {
		code, body, hdr := rb.api(t, "GET", "/v1/integrations/"+id+"/status", nil)
		var doc struct {
			ServiceNow struct {
				Tables []struct{ Name string } `json:"tables"`
			} `json:"servicenow"`
		}
		natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
			code, body, hdr = rb.api(t, "GET", "/v1/integrations/"+id+"/status", nil)
			if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil || len(doc.ServiceNow.Tables) == 0 {
				return fmt.Errorf("status of %s: %d %s", id, code, body)
			}
			return nil
		})
		if hdr.Get("Sei-Integration-State") != "OK" {
			t.Errorf("status of %s: state %q", id, hdr.Get("Sei-Integration-State"))
		}
		outputs = append(outputs, body)
	}

	// 4b. ServiceNow revokes the tokens: the pipeline (restarted by a
	// change, so it polls now) finds its refresh token refused, the
	// integration turns FAILING with "reconnect ServiceNow", and the next
	// Connect ServiceNow repairs it.
	simOAuth.RevokeTokens()
	if code, body, _ := ra.api(t, "PATCH", "/v1/integrations/globex.cloud", map[string]any{"exclude_fields": []string{"comments"}}); code != 200 {
		t.Fatalf("patch: %d %s", code, body)
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, body, _ := rb.api(t, "GET", "/v1/integrations/globex.cloud", nil)
		if !strings.Contains(body, `"state":"FAILING"`) || !strings.Contains(body, "reconnect ServiceNow") {
			var logs []string
			for _, n := range []string{"h1", "h2"} {
				raw, _ := os.ReadFile(filepath.Join(hdir, n+"-data", "log", "sei-agent.log"))
				for _, l := range strings.Split(string(raw), "\n") {
					if strings.Contains(l, "globex") && !strings.Contains(l, `"level":"info"`) {
						logs = append(logs, l)
					}
				}
			}
			return fmt.Errorf("after the revocation: %s\n%s", body, strings.Join(logs, "\n"))
		}
		return nil
	})
	code, _, hdr = ra.api(t, "GET", "/v1/integrations/globex.cloud/oauth/start", nil)
	if code != http.StatusFound {
		t.Fatalf("oauth/start again: %d", code)
	}
	resp, err = browser.Get(hdr.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reconnect: %d %s", resp.StatusCode, page)
	}
	newIncident := simOAuth.Insert("incident", map[string]string{"short_description": "after the reconnect"})
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		got, _ := ra.records(t, "globex")
		if _, ok := got["incident/"+newIncident]; !ok {
			return fmt.Errorf("globex lacks the incident made after the reconnect")
		}
		return nil
	})

	// 5. Both hosted agents hold one each; kill the holder of acme.snow.
	var victim, survivor string
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		a, b := ra.holder(t, "acme.snow"), ra.holder(t, "globex.cloud")
		if a == "" || b == "" || a == b {
			return fmt.Errorf("holders %q and %q, want one each", a, b)
		}
		victim, survivor = a, b
		return nil
	})
	_, agentsBody, _ := ra.api(t, "GET", "/v1/agents", nil)
	if !strings.Contains(agentsBody, `"hosted_agents"`) || !strings.Contains(agentsBody, `"acme.snow"`) {
		t.Errorf("/v1/agents does not list the hosted agents: %s", agentsBody)
	}
	outputs = append(outputs, agentsBody)
	for _, path := range []string{"/v1/integrations", "/v1/integrations/acme.snow", "/v1/integrations/globex.cloud"} {
		_, body, _ := rb.api(t, "GET", path, nil)
		if !strings.Contains(body, `"***"`) {
			t.Errorf("GET %s shows no masked secret: %s", path, body)
		}
		outputs = append(outputs, body)
	}
	// The newest incident the relay holds: where the new holder resumes.
	newest := ""
	for _, row := range simBasic.Records("incident") {
		newest = max(newest, row["sys_updated_on"].(string))
	}
	mark := len(simBasic.Requests())
	touched := simBasic.Touch("incident", 7)
	agents[victim].cmd.Process.Kill()
	<-agents[victim].done
	agents[victim].done <- nil
	killed := time.Now()
	natstest.CheckFor(t, 3*hostedLease, 50*time.Millisecond, func() error {
		if h := ra.holder(t, "acme.snow"); h != survivor {
			return fmt.Errorf("acme.snow held by %q, want %q", h, survivor)
		}
		return nil
	})
	t.Logf("acme.snow moved from %s to %s %s after the kill (lease period %s)", victim, survivor, time.Since(killed).Round(time.Millisecond), hostedLease)

	// Nothing lost (the touched records too) or doubled (records fails on a
	// key served twice), in either tenant.
	got := waitHolds(t, rb, "acme", simBasic, tables...)
	for _, id := range touched {
		if _, ok := got["incident/"+id]; !ok {
			t.Errorf("touched incident %s lost", id)
		}
	}
	waitHolds(t, ra, "globex", simOAuth, tables...)
	// The new holder took over with an empty data folder: it resumed from
	// the relay's confirmation (less the overlap), not from the lookback.
	want := servicenowTime(t, newest).Add(-2 * time.Minute)
	if b, ok := firstBound(simBasic.Requests()[mark:], "incident"); !ok || b == "" || !near(t, b, want, time.Second) {
		raw, _ := os.ReadFile(filepath.Join(hdir, survivor+"-data", "log", "sei-agent.log"))
		var lines []string
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.Contains(l, "acme") && (strings.Contains(l, "confirm") || strings.Contains(l, "taking over") || strings.Contains(l, "lease") || strings.Contains(l, "incident")) {
				lines = append(lines, l)
			}
		}
		t.Errorf("after the takeover the new holder first read incident from %q, want the newest held %s less the overlap\n%s", b, newest, strings.Join(lines, "\n"))
	}
	for k, rec := range got {
		if rec.Tenant != "acme" || rec.Integration != "snow" {
			t.Errorf("%s stored under %s/%s", k, rec.Tenant, rec.Integration)
		}
		if strings.Contains(string(rec.Fields), `"description"`) {
			t.Errorf("%s holds the excluded field description", k)
		}
	}

	// 6. Deleting stops the polling; the records stay.
	if code, body, _ := ra.api(t, "DELETE", "/v1/integrations/acme.snow", nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	natstest.CheckFor(t, 3*hostedLease, 50*time.Millisecond, func() error {
		if _, body, _ := ra.api(t, "GET", "/v1/agents", nil); strings.Contains(body, `"acme.snow"`) {
			return fmt.Errorf("acme.snow still held: %s", body)
		}
		return nil
	})
	if after, _ := ra.records(t, "acme"); len(after) != len(got) {
		t.Errorf("records after delete: %d, before %d", len(after), len(got))
	}

	// 7. No stored secret in any answer, log or status.
	ra.stop()
	rb.stop()
	for _, h := range agents {
		if h.cmd.ProcessState == nil {
			h.cmd.Process.Signal(syscall.SIGTERM)
			<-h.done
			h.done <- nil
		}
		outputs = append(outputs, h.log.String())
	}
	outputs = append(outputs, ra.log.String(), rb.log.String())
	all := strings.Join(outputs, "\n")
	secrets := []string{basicPassword, oauthSecretVal, string(seed), hex.EncodeToString(key)}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("a stored secret appears in an API answer, a relay log or a status document")
		}
	}
	// The hosted agents' folders (logs, buffers, cursors) hold none either:
	// ServiceNow passwords and client secrets stay in memory.
	for name := range agents {
		logs, _ := filepath.Glob(filepath.Join(hdir, name+"-data", "log", "*.log"))
		if len(logs) == 0 {
			t.Errorf("no log file of %s: the secret check would be empty", name)
		}
		for _, l := range logs {
			raw, _ := os.ReadFile(l)
			all += string(raw)
		}
		filepath.Walk(filepath.Join(hdir, name+"-data"), func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || info.Mode()&os.ModeSocket != 0 {
				return nil
			}
			raw, _ := os.ReadFile(path)
			for _, s := range secrets[:2] {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("a stored secret found in %s", path)
				}
			}
			return nil
		})
	}
	if !strings.Contains(all, "lease taken") {
		t.Errorf("the hosted agents' logs say nothing of leases:\n%s", all)
	}
}

// TestHostedEmbeddedAccounts runs the single-machine relay (embedded NATS,
// tenant accounts) with a hosted agent enrolled by `sei-relay hosted
// enroll`: the hosted role's limited permissions suffice for the leases,
// each pipeline publishes with credentials of its tenant's account that
// allow only its integration, and neither can reach what it must not.
func TestHostedEmbeddedAccounts(t *testing.T) {
	dir, hdir := t.TempDir(), shortDir(t)
	sim := snowtest.New(snowtest.Options{Seed: 21, Incidents: 40, Changes: 5, Users: 10, Groups: 2, Spread: 30 * 24 * time.Hour,
		Username: "sei.basic", Password: basicPassword})
	srv := httptest.NewTLSServer(sim)
	defer srv.Close()
	caFile := filepath.Join(dir, "instances-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	keyFile := filepath.Join(dir, "hosted.key")
	os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)), 0o600)
	r := startHostedRelay(t, dir, fmt.Sprintf(`data_dir: data
http: {listen: "127.0.0.1:0", token: %s}
nats: {listen: "127.0.0.1:0"}
log: {level: info}
hosted: {secret_key_file: %s, lease_ttl: 3s, ca_file: %s}
`, hostedAdmin, keyFile, caFile))

	out, err := exec.Command(r.bin, "hosted", "enroll", "-c", r.cfg, "--agent", "h1").Output()
	if err != nil {
		t.Fatalf("hosted enroll: %v", err)
	}
	var block struct {
		Relay struct {
			URL, Credentials string
			CAFile           string `yaml:"ca_file"`
		} `yaml:"relay"`
	}
	if err := yaml.Unmarshal(out, &block); err != nil || block.Relay.Credentials == "" {
		t.Fatalf("hosted enroll printed %s (%v)", out, err)
	}
	cfg := filepath.Join(dir, "h1.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("hosted: {name: h1, data_dir: %s, ca_file: %s}\nrelay: {url: %q, credentials: %s, ca_file: %s}\n",
		filepath.Join(hdir, "h1-data"), caFile, block.Relay.URL, block.Relay.Credentials, block.Relay.CAFile)), 0o600)
	h := &hostedProc{name: "h1", log: &bytes.Buffer{}, done: make(chan error, 1)}
	h.cmd = exec.Command(buildBinary(t, "sei-agent", "."), "hosted", "-c", cfg)
	h.cmd.Stderr = &syncWriter{w: h.log}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- h.cmd.Wait() }()
	defer func() {
		h.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-h.done; err != nil {
			t.Errorf("sei-agent hosted: %v\n%s", err, h.log)
		}
	}()

	code, body, _ := r.api(t, "POST", "/v1/integrations", map[string]any{
		"tenant": "acme", "name": "snow", "url": srv.URL,
		"auth": map[string]any{"method": "basic", "username": "sei.basic", "password": basicPassword}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		code, body, _ := r.api(t, "POST", "/v1/integrations/acme.snow/validate", nil)
		if code != 200 || strings.Contains(body, "FAIL") {
			return fmt.Errorf("validate: %d %s\n%s", code, body, h.log)
		}
		return nil
	})
	r.token = hostedAdmin
	got := waitHolds(t, r, "acme", sim, "incident", "sys_user")
	for k, rec := range got {
		if rec.Integration != "snow" {
			t.Fatalf("%s under integration %s", k, rec.Integration)
		}
	}
	// Heartbeats are stored in groups, a moment after they arrive.
	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		if _, body, _ := r.api(t, "GET", "/v1/agents?tenant=acme", nil); !strings.Contains(body, `"agent":"hosted-snow"`) {
			return fmt.Errorf("the pipeline's heartbeats are not under tenant acme: %s", body)
		}
		return nil
	})

	// The pipeline is an agent of acme like an installed one: remote
	// requests reach it through acme's account.
	natstest.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		code, body, _ := r.api(t, "POST", "/v1/agents/acme/hosted-snow/requests", map[string]any{"kind": "status"})
		if code != 200 || !strings.Contains(body, `"agent":"hosted-snow"`) || !strings.Contains(body, `"servicenow"`) {
			return fmt.Errorf("remote status of the pipeline: %d %s", code, body)
		}
		return nil
	})

	// The pipeline's credentials: a user of acme's account for acme/snow only.
	pc := filepath.Join(hdir, "h1-data", "integrations", "acme.snow", "relay.creds")
	checkRefused(t, block.Relay.URL, block.Relay.CAFile, pc, wireIngest("globex", "snow"), wireIngest("acme", "other"))
	// The hosted role: the leases, not the stream nor the integrations (secrets).
	checkRefused(t, block.Relay.URL, block.Relay.CAFile, block.Relay.Credentials,
		"$JS.API.STREAM.INFO.KV_SEI_HOSTED_INTEGRATIONS", "$JS.API.STREAM.INFO.SEI_INGEST", "sei.ingest.acme.snow.incident")

	// Deleting the integration revokes its pipeline's credentials.
	if code, body, _ := r.api(t, "DELETE", "/v1/integrations/acme.snow", nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		nc, err := nats.Connect(block.Relay.URL, nats.UserCredentials(pc), nats.RootCAs(block.Relay.CAFile), nats.NoReconnect())
		if err == nil {
			nc.Close()
			return fmt.Errorf("the deleted integration's credentials still connect")
		}
		return nil
	})
}

func wireIngest(tenant, integration string) string {
	return "sei.ingest." + tenant + "." + integration + ".incident"
}

// checkRefused connects with creds and checks that a request on each
// subject is refused by the server (a permissions violation).
func checkRefused(t *testing.T, natsURL, ca, creds string, subjects ...string) {
	t.Helper()
	errs := make(chan error, 16)
	opts := []nats.Option{nats.UserCredentials(creds), nats.RootCAs(ca),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })}
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		t.Fatalf("connect with %s: %v", creds, err)
	}
	defer nc.Close()
	for _, subj := range subjects {
		if err := nc.Publish(subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		select {
		case err := <-errs:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Errorf("publish %s with %s: %v, want a permissions violation", subj, filepath.Base(creds), err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("publish %s with %s was not refused", subj, filepath.Base(creds))
		}
	}
}
