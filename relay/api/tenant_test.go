package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/httpjson"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/token"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestTenantTokenReadsOnlyItsTenant: a tenant token reads its tenant's
// records and agents, gets 403 for anything of another tenant (existing or
// not) or across tenants, and the admin token reads everything. Before
// tenant tokens there was one token for every tenant.
func TestTenantTokenReadsOnlyItsTenant(t *testing.T) {
	f := newFixture(t)
	putAgent(t, f.st, "t1", "a1", now, wire.Heartbeat{Agent: "a1"})
	putAgent(t, f.st, "t2", "a2", now, wire.Heartbeat{Agent: "a2"})
	t1, _, err := f.tokens.Create("t1", "sei cloud", now)
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := f.pageAllWith(t, t1, "tenant=t1", 1000); len(recs) != len(f.recs) {
		t.Errorf("t1 token read %d records of t1, want %d", len(recs), len(f.recs))
	}
	for _, path := range []string{
		"/v1/records?tenant=t2",
		"/v1/records?tenant=t2&integration=snow1&table=incident",
		"/v1/records?tenant=nosuchtenant",
		"/v1/agents?tenant=t2",
		"/v1/agents?tenant=nosuchtenant",
		"/metrics",
		"/debug/pprof/heap",
		"/debug/pprof/goroutine?debug=1",
	} {
		if resp := f.get(t, path, t1); resp.StatusCode != http.StatusForbidden {
			t.Errorf("t1 token GET %s = %d, want 403", path, resp.StatusCode)
		}
	}
	// /v1/agents without a tenant lists only the token's own tenant.
	if got := agentTenants(t, f.get(t, "/v1/agents", t1)); len(got) != 1 || got[0] != "t1" {
		t.Errorf("t1 token /v1/agents lists tenants %v, want [t1]", got)
	}
	// The admin token alone lists across tenants.
	if got := agentTenants(t, f.get(t, "/v1/agents", adminToken)); len(got) != 2 {
		t.Errorf("admin /v1/agents lists tenants %v, want t1 and t2", got)
	}
	if resp := f.get(t, "/debug/pprof/goroutine?debug=1", adminToken); resp.StatusCode != http.StatusOK {
		t.Errorf("admin GET /debug/pprof/goroutine = %d, want 200", resp.StatusCode)
	}
	if resp := f.get(t, "/v1/records?tenant=t2", adminToken); resp.StatusCode != http.StatusOK {
		t.Errorf("admin GET t2 records = %d", resp.StatusCode)
	}
	// Health details are for the admin only.
	f.nats = errString("nats down at 10.1.2.3")
	resp := f.get(t, "/healthz", t1)
	var rep healthReport
	_ = json.NewDecoder(resp.Body).Decode(&rep)
	if len(rep.Errors) != 0 {
		t.Errorf("tenant token saw health details %v", rep.Errors)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestTenantTokenCreateAndRevokeWhileServing: a token works from the request
// after it was created, and not from the request after it was revoked, with
// no restart; a made-up token of the right shape never works.
func TestTenantTokenCreateAndRevokeWhileServing(t *testing.T) {
	f := newFixture(t)
	if resp := f.get(t, "/v1/records?tenant=t1", "seit_"+strings.Repeat("0", 64)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("made-up token = %d, want 401", resp.StatusCode)
	}
	tok, meta, err := f.tokens.Create("t1", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if resp := f.get(t, "/v1/records?tenant=t1", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("new token = %d, want 200", resp.StatusCode)
	}
	other, _, err := f.tokens.Create("t1", "other", now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokens.Revoke(meta.ID); err != nil {
		t.Fatal(err)
	}
	if resp := f.get(t, "/v1/records?tenant=t1", tok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token = %d, want 401", resp.StatusCode)
	}
	if resp := f.get(t, "/v1/records?tenant=t1", other); resp.StatusCode != http.StatusOK {
		t.Errorf("the other token after a revoke = %d, want 200", resp.StatusCode)
	}
}

func agentTenants(t *testing.T, resp *http.Response) []string {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/agents = %d", resp.StatusCode)
	}
	var ans agentsAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range ans.Agents {
		out = append(out, a.Tenant)
	}
	return out
}

// TestTenantTokenWithNATSDown: with the token bucket's NATS server stopped,
// a tenant-token request is answered 503 at once, saying the token store
// is unavailable and why, with Retry-After (the token may be good), while
// the admin token still reads. Before, it waited 5 s for the read and got
// a 500.
func TestTenantTokenWithNATSDown(t *testing.T) {
	f := newFixture(t)
	ns := natstest.Start(t, nil)
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := token.OpenKV(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := kv.Create(t.Context(), "t1", "", now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Token: adminToken, Tenants: kv, Store: f.st, Logger: zerolog.New(zerolog.NewTestWriter(t)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(f.ts.Close)
	if resp := f.get(t, "/v1/records?tenant=t1", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("tenant token with NATS up = %d, want 200", resp.StatusCode)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if nc.IsConnected() {
			return errors.New("the client has not noticed the server stopped")
		}
		return nil
	})
	resp := f.get(t, "/v1/records?tenant=t1", tok)
	var e httpjson.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("tenant token with NATS down = %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(e.Error, "token store unavailable") || !strings.Contains(e.Error, "not connected to NATS") || strings.Contains(e.Error, tok) {
		t.Errorf("error %q: want one saying the token store is unavailable because NATS is not connected", e.Error)
	}
	if resp := f.get(t, "/v1/records?tenant=t1", adminToken); resp.StatusCode != http.StatusOK {
		t.Errorf("admin token with NATS down = %d, want 200", resp.StatusCode)
	}
}
