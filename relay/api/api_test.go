package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/httpjson"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/token"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

const adminToken = "s3cret-token"

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// pingStore is a real store whose Ping can be made to fail.
type pingStore struct {
	store.Store
	pingErr error
}

func (s *pingStore) Ping(ctx context.Context) error {
	if s.pingErr != nil {
		return s.pingErr
	}
	return s.Store.Ping(ctx)
}

// fixture is a server over a Badger store holding records of two tenants.
type fixture struct {
	st     *pingStore
	ts     *httptest.Server
	recs   []store.Record // every stored record of tenant t1, in List order
	nats   error          // what the "nats" health check returns
	tokens *token.File    // tenant tokens, created and revoked as the CLI does
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	bs, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatalf("open badger store: %v", err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	f := &fixture{st: &pingStore{Store: bs}, tokens: token.Open(t.TempDir())}
	var all []store.Record
	for _, tenant := range []string{"t1", "t2"} {
		for _, integ := range []string{"snow1", "snow2"} {
			for _, table := range []string{"incident", "sys_user"} {
				for i := range 30 {
					r := store.Record{Tenant: tenant, Integration: integ, Table: table, SysID: fmt.Sprintf("id%03d", i),
						SysUpdatedOn: "2026-01-01 10:00:00", SysModCount: int64(i), Fields: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
					if i%10 == 9 {
						r.Deleted, r.Fields = true, nil
					}
					all = append(all, r)
				}
			}
		}
	}
	if _, err := bs.Apply(t.Context(), all); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, r := range all {
		if r.Tenant == "t1" {
			f.recs = append(f.recs, r)
		}
	}
	sort.Slice(f.recs, func(i, j int) bool {
		a, b := f.recs[i], f.recs[j]
		return a.Integration+"\x00"+a.Table+"\x00"+a.SysID < b.Integration+"\x00"+b.Table+"\x00"+b.SysID
	})

	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sei_relay_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(7)
	srv, err := New(Config{
		Token:    adminToken,
		Tenants:  f.tokens,
		Store:    f.st,
		Health:   []Check{{Name: "nats", Func: func(context.Context) error { return f.nats }}},
		Gatherer: reg,
		Logger:   zerolog.New(zerolog.NewTestWriter(t)),
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

// get sends a GET with the token (when tok is not "").
func (f *fixture) get(t *testing.T, path, tok string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readRecords decodes an NDJSON body, checking each line has exactly the
// documented keys.
func readRecords(t *testing.T, body io.Reader) []store.Record {
	t.Helper()
	var out []store.Record
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	wantKeys := []string{"deleted", "fields", "integration", "sys_id", "sys_mod_count", "sys_updated_on", "table", "tenant"}
	for sc.Scan() {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &keys); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		var got []string
		for k := range keys {
			if k == "reason" && string(keys["deleted"]) == "true" {
				continue // only on tombstones that carry one
			}
			got = append(got, k)
		}
		sort.Strings(got)
		if d := cmp.Diff(wantKeys, got); d != "" {
			t.Fatalf("line keys (-want +got):\n%s", d)
		}
		var r store.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if string(r.Fields) == "null" {
			r.Fields = nil
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// page fetches every page of query with limit, following the cursor.
func (f *fixture) pageAll(t *testing.T, query string, limit int) (recs []store.Record, pages int) {
	t.Helper()
	return f.pageFrom(t, query, "", limit)
}

// pageFrom is pageAll starting after a cursor.
func (f *fixture) pageFrom(t *testing.T, query, after string, limit int) (recs []store.Record, pages int) {
	t.Helper()
	return f.pageFromWith(t, adminToken, query, after, limit)
}

// pageAllWith is pageAll with another token.
func (f *fixture) pageAllWith(t *testing.T, tok, query string, limit int) (recs []store.Record, pages int) {
	t.Helper()
	return f.pageFromWith(t, tok, query, "", limit)
}

func (f *fixture) pageFromWith(t *testing.T, tok, query, after string, limit int) (recs []store.Record, pages int) {
	t.Helper()
	for {
		q := fmt.Sprintf("/v1/records?%s&limit=%d", query, limit)
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		resp := f.get(t, q, tok)
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("GET %s: %s %s", q, resp.Status, b)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("Content-Type %q", ct)
		}
		page := readRecords(t, resp.Body)
		pages++
		if len(page) > limit {
			t.Fatalf("page of %d records, limit %d", len(page), limit)
		}
		recs = append(recs, page...)
		after = resp.Header.Get(HeaderNextCursor)
		if after == "" {
			return recs, pages
		}
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
	}
}

func TestRecordsPagesThroughEverything(t *testing.T) {
	f := newFixture(t)
	got, pages := f.pageAll(t, "tenant=t1", 7)
	if d := cmp.Diff(f.recs, got); d != "" {
		t.Errorf("records (-want +got):\n%.3000s", d)
	}
	if want := (len(f.recs) + 6) / 7; pages < want || pages > want+1 {
		t.Errorf("%d pages for %d records of 7, want %d", pages, len(f.recs), want)
	}
	// One page holding everything; default limit.
	resp := f.get(t, "/v1/records?tenant=t1", adminToken)
	if got := readRecords(t, resp.Body); len(got) != len(f.recs) {
		t.Errorf("default limit returned %d records, want %d", len(got), len(f.recs))
	}
	if n := resp.Header.Get(wire.HeaderRecords); n != fmt.Sprint(len(f.recs)) {
		t.Errorf("%s = %q, want %d", wire.HeaderRecords, n, len(f.recs))
	}
	if c := resp.Header.Get(HeaderNextCursor); c != "" {
		t.Errorf("last page has cursor %q", c)
	}
}

func TestRecordsFilters(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		query string
		keep  func(store.Record) bool
	}{
		{"integration", "tenant=t1&integration=snow2", func(r store.Record) bool { return r.Integration == "snow2" }},
		{"table", "tenant=t1&table=sys_user", func(r store.Record) bool { return r.Table == "sys_user" }},
		{"both", "tenant=t1&integration=snow1&table=incident", func(r store.Record) bool {
			return r.Integration == "snow1" && r.Table == "incident"
		}},
		{"unknown tenant", "tenant=nobody", func(store.Record) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []store.Record
			for _, r := range f.recs {
				if tc.keep(r) {
					want = append(want, r)
				}
			}
			got, _ := f.pageAll(t, tc.query, 11)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("records (-want +got):\n%.3000s", d)
			}
		})
	}
	// Tenant isolation: t2 sees only its own records.
	got, _ := f.pageAll(t, "tenant=t2", 50)
	for _, r := range got {
		if r.Tenant != "t2" {
			t.Fatalf("tenant t2 got a record of %s", r.Tenant)
		}
	}
	if len(got) != len(f.recs) {
		t.Errorf("tenant t2: %d records, want %d", len(got), len(f.recs))
	}
}

func TestRecordsCursorSurvivesWrites(t *testing.T) {
	f := newFixture(t)
	resp := f.get(t, "/v1/records?tenant=t1&limit=10", adminToken)
	first := readRecords(t, resp.Body)
	cursor := resp.Header.Get(HeaderNextCursor)
	// A record before the cursor and one after it appear meanwhile.
	late := []store.Record{
		{Tenant: "t1", Integration: "snow1", Table: "incident", SysID: "id000a", SysUpdatedOn: "2026-01-02 00:00:00", Fields: json.RawMessage(`{}`)},
		{Tenant: "t1", Integration: "snow2", Table: "sys_user", SysID: "zzz", SysUpdatedOn: "2026-01-02 00:00:00", Fields: json.RawMessage(`{}`)},
	}
	if _, err := f.st.Apply(t.Context(), late); err != nil {
		t.Fatal(err)
	}
	rest, _ := f.pageFrom(t, "tenant=t1", cursor, 25)
	if d := cmp.Diff(f.recs[:10], first); d != "" {
		t.Errorf("first page (-want +got):\n%s", d)
	}
	want := append(append([]store.Record{}, f.recs[10:]...), late[1])
	if d := cmp.Diff(want, rest); d != "" {
		t.Errorf("rest (-want +got):\n%.3000s", d)
	}
}

func TestRecordsBadRequests(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		query string
		param string
	}{
		{"", "tenant"},
		{"tenant=", "tenant"},
		{"tenant=T1", "tenant"},
		{"tenant=t1%2Ft2", "tenant"},
		{"tenant=t1&integration=Bad!", "integration"},
		{"tenant=t1&table=sys.user", "table"},
		{"tenant=t1&limit=0", "limit"},
		{"tenant=t1&limit=-5", "limit"},
		{"tenant=t1&limit=abc", "limit"},
		{"tenant=t1&limit=10001", "limit"},
		{"tenant=t1&after=", "after"},
		{"tenant=t1&after=not-a-cursor", "after"},
		{"tenant=t1&tennant=t2", "tennant"},
		{"tenant=t1&tenant=t2", "tenant"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			resp := f.get(t, "/v1/records?"+tc.query, adminToken)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %s, want 400", resp.Status)
			}
			var e httpjson.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if e.Param != tc.param || !strings.HasPrefix(e.Error, tc.param+":") {
				t.Errorf("error %+v, want one naming %q", e, tc.param)
			}
		})
	}
}

func TestRecordsStoreFailure(t *testing.T) {
	f := newFixture(t)
	if err := f.st.Store.Close(); err != nil {
		t.Fatal(err)
	}
	resp := f.get(t, "/v1/records?tenant=t1", adminToken)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %s, want 500", resp.Status)
	}
}

