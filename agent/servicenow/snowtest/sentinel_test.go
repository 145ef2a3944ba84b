package snowtest

import (
	"strings"
	"testing"
)

// TestPlantSentinels: every value of an excluded (table, field) and every
// copy of it holds a sentinel; nothing else does, and structural fields
// keep their meaning.
func TestPlantSentinels(t *testing.T) {
	s := New(Options{Seed: 5, Incidents: 30, Changes: 5, Users: 5, Groups: 2})
	inc := s.Records(TableIncident)
	for _, r := range inc[:3] {
		if err := s.Delete(TableIncident, r["sys_id"].(string)); err != nil {
			t.Fatal(err)
		}
	}
	excluded := map[string]bool{"incident.description": true, "incident.work_notes": true, "incident.number": true,
		"sys_journal_field.name": true, "incident.sys_id": true, "sys_audit.tablename": true, "sys_user_group.description": true}
	n := s.PlantSentinels(func(table, field string) bool { return excluded[table+"."+field] })
	if n == 0 {
		t.Fatal("no sentinel planted")
	}
	for _, r := range s.Records(TableIncident) {
		for _, f := range []string{"description", "work_notes", "number"} {
			if tb, fd, ok := SentinelOwner(r[f].(string)); !ok || tb != TableIncident || fd != f {
				t.Errorf("incident %s = %q, want its sentinel", f, r[f])
			}
		}
		if strings.HasPrefix(r["sys_id"].(string), SentinelPrefix) {
			t.Error("structural sys_id overwritten")
		}
		if strings.HasPrefix(r["short_description"].(string), SentinelPrefix) {
			t.Error("a field not excluded got a sentinel")
		}
	}
	audits := 0
	for _, r := range s.Records(TableAudit) {
		sentinel := strings.HasPrefix(r["newvalue"].(string), SentinelPrefix) && strings.HasPrefix(r["oldvalue"].(string), SentinelPrefix)
		copyOf := r["tablename"] == TableIncident && r["fieldname"] == "description"
		if copyOf {
			audits++
		}
		if sentinel != copyOf {
			t.Errorf("audit row %v: sentinel %v, copy of an excluded field %v", r, sentinel, copyOf)
		}
	}
	journal := 0
	for _, r := range s.Records(TableJournal) {
		sentinel := strings.HasPrefix(r["value"].(string), SentinelPrefix)
		copyOf := r["name"] == TableIncident && r["element"] == "work_notes"
		if copyOf {
			journal++
		}
		if sentinel != copyOf || r["name"] != TableIncident && r["name"] != TableChangeRequest {
			t.Errorf("journal row %v: sentinel %v, copy of an excluded field %v", r, sentinel, copyOf)
		}
	}
	payloads := 0
	for _, r := range s.Records(TableAuditDelete) {
		p := r["payload"].(string)
		if r["tablename"] != TableIncident {
			continue
		}
		payloads++
		for _, f := range []string{"description", "work_notes", "number"} {
			if !strings.Contains(p, "<"+f+">"+SentinelPrefix+"incident:"+f+":") {
				t.Errorf("payload lacks the %s sentinel: %s", f, p)
			}
		}
		if !strings.HasPrefix(r["display_value"].(string), SentinelPrefix+"incident:number:") {
			t.Errorf("display_value %q is not number's sentinel", r["display_value"])
		}
	}
	if audits == 0 || journal == 0 || payloads < 3 {
		t.Errorf("copies covered: %d audit, %d journal, %d payload: the test is vacuous", audits, journal, payloads)
	}
	seen := map[string]bool{}
	for _, tbl := range s.Tables() {
		for _, r := range s.Records(tbl) {
			for _, v := range r {
				for _, m := range sentinelRE.FindAllString(v.(string), -1) {
					if seen[m] {
						t.Errorf("sentinel %s written twice", m)
					}
					seen[m] = true
				}
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct sentinels stored, PlantSentinels said %d", len(seen), n)
	}
}
