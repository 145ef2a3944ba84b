package snowtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// count asks the Aggregate API for the count of query.
func count(t *testing.T, hs *httptest.Server, table, query string) int {
	t.Helper()
	r := get(t, hs, "/api/now/stats/"+table, vals("sysparm_count", "true", "sysparm_query", query))
	var got struct {
		Result struct {
			Stats struct {
				Count string `json:"count"`
			} `json:"stats"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	n, err := strconv.Atoi(got.Result.Stats.Count)
	if err != nil {
		t.Fatalf("count %q: %v", got.Result.Stats.Count, err)
	}
	return n
}

// TestCountWindowAndACLs: the count of a sys_created_on window with a
// filter is what the Table API would list, hidden rows left out.
func TestCountWindowAndACLs(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 8, Incidents: 300})
	rows := s.Records(TableIncident)
	lo, hi := "", ""
	for _, r := range rows {
		c := r["sys_created_on"].(string)
		if lo == "" || c < lo {
			lo = c
		}
		if hi == "" || c > hi {
			hi = c
		}
	}
	mid := rows[len(rows)/2]["sys_created_on"].(string)
	window := "sys_created_on>=" + lo + "^sys_created_on<" + mid
	want := func() int {
		n := 0
		for _, r := range s.Records(TableIncident) {
			c := r["sys_created_on"].(string)
			if c >= lo && c < mid && r["active"] == "true" && !s.Hidden(TableIncident, r["sys_id"].(string)) {
				n++
			}
		}
		return n
	}
	q := "active=true^" + window
	if got, w := count(t, hs, TableIncident, q), want(); got != w || w == 0 {
		t.Errorf("window count = %d, want %d (non-zero)", got, w)
	}
	s.HideRows(TableIncident, 0.3)
	if got, w := count(t, hs, TableIncident, q), want(); got != w {
		t.Errorf("window count with ACLs = %d, want %d", got, w)
	}
	if got := count(t, hs, TableIncident, "sys_created_on>="+lo+"^sys_created_on<="+hi); got >= len(rows) {
		t.Errorf("whole-range count %d counts hidden rows (%d rows in all)", got, len(rows))
	}
}

// TestInvisibleChanges: silent updates keep the version and write no
// audit row, hard deletes leave no audit row, and a row shown again by
// SetHidden keeps its old sys_updated_on.
func TestInvisibleChanges(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 8, Incidents: 20})
	rows := s.Records(TableIncident)
	id := rows[0]["sys_id"].(string)
	audits, deletes := len(s.Records(TableAudit)), len(s.Records(TableAuditDelete))
	if err := s.UpdateSilently(TableIncident, id, map[string]string{"short_description": "silently changed"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(TableIncident, id)
	if got["short_description"] != "silently changed" || got["sys_updated_on"] != rows[0]["sys_updated_on"] || got["sys_mod_count"] != rows[0]["sys_mod_count"] {
		t.Errorf("after a silent update: %v", got)
	}
	if err := s.UpdateSilently(TableIncident, id, map[string]string{"sys_mod_count": "9"}); err == nil {
		t.Error("a silent update of sys_mod_count: no error")
	}
	gone := rows[1]["sys_id"].(string)
	if err := s.HardDelete(TableIncident, gone); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(TableIncident, gone); ok {
		t.Error("hard-deleted row still there")
	}
	if n := len(s.Records(TableAudit)); n != audits {
		t.Errorf("sys_audit rows %d -> %d: invisible changes left audit rows", audits, n)
	}
	if n := len(s.Records(TableAuditDelete)); n != deletes {
		t.Errorf("sys_audit_delete rows %d -> %d after a hard delete", deletes, n)
	}
	if err := s.HardDelete(TableIncident, gone); err == nil {
		t.Error("second hard delete: no error")
	}
	hid := rows[2]["sys_id"].(string)
	s.SetHidden(TableIncident, hid, true)
	if r := get(t, hs, "/api/now/table/incident/"+hid, nil); r.status != http.StatusNotFound {
		t.Errorf("hidden row read: %d", r.status)
	}
	if n := count(t, hs, TableIncident, ""); n != len(rows)-2 {
		t.Errorf("count with one row hidden, one deleted = %d, want %d", n, len(rows)-2)
	}
	s.SetHidden(TableIncident, hid, false)
	if r := get(t, hs, "/api/now/table/incident/"+hid, nil); r.status != http.StatusOK {
		t.Errorf("shown row read: %d", r.status)
	}
}