func TestUnauthenticated(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/v1/records?tenant=t1", "/v1/changes?tenant=t1", "/v1/agents", "/metrics", "/debug/pprof/heap", "/no/such/thing"} {
		for _, tc := range []struct {
			name   string
			header string
		}{
			{"no header", ""},
			{"wrong token", "Bearer wrong"},
			{"token prefix", "Bearer " + adminToken[:5]},
			{"token longer", "Bearer " + adminToken + "x"},
			{"basic", "Basic " + adminToken},
			{"scheme only", "Bearer"},
		} {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.ts.URL+path, nil)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				resp, err := f.ts.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("status %s, want 401", resp.Status)
				}
				if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
					t.Errorf("WWW-Authenticate %q", h)
				}
				if strings.Contains(string(body), "id0") || strings.Contains(string(body), "sei_relay") {
					t.Errorf("401 body leaks data: %s", body)
				}
			})
		}
	}
	// The token works, with any case of the scheme.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.ts.URL+"/v1/agents", nil)
	req.Header.Set("Authorization", "bearer "+adminToken)
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("lower-case scheme: %s", resp.Status)
	}
	// Unknown paths are 404 with the token.
	if resp := f.get(t, "/v2/records", adminToken); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %s, want 404", resp.Status)
	}
	// Writes are not allowed.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, f.ts.URL+"/v1/records?tenant=t1", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err = f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s, want 405", resp.Status)
	}
}

