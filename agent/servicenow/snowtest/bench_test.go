package snowtest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// BenchmarkGenerate measures building an instance of 10,000 incidents (with
// their audit and journal rows).
func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		New(Options{Seed: 1, Incidents: 10000, Now: func() time.Time { return epoch }})
	}
}

// BenchmarkKeysetPage measures one 1,000-row keyset page of a 10,000-incident
// table through ServeHTTP (no network).
func BenchmarkKeysetPage(b *testing.B) {
	s := New(Options{Seed: 1, Incidents: 10000, Now: func() time.Time { return epoch }})
	q := url.Values{"sysparm_limit": {"1000"}, "sysparm_query": {"sys_updated_on>=2025-01-01 00:00:00^sys_updated_on<2026-03-01 00:00:00" + orderKeyset}}
	req := httptest.NewRequest(http.MethodGet, "/api/now/table/incident?"+q.Encode(), nil)
	req.SetBasicAuth("admin", "admin")
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkKeysetPageDeep measures a narrow 100-row keyset page (two
// fields, no count) deep into 100,000 incidents: the cost the sorted index
// bounds by O(log n + page) (the first page also builds the index).
func BenchmarkKeysetPageDeep(b *testing.B) {
	s := New(Options{Seed: 1, Incidents: 100000, Changes: 1, Users: 100, AuditPerRecord: -1, JournalPerRecord: -1,
		Now: func() time.Time { return epoch }})
	q := url.Values{"sysparm_limit": {"100"}, "sysparm_no_count": {"true"}, "sysparm_fields": {"sys_id,sys_updated_on"},
		"sysparm_query": {"sys_updated_on>=2026-02-01 00:00:00^sys_updated_on<2026-03-01 00:00:00" + orderKeyset}}
	req := httptest.NewRequest(http.MethodGet, "/api/now/table/incident?"+q.Encode(), nil)
	req.SetBasicAuth("admin", "admin")
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
