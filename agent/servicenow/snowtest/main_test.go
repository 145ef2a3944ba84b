package snowtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is the instance clock's start in tests.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable instance clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start serves a simulator on a real HTTP server for the test's lifetime.
func start(t *testing.T, opts Options) (*Server, *httptest.Server, *fakeClock) {
	t.Helper()
	clock := newClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	s := New(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs, clock
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// get sends GET base+path?query with basic admin/admin.
func get(t *testing.T, hs *httptest.Server, path string, query url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, hs.URL+path+"?"+query.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "admin")
	return do(t, hs, req)
}

func do(t *testing.T, hs *httptest.Server, req *http.Request) response {
	t.Helper()
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// listResult decodes a {"result":[…]} body.
func listResult(t *testing.T, r response) []map[string]any {
	t.Helper()
	var v struct {
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %d %q: %v", r.status, r.body, err)
	}
	return v.Result
}

// ids are the sys_ids of a decoded page (value mode).
func ids(rows []map[string]any) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r["sys_id"].(string))
	}
	return out
}

func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}