func putAgent(t *testing.T, st store.Store, tenant, agent string, seen time.Time, hb wire.Heartbeat) {
	t.Helper()
	raw, err := json.Marshal(hb)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutAgent(t.Context(), store.Agent{Tenant: tenant, Agent: agent, Seen: seen, Heartbeat: raw}); err != nil {
		t.Fatal(err)
	}
}

func TestAgents(t *testing.T) {
	f := newFixture(t)
	putAgent(t, f.st, "t1", "fresh", now.Add(-time.Minute), wire.Heartbeat{Agent: "fresh", Version: "1.2.0",
		Time: now.Add(-61 * time.Second), Verdict: "OK", Backlog: 12, Status: json.RawMessage(`{"tables":{}}`)})
	putAgent(t, f.st, "t1", "silent", now.Add(-10*time.Minute), wire.Heartbeat{Agent: "silent", Version: "1.1.0",
		Time: now.Add(-10 * time.Minute), Verdict: "DEGRADED", Reasons: []string{"servicenow: 401"}, Backlog: 5000})
	putAgent(t, f.st, "t2", "other", now, wire.Heartbeat{Agent: "other", Version: "1.2.0", Time: now, Verdict: "OK"})

	read := func(t *testing.T, path string) agentsAnswer {
		t.Helper()
		resp := f.get(t, path, adminToken)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		var a agentsAnswer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	got := read(t, "/v1/agents?tenant=t1")
	want := agentsAnswer{StaleAfterSeconds: 180, Agents: []agentView{
		{Tenant: "t1", Agent: "fresh", LastHeartbeat: now.Add(-time.Minute), SilentSeconds: 60, Version: "1.2.0",
			Verdict: "OK", Backlog: 12, AgentTime: now.Add(-61 * time.Second), Status: json.RawMessage(`{"tables":{}}`)},
		{Tenant: "t1", Agent: "silent", LastHeartbeat: now.Add(-10 * time.Minute), SilentSeconds: 600, Stale: true,
			Version: "1.1.0", Verdict: "DEGRADED", Reasons: []string{"servicenow: 401"}, Backlog: 5000, AgentTime: now.Add(-10 * time.Minute)},
	}}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("agents (-want +got):\n%s", d)
	}
	all := read(t, "/v1/agents")
	var names []string
	for _, a := range all.Agents {
		names = append(names, a.Tenant+"/"+a.Agent)
	}
	if d := cmp.Diff([]string{"t1/fresh", "t1/silent", "t2/other"}, names); d != "" {
		t.Errorf("all agents (-want +got):\n%s", d)
	}
	if empty := read(t, "/v1/agents?tenant=t9"); empty.Agents == nil || len(empty.Agents) != 0 {
		t.Errorf("unknown tenant: %+v, want an empty list", empty)
	}
	for _, tc := range []struct{ query, param string }{
		{"tenant=T1", "tenant"},
		{"tenant=", "tenant"},
		{"nope=1", "nope"},
		{"tenant=t1&tenant=t2", "tenant"},
	} {
		resp := f.get(t, "/v1/agents?"+tc.query, adminToken)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: %s, want 400", tc.query, resp.Status)
			continue
		}
		var e httpjson.Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatal(err)
		}
		if e.Param != tc.param || !strings.HasPrefix(e.Error, tc.param+":") {
			t.Errorf("?%s: error %+v, want one naming %q", tc.query, e, tc.param)
		}
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	read := func(t *testing.T, tok string, wantCode int) healthReport {
		t.Helper()
		resp := f.get(t, "/healthz", tok)
		if resp.StatusCode != wantCode {
			t.Fatalf("status %s, want %d", resp.Status, wantCode)
		}
		var h healthReport
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if got := read(t, "", http.StatusOK); got.Status != "ok" || len(got.Failing) != 0 {
		t.Errorf("healthy: %+v", got)
	}

	f.nats = errors.New("nats: connection closed")
	got := read(t, "", http.StatusServiceUnavailable)
	if d := cmp.Diff(healthReport{Status: "failing", Failing: []string{"nats"}}, got); d != "" {
		t.Errorf("anonymous, nats down (-want +got):\n%s", d)
	}
	f.st.pingErr = errors.New("badger: closed")
	got = read(t, adminToken, http.StatusServiceUnavailable)
	want := healthReport{Status: "failing", Failing: []string{"store", "nats"},
		Errors: map[string]string{"store": "badger: closed", "nats": "nats: connection closed"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("with token, both down (-want +got):\n%s", d)
	}
	f.nats, f.st.pingErr = nil, nil
	if got := read(t, "", http.StatusOK); got.Status != "ok" {
		t.Errorf("recovered: %+v", got)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	resp := f.get(t, "/metrics", adminToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want Prometheus text format", ct)
	}
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"# HELP sei_relay_test_total A test counter.", "# TYPE sei_relay_test_total counter", "sei_relay_test_total 7"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	_, err := New(Config{Health: []Check{{Name: "x"}}})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"Token is required", "Store is required", "Health[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	f := newFixture(t)
	srv, err := New(Config{Token: adminToken, Store: f.st, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %s", resp.Status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := client.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func FuzzParseRecordsQuery(f *testing.F) {
	for _, s := range []string{"tenant=t1", "tenant=t1&limit=5&after=c1.abc", "tenant=a&integration=b&table=c", "limit=99999", "%zz", "tenant=t1&tenant=t2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseRecordsQuery(v)
		if err != nil {
			var pe *paramError
			if !errors.As(err, &pe) || pe.param == "" {
				t.Fatalf("error %v names no parameter", err)
			}
			return
		}
		if !wire.ValidName(q.Tenant) || q.Limit < 0 || q.Limit > store.MaxLimit {
			t.Fatalf("accepted %q as %+v", raw, q)
		}
		if q.Integration != "" && !wire.ValidName(q.Integration) || q.Table != "" && !wire.ValidTable(q.Table) {
			t.Fatalf("accepted %q as %+v", raw, q)
		}
	})
}
