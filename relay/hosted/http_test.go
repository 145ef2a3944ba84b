package hosted

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/httpjson"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestCreateRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	spec := func(change func(m map[string]any)) map[string]any {
		m := basicSpec("acme", "snow")
		change(m)
		return m
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		param string
	}{
		{"http url", spec(func(m map[string]any) { m["url"] = "http://acme.service-now.com" }), "url"},
		{"userinfo", spec(func(m map[string]any) { m["url"] = "https://sei:pw-SEKRIT@acme.service-now.com" }), "url"},
		{"path", spec(func(m map[string]any) { m["url"] = "https://acme.service-now.com/api/now" }), "url"},
		{"no url", spec(func(m map[string]any) { delete(m, "url") }), "url"},
		{"bad name", spec(func(m map[string]any) { m["name"] = "Snow Prod" }), "name"},
		{"bad tenant", spec(func(m map[string]any) { m["tenant"] = "../x" }), "tenant"},
		{"onprem", spec(func(m map[string]any) { m["type"] = "onprem" }), "type"},
		{"no auth", spec(func(m map[string]any) { delete(m, "auth") }), "auth"},
		{"no password", spec(func(m map[string]any) { m["auth"] = map[string]any{"method": "basic", "username": "u"} }), "auth.password"},
		{"bad method", spec(func(m map[string]any) { m["auth"] = map[string]any{"method": "ntlm"} }), "auth.method"},
		{"oauth no secret", spec(func(m map[string]any) { m["auth"] = map[string]any{"method": "oauth", "client_id": "c"} }), "auth.client_secret"},
		{"bad grant", spec(func(m map[string]any) {
			m["auth"] = map[string]any{"method": "oauth", "client_id": "c", "client_secret": "s", "grant": "implicit"}
		}), "auth.grant"},
		{"bad field", spec(func(m map[string]any) { m["exclude_fields"] = []string{"Description;drop"} }), "exclude_fields"},
		{"bad table", spec(func(m map[string]any) { m["tables"] = map[string]any{"x y": map[string]any{}} }), "tables"},
		{"bad interval", spec(func(m map[string]any) { m["interval"] = "1s" }), "interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("POST", "/v1/integrations", adminToken, tc.body)
			var ae httpjson.Error
			_ = json.Unmarshal([]byte(body), &ae)
			if code != http.StatusBadRequest || ae.Param != tc.param {
				t.Fatalf("got %d %s, want 400 naming %q", code, body, tc.param)
			}
			checkNoSecret(t, "error", body, "pw-SEKRIT", password)
		})
	}
	if code, body := e.do("POST", "/v1/integrations", adminToken, map[string]any{"tenant": "acme", "nmae": "x"}); code != 400 || !strings.Contains(body, "nmae") {
		t.Errorf("unknown field: %d %s", code, body)
	}
	if code, _ := e.do("POST", "/v1/integrations", "", basicSpec("acme", "snow")); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
}

