package hosted

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/api"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
)

const adminToken = "admin-token"

// tenantTokens is the API's tenant token lookup for the tests.
type tenantTokens map[string]string

func (m tenantTokens) TenantOf(_ context.Context, tok string) (string, bool, error) {
	t, ok := m[tok]
	return t, ok, nil
}

// instance is a hand-written ServiceNow OAuth endpoint pair over TLS (the
// relay tests may not import the agent's simulator; the agent's end-to-end
// test runs the real one).
type instance struct {
	srv    *httptest.Server
	caFile string
	mu     sync.Mutex
	codes  map[string]string // code -> redirect_uri
	issued []string          // every token handed out
	n      int
}

const (
	clientID     = "cid-1"
	clientSecret = "client-secret-SEKRIT"
	password     = "basic-password-SEKRIT"
)

func newInstance(t *testing.T) *instance {
	in := &instance{codes: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth_auth.do", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != clientID || q.Get("response_type") != "code" || q.Get("state") == "" {
			http.Error(w, "bad authorize request", http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		in.n++
		code := fmt.Sprintf("code-%d", in.n)
		in.codes[code] = q.Get("redirect_uri")
		in.mu.Unlock()
		target, _ := url.Parse(q.Get("redirect_uri"))
		v := target.Query()
		v.Set("code", code)
		v.Set("state", q.Get("state"))
		target.RawQuery = v.Encode()
		http.Redirect(w, r, target.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /oauth_token.do", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := r.PostForm
		in.mu.Lock()
		defer in.mu.Unlock()
		redirect, ok := in.codes[f.Get("code")]
		delete(in.codes, f.Get("code"))
		if !ok || f.Get("grant_type") != "authorization_code" || f.Get("client_id") != clientID ||
			f.Get("client_secret") != clientSecret || f.Get("redirect_uri") != redirect {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error_description":"access_denied","error":"server_error"}`)
			return
		}
		in.n++
		at, rt := fmt.Sprintf("access-TOKEN-%d", in.n), fmt.Sprintf("refresh-TOKEN-%d", in.n)
		in.issued = append(in.issued, at, rt)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"refresh_token":%q,"scope":"useraccount","token_type":"Bearer","expires_in":1799}`, at, rt)
	})
	in.srv = httptest.NewTLSServer(mux)
	t.Cleanup(in.srv.Close)
	in.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: in.srv.Certificate().Raw})
	if err := os.WriteFile(in.caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return in
}

func (in *instance) tokens() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.issued...)
}

// env is a relay's API with hosted integrations on an in-process NATS.
type env struct {
	t    *testing.T
	h    *Hosted
	api  *httptest.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	inst *instance
	logs *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ns := natstest.Start(t, nil)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, _ := NewSealer(bytes.Repeat([]byte{3}, 32))
	e := &env{t: t, nc: nc, js: js, inst: newInstance(t), logs: &bytes.Buffer{}}
	log := zerolog.New(&lockedWriter{w: e.logs})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The API server's URL is the public URL: start it first, route later.
	var handler http.Handler
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(e.api.Close)
	e.h, err = Open(ctx, Config{JS: js, Conn: nc, Replicas: 1, Sealer: sealer, LeaseTTL: 5 * time.Second,
		PublicURL: e.api.URL, CAFile: e.inst.caFile, Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Token: adminToken, Tenants: tenantTokens{"acme-token": "acme", "globex-token": "globex"},
		Store: st, Hosted: e.h, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	handler = srv.Handler()
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.h.Run(rctx) }()
	t.Cleanup(func() { rcancel(); <-done })
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) logText() string {
	return e.logs.String() // read after the handlers returned
}

// do sends a request with token and returns the status and body.
func (e *env) do(method, path, token string, body any) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.api.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusFound {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

// browser follows redirects through the instance (trusting its CA) back to
// the relay, as the admin's browser does, and returns the last page.
func (e *env) browser(start string) (int, string, string) {
	e.t.Helper()
	c := e.inst.srv.Client()
	var last string
	c.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		last = r.URL.String()
		r.Header.Del("Authorization") // a browser has no bearer token
		return nil
	}
	resp, err := c.Get(start)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), last
}

func oauthSpec(tenant, name string) map[string]any {
	return map[string]any{"tenant": tenant, "name": name, "type": "cloud", "url": "https://acme.service-now.com",
		"auth":           map[string]any{"method": "oauth", "client_id": clientID, "client_secret": clientSecret},
		"exclude_fields": []string{"description", "comments"}}
}

func basicSpec(tenant, name string) map[string]any {
	return map[string]any{"tenant": tenant, "name": name, "type": "cloud", "url": "https://acme.service-now.com",
		"auth": map[string]any{"method": "basic", "username": "sei", "password": password}}
}

// checkNoSecret fails when text holds any of the secrets.
func checkNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q:\n%s", where, s, text)
		}
	}
}
