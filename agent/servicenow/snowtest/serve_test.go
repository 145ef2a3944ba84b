package snowtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRequestsLog(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 41, Incidents: 3})
	get(t, hs, "/api/now/v2/table/incident", vals("sysparm_limit", "2", "sysparm_fields", "sys_id"))
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/now/table/incident", nil)
	do(t, hs, req)
	want := []RequestLog{
		{Method: "GET", Path: "/api/now/v2/table/incident", Auth: "basic", Status: 200,
			Query: url.Values{"sysparm_limit": {"2"}, "sysparm_fields": {"sys_id"}}},
		{Method: "GET", Path: "/api/now/table/incident", Auth: "none", Status: 401, Query: url.Values{}},
	}
	if diff := cmp.Diff(want, s.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestLatencyEndsWithTheClient(t *testing.T) {
	s := New(Options{Seed: 42, Incidents: 1, Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/api/now/table/incident", nil).WithContext(ctx)
	req.SetBasicAuth("admin", "admin")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req) // returns at once: the client is gone
	if w.Body.Len() != 0 || len(s.Requests()) != 0 {
		t.Errorf("answered a departed client: %q", w.Body)
	}

	s = New(Options{Seed: 42, Incidents: 1, Latency: time.Millisecond})
	req = httptest.NewRequest(http.MethodGet, "/api/now/table/incident", nil)
	req.SetBasicAuth("admin", "admin")
	w = httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("with latency: %d", w.Code)
	}
}

func TestOnlyGETOnTheTableAPI(t *testing.T) {
	_, hs, _ := start(t, Options{Seed: 43, Incidents: 1})
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/now/table/incident", nil)
	req.SetBasicAuth("admin", "admin")
	if r := do(t, hs, req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.status)
	}
	if r := get(t, hs, "/api/now/nothing/here", nil); r.status != http.StatusBadRequest {
		t.Errorf("unknown API: %d", r.status)
	}
}

// FuzzTableAPI feeds arbitrary parameters to the Table API: it never panics
// and every 200 is valid JSON with a result.
func FuzzTableAPI(f *testing.F) {
	s := New(Options{Seed: 44, Incidents: 10, Changes: 2, Users: 5, Groups: 2})
	f.Add("incident", "state=1^ORstate=2^ORDERBYDESCnumber", "number,state", "5", "0", "all", "true")
	f.Add("sys_audit", "tablenameINincident^NQfieldname=DELETED", "", "", "3", "true", "false")
	f.Add("nosuch", "", "x", "-1", "-5", "false", "")
	f.Add("incident", "", "", "9223372036854775807", "9223372036854775807", "", "")
	f.Fuzz(func(t *testing.T, table, q, fields, limit, offset, display, noLink string) {
		v := url.Values{"sysparm_query": {q}, "sysparm_fields": {fields}, "sysparm_limit": {limit},
			"sysparm_offset": {offset}, "sysparm_display_value": {display}, "sysparm_exclude_reference_link": {noLink}}
		req := httptest.NewRequest(http.MethodGet, "/api/now/table/x", nil)
		req.URL.Path = "/api/now/table/" + table
		req.URL.RawQuery = v.Encode()
		req.SetBasicAuth("admin", "admin")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			var body struct{ Result json.RawMessage }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Result == nil {
				t.Fatalf("200 with body %q: %v", w.Body, err)
			}
		}
	})
}
