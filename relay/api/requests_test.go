package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/remotereq"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/token"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// fakeRequests answers every question with answer/err and records them.
type fakeRequests struct {
	mu     sync.Mutex
	asked  []remotereq.Question
	answer remotereq.Answer
	err    error
}

func (f *fakeRequests) Ask(_ context.Context, q remotereq.Question) (remotereq.Answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, q)
	return f.answer, f.err
}

func (f *fakeRequests) OpenBundle(_ context.Context, tenant, agent, id string) (io.ReadCloser, int64, error) {
	if tenant == "t1" && agent == "a1" && id == "b1" {
		return io.NopCloser(strings.NewReader("PK-zip")), 6, nil
	}
	return nil, 0, remotereq.ErrNotFound
}

func (f *fakeRequests) Timeout() time.Duration       { return 10 * time.Second }
func (f *fakeRequests) AnswerTimeout() time.Duration { return 2 * time.Minute }

type requestFixture struct {
	ts       *httptest.Server
	reqs     *fakeRequests
	t1, t2   string
	logs     *strings.Builder
	logsLock *sync.Mutex
}

func newRequestFixture(t *testing.T) *requestFixture {
	t.Helper()
	bs, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	tokens := token.Open(t.TempDir())
	f := &requestFixture{reqs: &fakeRequests{}, logs: &strings.Builder{}, logsLock: &sync.Mutex{}}
	if f.t1, _, err = tokens.Create("t1", "support\nportal", time.Now()); err != nil {
		t.Fatal(err)
	}
	if f.t2, _, err = tokens.Create("t2", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Token: adminToken, Tenants: tokens, Store: bs, Requests: f.reqs,
		Logger: zerolog.New(lockedWriter{f.logs, f.logsLock})})
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *requestFixture) post(t *testing.T, path, tok, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestRequestAccess: the admin token and the tenant's own token may ask;
// another tenant's token gets the same 403 whether the agent exists or
// not, and the agent is never asked.
func TestRequestAccess(t *testing.T) {
	f := newRequestFixture(t)
	f.reqs.answer = remotereq.Answer{ID: "r1", Status: wire.ReplyResult, Result: json.RawMessage(`{"verdict":"OK"}`)}
	for _, tok := range []string{adminToken, f.t1} {
		code, body := f.post(t, "/v1/agents/t1/a1/requests", tok, `{"kind":"status"}`)
		if code != http.StatusOK || body["kind"] != "status" || body["agent"] != "a1" || fmt.Sprint(body["result"]) != "map[verdict:OK]" {
			t.Errorf("status: %d %v", code, body)
		}
	}
	var forbidden []string
	for _, agent := range []string{"a1", "ghost"} {
		code, body := f.post(t, "/v1/agents/t1/"+agent+"/requests", f.t2, `{"kind":"status"}`)
		if code != http.StatusForbidden {
			t.Errorf("t2 token asking t1/%s: %d", agent, code)
		}
		forbidden = append(forbidden, fmt.Sprint(body))
	}
	if forbidden[0] != forbidden[1] {
		t.Errorf("the refusal tells an existing agent from a missing one: %v", forbidden)
	}
	if len(f.reqs.asked) != 2 {
		t.Errorf("asked %d times, want 2 (admin and t1)", len(f.reqs.asked))
	}
	if f.reqs.asked[0].Asker != "admin" || !strings.HasPrefix(f.reqs.asked[1].Asker, "token ") || !strings.Contains(f.reqs.asked[1].Asker, "(support?portal) of t1") {
		t.Errorf("askers %q, %q", f.reqs.asked[0].Asker, f.reqs.asked[1].Asker)
	}
	if code, _ := f.post(t, "/v1/agents/t1/a1/requests", "", `{"kind":"status"}`); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
}

// TestRequestBadInput: a body or kind the relay can judge is refused
// without asking the agent.
func TestRequestBadInput(t *testing.T) {
	f := newRequestFixture(t)
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/agents/t1/a1/requests", `{"kind":"shell"}`, "kind: must be one of status, validate, preview, resync, bundle"},
		{"/v1/agents/t1/a1/requests", `{}`, "kind: must be one of"},
		{"/v1/agents/t1/a1/requests", `[1]`, "want a JSON object"},
		{"/v1/agents/t1/a1/requests", `{"kind":"preview","pad":"` + strings.Repeat("x", 70<<10) + `"}`, "at most"},
		{"/v1/agents/t1/A1/requests", `{"kind":"status"}`, "agent: must match"},
		{"/v1/agents/T1/a1/requests", `{"kind":"status"}`, "tenant: must match"},
	} {
		code, body := f.post(t, tc.path, adminToken, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error"]), tc.want) {
			t.Errorf("%s %.40s: %d %v, want 400 %q", tc.path, tc.body, code, body, tc.want)
		}
	}
	if len(f.reqs.asked) != 0 {
		t.Errorf("the agent was asked %d bad requests", len(f.reqs.asked))
	}
}