func TestSecretsNeverReturned(t *testing.T) {
	e := newEnv(t)
	code, body := e.do("POST", "/v1/integrations", adminToken, basicSpec("acme", "snow"))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var v View
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.ID != "acme.snow" || v.Auth.Password != secret.Masked || v.State != StateOK || v.Agent != "hosted-snow" {
		t.Errorf("created view: %+v", v)
	}
	code, body = e.do("POST", "/v1/integrations", "acme-token", oauthSpec("", "oauth"))
	if code != http.StatusCreated {
		t.Fatalf("create with the tenant token and no tenant: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Tenant != "acme" || v.Auth.ClientSecret != secret.Masked ||
		v.State != StateNotConnected || !strings.HasSuffix(v.RedirectURL, CallbackPath) {
		t.Errorf("oauth view: %+v %v", v, err)
	}
	var all []string
	for _, req := range [][2]string{{"GET", "/v1/integrations"}, {"GET", "/v1/integrations/acme.snow"}, {"GET", "/v1/integrations/acme.oauth"}} {
		code, body := e.do(req[0], req[1], adminToken, nil)
		if code != 200 {
			t.Errorf("%s %s: %d %s", req[0], req[1], code, body)
		}
		all = append(all, body)
	}
	// A PATCH without the secret keeps it; one with a new secret replaces it.
	code, body = e.do("PATCH", "/v1/integrations/acme.snow", "acme-token", map[string]any{"auth": map[string]any{"method": "basic", "username": "sei2"}})
	if code != 200 || !strings.Contains(body, `"username":"sei2"`) || !strings.Contains(body, `"password":"***"`) {
		t.Fatalf("patch keeping the password: %d %s", code, body)
	}
	all = append(all, body)
	in, _ := e.h.reg.Get(context.Background(), "acme.snow")
	p, err := e.h.reg.Pipeline(in)
	if err != nil || p.Auth.Password != password || p.Auth.Username != "sei2" {
		t.Errorf("pipeline after patch: %q password kept %v %v", p.Auth.Username, p.Auth.Password == password, err)
	}
	// The bucket itself holds sealed values only.
	kv, _ := e.js.KeyValue(context.Background(), wire.HostedIntegrationsBucket)
	for _, id := range []string{"acme.snow", "acme.oauth"} {
		entry, err := kv.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, string(entry.Value()))
	}
	all = append(all, e.logText())
	checkNoSecret(t, "API answers, bucket and log", strings.Join(all, "\n"), password, clientSecret)
	if code, _ := e.do("PATCH", "/v1/integrations/acme.snow", adminToken, map[string]any{"tenant": "globex"}); code != 400 {
		t.Errorf("patch of tenant: %d", code)
	}
	if code, _ := e.do("POST", "/v1/integrations", adminToken, basicSpec("acme", "snow")); code != http.StatusConflict {
		t.Errorf("create twice: %d", code)
	}
	if code, _ := e.do("DELETE", "/v1/integrations/acme.snow", "acme-token", nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	if code, _ := e.do("GET", "/v1/integrations/acme.snow", adminToken, nil); code != http.StatusNotFound {
		t.Errorf("get after delete: %d", code)
	}
}

// TestOtherTenantCannotTouch: globex's token can neither read, change,
// delete, validate, connect nor read the status of acme's integration, and
// the answer is the one an unknown id gets.
func TestOtherTenantCannotTouch(t *testing.T) {
	e := newEnv(t)
	if code, body := e.do("POST", "/v1/integrations", "acme-token", oauthSpec("acme", "snow")); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	_, unknown := e.do("GET", "/v1/integrations/acme.nope", "globex-token", nil)
	for _, req := range [][2]string{
		{"GET", ""}, {"PATCH", ""}, {"DELETE", ""}, {"POST", "/validate"}, {"GET", "/oauth/start"}, {"GET", "/status"},
	} {
		var body any
		if req[0] == "PATCH" {
			body = map[string]any{"url": "https://evil.example.com"}
		}
		code, got := e.do(req[0], "/v1/integrations/acme.snow"+req[1], "globex-token", body)
		if code != http.StatusNotFound || strings.Replace(got, "acme.snow", "acme.nope", 1) != unknown {
			t.Errorf("globex %s %s: %d %s (unknown id: %s)", req[0], req[1], code, got, unknown)
		}
	}
	if code, _ := e.do("POST", "/v1/integrations", "globex-token", basicSpec("acme", "mine")); code != http.StatusForbidden {
		t.Errorf("globex creates in acme: %d", code)
	}
	if code, _ := e.do("GET", "/v1/integrations?tenant=acme", "globex-token", nil); code != http.StatusForbidden {
		t.Errorf("globex lists acme: %d", code)
	}
	if code, body := e.do("GET", "/v1/integrations", "globex-token", nil); code != 200 || strings.Contains(body, "acme") {
		t.Errorf("globex's list: %d %s", code, body)
	}
	in, err := e.h.reg.Get(context.Background(), "acme.snow")
	if err != nil || in.URL != "https://acme.service-now.com" {
		t.Errorf("acme's integration changed: %+v %v", in, err)
	}
}

// connectOAuth runs Connect ServiceNow for id as a browser would.
func (e *env) connectOAuth(id, token string) (int, string) {
	e.t.Helper()
	code, loc := e.do("GET", "/v1/integrations/"+id+"/oauth/start", token, nil)
	if code != http.StatusFound {
		e.t.Fatalf("oauth/start: %d %s", code, loc)
	}
	status, page, _ := e.browser(loc)
	return status, page
}

func TestOAuthConnect(t *testing.T) {
	e := newEnv(t)
	spec := oauthSpec("acme", "snow")
	spec["url"] = e.inst.srv.URL
	if code, body := e.do("POST", "/v1/integrations", "acme-token", spec); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	code, loc := e.do("GET", "/v1/integrations/acme.snow/oauth/start", "acme-token", nil)
	u, err := url.Parse(loc)
	if code != http.StatusFound || err != nil || u.Path != "/oauth_auth.do" || u.Query().Get("redirect_uri") != e.api.URL+CallbackPath ||
		len(u.Query().Get("state")) != 43 || u.Query().Get("client_id") != clientID || strings.Contains(loc, clientSecret) {
		t.Fatalf("oauth/start: %d %s", code, loc)
	}
	status, page, callback := e.browser(loc)
	if status != 200 || !strings.Contains(page, "ServiceNow is connected") {
		t.Fatalf("callback page: %d %s", status, page)
	}
	_, body := e.do("GET", "/v1/integrations/acme.snow", "acme-token", nil)
	var v View
	_ = json.Unmarshal([]byte(body), &v)
	if v.State != StateOK || v.Auth.Token != secret.Masked || v.Auth.Connected.IsZero() {
		t.Errorf("after connect: %s", body)
	}
	in, _ := e.h.reg.Get(context.Background(), "acme.snow")
	p, _ := e.h.reg.Pipeline(in)
	if p.Auth.Token == nil || !strings.HasPrefix(p.Auth.Token.RefreshToken, "refresh-TOKEN-") {
		t.Fatalf("pipeline token: %+v", p.Auth.Token)
	}

	// The same callback again (a replay) is refused, and changes nothing.
	status, page, _ = e.browser(callback)
	if status != http.StatusBadRequest || !strings.Contains(page, "already used") {
		t.Errorf("replayed callback: %d %s", status, page)
	}
	// A forged state, and a state for another integration's code, too.
	for _, forged := range []string{"x", strings.Repeat("A", 43), u.Query().Get("state")} {
		status, page, _ = e.browser(e.api.URL + CallbackPath + "?code=code-1&state=" + url.QueryEscape(forged))
		if status != http.StatusBadRequest {
			t.Errorf("forged state %q: %d %s", forged, status, page)
		}
	}
	// HTML in the error is escaped.
	status, page, _ = e.browser(e.api.URL + CallbackPath + "?state=<script>alert(1)</script>")
	if strings.Contains(page, "<script>") || status != 400 {
		t.Errorf("callback page not escaped: %s", page)
	}
	in2, _ := e.h.reg.Get(context.Background(), "acme.snow")
	if in2.Settings != in.Settings {
		t.Errorf("refused callbacks changed the integration: settings %d -> %d", in.Settings, in2.Settings)
	}

	// The holder reports the refresh token refused: FAILING, reconnect.
	// The next connect repairs it.
	rep, _ := json.Marshal(wire.HostedReport{Integration: "acme.snow", Holder: "h1", Revision: in.Settings, Reconnect: true,
		Detail: "the refresh token was refused (expired or revoked)"})
	if _, err := e.nc.Request(wire.HostedReportSubject, rep, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, body = e.do("GET", "/v1/integrations/acme.snow", "acme-token", nil)
	if !strings.Contains(body, `"state":"FAILING"`) || !strings.Contains(body, ReconnectReason) {
		t.Errorf("after the refused refresh: %s", body)
	}
	if list := e.list(t); len(list.Integrations) != 0 {
		t.Errorf("hosted agents still get the FAILING integration: %+v", list)
	}
	if status, page = e.connectOAuth("acme.snow", "acme-token"); status != 200 {
		t.Fatalf("reconnect: %d %s", status, page)
	}
	_, body = e.do("GET", "/v1/integrations/acme.snow", "acme-token", nil)
	if !strings.Contains(body, `"state":"OK"`) {
		t.Errorf("after reconnect: %s", body)
	}
	if list := e.list(t); len(list.Integrations) != 1 {
		t.Errorf("hosted agents do not get the reconnected integration: %+v", list)
	}
	kv, _ := e.js.KeyValue(context.Background(), wire.HostedIntegrationsBucket)
	entry, _ := kv.Get(context.Background(), "acme.snow")
	checkNoSecret(t, "bucket, log and pages", string(entry.Value())+e.logText()+body, append(e.inst.tokens(), clientSecret)...)
}

func (e *env) list(t *testing.T) wire.HostedListReply {
	m, err := e.nc.Request(wire.HostedListSubject, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var l wire.HostedListReply
	if err := json.Unmarshal(m.Data, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOpenOnlyForTheHolder: the pipeline, with its secrets, goes only to
// the agent the lease names.
func TestOpenOnlyForTheHolder(t *testing.T) {
	e := newEnv(t)
	if code, body := e.do("POST", "/v1/integrations", adminToken, basicSpec("acme", "snow")); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	open := func(holder string) wire.HostedPipeline {
		raw, _ := json.Marshal(wire.HostedOpenRequest{Integration: "acme.snow", Holder: holder})
		m, err := e.nc.Request(wire.HostedOpenSubject, raw, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var p wire.HostedPipeline
		_ = json.Unmarshal(m.Data, &p)
		return p
	}
	if p := open("h1"); p.Error == "" || p.Auth.Password != "" {
		t.Fatalf("open without a lease: %+v", p)
	}
	leases, _ := e.js.KeyValue(context.Background(), wire.HostedLeasesBucket)
	raw, _ := json.Marshal(wire.HostedLease{Holder: "h1"})
	if _, err := leases.Create(context.Background(), wire.HostedLeaseKey("acme.snow"), raw); err != nil {
		t.Fatal(err)
	}
	if p := open("h2"); p.Error == "" || p.Auth.Password != "" {
		t.Fatalf("open by another agent: %+v", p)
	}
	if p := open("h1"); p.Error != "" || p.Auth.Password != password || p.Tenant != "acme" || p.Agent != "hosted-snow" {
		t.Fatalf("open by the holder: %+v", p.Error)
	}
	_, body := e.do("GET", "/v1/agents", adminToken, nil)
	if !strings.Contains(body, `"hosted_agents":[{"agent":"h1","integrations":["acme.snow"]}]`) {
		t.Errorf("/v1/agents: %s", body)
	}
	if _, body := e.do("GET", "/v1/agents", "acme-token", nil); strings.Contains(body, "hosted_agents") {
		t.Errorf("a tenant token sees the hosted agents: %s", body)
	}
	if _, body := e.do("GET", "/v1/integrations/acme.snow", "acme-token", nil); !strings.Contains(body, `"holder":"h1"`) {
		t.Errorf("integration view lacks its holder: %s", body)
	}
}

func TestValidateWithoutAndWithAgent(t *testing.T) {
	e := newEnv(t)
	if code, body := e.do("POST", "/v1/integrations", adminToken, basicSpec("acme", "snow")); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := e.do("POST", "/v1/integrations/acme.snow/validate", "acme-token", nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "no hosted agent") {
		t.Errorf("validate without agents: %d %s", code, body)
	}
	// A stand-in hosted agent: the real one runs in the agent's end-to-end test.
	sub, err := e.nc.QueueSubscribe(wire.HostedValidateSubject, wire.HostedQueue, func(m *nats.Msg) {
		var p wire.HostedPipeline
		_ = json.Unmarshal(m.Data, &p)
		ok := p.Auth.Password == password
		raw, _ := json.Marshal(wire.HostedValidateReply{Agent: "h1", Checks: []wire.HostedCheck{{Check: "servicenow auth", OK: ok, Detail: "as sei"}}})
		_ = m.Respond(raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	code, body := e.do("POST", "/v1/integrations/acme.snow/validate", "acme-token", nil)
	if code != 200 || body != "ok   servicenow auth        as sei\n" {
		t.Errorf("validate: %d %q", code, body)
	}
}

// TestOAuthStateExpires: a state older than StateTTL is refused even if
// the bucket still held it, and the integration stays unconnected.
func TestOAuthStateExpires(t *testing.T) {
	e := newEnv(t)
	var skew atomic.Int64
	e.h.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	spec := oauthSpec("acme", "snow")
	spec["url"] = e.inst.srv.URL
	if code, body := e.do("POST", "/v1/integrations", "acme-token", spec); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	code, loc := e.do("GET", "/v1/integrations/acme.snow/oauth/start", "acme-token", nil)
	if code != http.StatusFound {
		t.Fatalf("oauth/start: %d", code)
	}
	skew.Store(int64(StateTTL + time.Minute))
	status, page, _ := e.browser(loc)
	if status != http.StatusBadRequest || !strings.Contains(page, "expired") {
		t.Errorf("expired state: %d %s", status, page)
	}
	if _, body := e.do("GET", "/v1/integrations/acme.snow", "acme-token", nil); !strings.Contains(body, StateNotConnected) {
		t.Errorf("connected with an expired state: %s", body)
	}
}

func TestEmptyRegistry(t *testing.T) {
	e := newEnv(t)
	if code, body := e.do("GET", "/v1/integrations", "acme-token", nil); code != 200 || body != "{\"integrations\":[]}\n" {
		t.Errorf("empty list: %d %q", code, body)
	}
	if l := e.list(t); l.Error != "" || len(l.Integrations) != 0 {
		t.Errorf("hosted list of an empty registry: %+v", l)
	}
	if code, body := e.do("GET", "/v1/agents", adminToken, nil); code != 200 || !strings.Contains(body, `"hosted_agents":[]`) {
		t.Errorf("agents: %d %s", code, body)
	}
}
