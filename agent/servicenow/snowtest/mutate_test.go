package snowtest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rowsWhere returns the rows of table whose field equals value.
func rowsWhere(s *Server, table, field, value string) []map[string]any {
	var out []map[string]any
	for _, r := range s.Records(table) {
		if r[field] == value {
			out = append(out, r)
		}
	}
	return out
}

func TestUpdateWritesAuditAndJournal(t *testing.T) {
	s, hs, clock := start(t, Options{Seed: 11, Incidents: 5})
	clock.Add(90 * time.Second)
	now := clock.Now().Format(timeLayout)
	before := s.Records(TableIncident)[0]
	id := before["sys_id"].(string)
	err := s.Update(TableIncident, id, map[string]string{
		"description": "new secret text", "state": "2", "work_notes": "called the user"})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.Get(TableIncident, id)
	if after["description"] != "new secret text" || after["sys_updated_on"] != now || after["work_notes"] != "" {
		t.Errorf("after update: %v", after)
	}
	if cmp.Equal(before["sys_mod_count"], after["sys_mod_count"]) {
		t.Errorf("sys_mod_count did not move: %v", after["sys_mod_count"])
	}
	var got []string
	for _, a := range rowsWhere(s, TableAudit, "documentkey", id) {
		if a["sys_created_on"] == now {
			got = append(got, a["fieldname"].(string)+":"+a["oldvalue"].(string)+">"+a["newvalue"].(string))
		}
	}
	var want []string
	want = append(want, "description:"+before["description"].(string)+">new secret text")
	if before["state"] != "2" {
		want = append(want, "state:"+before["state"].(string)+">2")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit rows (-want +got):\n%s", diff)
	}
	notes := rowsWhere(s, TableJournal, "value", "called the user")
	if len(notes) != 1 || notes[0]["element_id"] != id || notes[0]["element"] != "work_notes" || notes[0]["name"] != TableIncident {
		t.Errorf("journal rows: %v", notes)
	}
	// The API shows the new version.
	rows := listResult(t, get(t, hs, "/api/now/table/incident", vals("sysparm_query", "sys_updated_on="+now)))
	if diff := cmp.Diff([]string{id}, ids(rows)); diff != "" {
		t.Errorf("rows updated now (-want +got):\n%s", diff)
	}

	for name, err := range map[string]error{
		"unknown table": s.Update("nosuch", id, nil),
		"missing row":   s.Update(TableIncident, "0000", nil),
		"unknown field": s.Update(TableIncident, id, map[string]string{"u_nope": "x"}),
		"insert-only":   s.Update(TableAudit, id, nil),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestTouchIsABulkUpdateInOneSecond(t *testing.T) {
	s, _, clock := start(t, Options{Seed: 12, Incidents: 50})
	clock.Add(2 * time.Second)
	touched := s.Touch(TableIncident, 20)
	if len(touched) != 20 {
		t.Fatalf("touched %d", len(touched))
	}
	now := clock.Now().Format(timeLayout)
	var same []string
	for _, r := range rowsWhere(s, TableIncident, "sys_updated_on", now) {
		same = append(same, r["sys_id"].(string))
	}
	if diff := cmp.Diff(touched, same); diff != "" {
		t.Errorf("rows in the touched second (-touched +found):\n%s", diff)
	}
}

func TestInsert(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 13, Incidents: 5})
	id := s.Insert(TableIncident, map[string]string{"short_description": "fresh", "u_ignored": "x"})
	row, ok := s.Get(TableIncident, id)
	if !ok || row["number"] != "INC0010007" || row["sys_mod_count"] != "0" || row["short_description"] != "fresh" {
		t.Errorf("inserted %v", row) // 5 incidents + 1 generated deletion came before
	}
	if _, has := row["u_ignored"]; has {
		t.Errorf("unknown field stored")
	}
	if r := get(t, hs, "/api/now/table/incident/"+id, nil); r.status != http.StatusOK {
		t.Errorf("GET inserted: %d", r.status)
	}
	if s.Insert("nosuch", nil) != "" {
		t.Errorf("insert into unknown table returned an id")
	}
}

func TestDeleteWritesAuditRows(t *testing.T) {
	s, hs, clock := start(t, Options{Seed: 14, Incidents: 5})
	clock.Add(time.Hour)
	now := clock.Now().Format(timeLayout)
	row := s.Records(TableIncident)[2]
	id := row["sys_id"].(string)
	if err := s.Delete(TableIncident, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(TableIncident, id); err == nil {
		t.Errorf("second delete: no error")
	}
	if r := get(t, hs, "/api/now/table/incident/"+id, nil); r.status != http.StatusNotFound {
		t.Errorf("GET deleted: %d", r.status)
	}
	var deleted []map[string]any
	for _, a := range rowsWhere(s, TableAudit, "documentkey", id) {
		if a["fieldname"] == "DELETED" {
			deleted = append(deleted, a)
		}
	}
	if len(deleted) != 1 || deleted[0]["tablename"] != TableIncident || deleted[0]["sys_created_on"] != now {
		t.Errorf("DELETED audit rows: %v", deleted)
	}
	copies := rowsWhere(s, TableAuditDelete, "documentkey", id)
	if len(copies) != 1 {
		t.Fatalf("sys_audit_delete rows: %v", copies)
	}
	c := copies[0]
	payload := c["payload"].(string)
	if c["tablename"] != TableIncident || c["sys_created_on"] != now || c["display_value"] != row["number"] ||
		!strings.HasPrefix(payload, `<?xml version="1.0" encoding="UTF-8"?><record_update table="incident">`) ||
		!strings.Contains(payload, "<number>"+row["number"].(string)+"</number>") ||
		!strings.Contains(payload, "<description>") {
		t.Errorf("sys_audit_delete row: %v", c)
	}
	// The deletion is visible through the API the way the agent reads it.
	q := vals("sysparm_query", "tablenameINincident,change_request^sys_created_on>="+now+"^ORDERBYsys_created_on^ORDERBYsys_id")
	if rows := listResult(t, get(t, hs, "/api/now/table/sys_audit_delete", q)); len(rows) != 1 || rows[0]["documentkey"] != id {
		t.Errorf("sys_audit_delete via API: %v", rows)
	}
}

func TestSameSeedSameData(t *testing.T) {
	a, _, _ := start(t, Options{Seed: 21, Incidents: 30})
	b, _, _ := start(t, Options{Seed: 21, Incidents: 30})
	c, _, _ := start(t, Options{Seed: 22, Incidents: 30})
	if diff := cmp.Diff(a.Tables(), []string{"change_request", "incident", "sys_audit", "sys_audit_delete",
		"sys_journal_field", "sys_user", "sys_user_group", "sysapproval_approver"}); diff != "" {
		t.Errorf("tables (-got +want):\n%s", diff)
	}
	for _, table := range a.Tables() {
		if diff := cmp.Diff(a.Records(table), b.Records(table)); diff != "" {
			t.Errorf("%s differs for one seed:\n%s", table, diff)
		}
	}
	if cmp.Equal(a.Records(TableIncident), c.Records(TableIncident)) {
		t.Errorf("different seeds gave the same incidents")
	}
	if got, want := a.Touch(TableIncident, 5), b.Touch(TableIncident, 5); !cmp.Equal(got, want) {
		t.Errorf("Touch differs for one seed: %v vs %v", got, want)
	}
}