// TestRequestAnswers: each way an agent answers, or does not, maps to its
// status code with the agent's text or a message naming what to check.
func TestRequestAnswers(t *testing.T) {
	f := newRequestFixture(t)
	for _, tc := range []struct {
		answer remotereq.Answer
		err    error
		code   int
		want   string
	}{
		{answer: remotereq.Answer{Status: wire.ReplyRefused, Text: "agent a1 does not answer \"bundle\" requests: its remote_requests.allow lists status, validate"},
			code: http.StatusForbidden, want: "remote_requests.allow lists status, validate"},
		{answer: remotereq.Answer{Status: wire.ReplyInvalid, Text: `table "x": not synced`}, code: http.StatusBadRequest, want: `table "x": not synced`},
		{answer: remotereq.Answer{Status: wire.ReplyBusy, Text: "busy"}, code: http.StatusServiceUnavailable, want: "busy"},
		{answer: remotereq.Answer{Status: wire.ReplyError, Text: "agent a1: disk full"}, code: http.StatusBadGateway, want: "disk full"},
		{err: fmt.Errorf("%w within 10s", remotereq.ErrNoAnswer), code: http.StatusGatewayTimeout, want: "agent t1/a1 did not answer within 10s: is it running and connected?"},
		{err: fmt.Errorf("%w: %w", remotereq.ErrNoAnswer, remotereq.ErrNotConnected), code: http.StatusGatewayTimeout, want: "is it running and connected?"},
		{err: fmt.Errorf("%w within 2m", remotereq.ErrAnswerTimeout), code: http.StatusGatewayTimeout, want: "did not finish within 2m0s"},
		{err: fmt.Errorf("%w: checksum", remotereq.ErrBadAnswer), code: http.StatusBadGateway, want: "checksum"},
	} {
		f.reqs.answer, f.reqs.err = tc.answer, tc.err
		code, body := f.post(t, "/v1/agents/t1/a1/requests", f.t1, `{"kind":"bundle"}`)
		if code != tc.code || !strings.Contains(fmt.Sprint(body["error"]), tc.want) {
			t.Errorf("%+v %v: %d %v, want %d %q", tc.answer, tc.err, code, body, tc.code, tc.want)
		}
	}
	f.logsLock.Lock()
	logs := f.logs.String()
	f.logsLock.Unlock()
	if !strings.Contains(logs, `"asker":"token`) || !strings.Contains(logs, "remote request answered") {
		t.Errorf("the relay's log lacks who asked:\n%s", logs)
	}
}

func TestBundleDownload(t *testing.T) {
	f := newRequestFixture(t)
	get := func(path, tok string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/v1/agents/t1/a1/bundles/b1", f.t1); code != http.StatusOK || body != "PK-zip" {
		t.Errorf("own bundle: %d %q", code, body)
	}
	if code, _ := get("/v1/agents/t1/a1/bundles/b1", f.t2); code != http.StatusForbidden {
		t.Errorf("another tenant's token: %d", code)
	}
	if code, _ := get("/v1/agents/t1/a1/bundles/b2", adminToken); code != http.StatusNotFound {
		t.Errorf("unknown bundle: %d", code)
	}
}
