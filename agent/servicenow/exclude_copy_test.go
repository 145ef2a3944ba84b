package servicenow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestExcludedIdentifyingColumns: excluding a copy table's identifying
// column (journal name/element, audit fieldname) must not blind the copy
// filter. The configuration, global [description,
// short_description, name] and incident [work_notes], leaked every incident
// work note as a sys_journal_field row, because name was stripped before
// it was read. Each case scans the default tables (and an include-list
// variant that exercises sysparm_fields) against the simulator over HTTP.
func TestExcludedIdentifyingColumns(t *testing.T) {
	tests := []struct {
		name string
		ex   Exclusions
	}{
		{"issue config: global name", Exclusions{Global: []string{"description", "short_description", "name"},
			Tables: map[string][]string{"incident": {"work_notes"}}}},
		{"global element", Exclusions{Global: []string{"element"}, Tables: map[string][]string{"incident": {"work_notes", "description"}}}},
		{"journal's own name and element", Exclusions{Tables: map[string][]string{
			"sys_journal_field": {"name", "element"}, "incident": {"work_notes", "description"}}}},
		{"global fieldname", Exclusions{Global: []string{"fieldname", "description"}, Tables: map[string][]string{"incident": {"work_notes"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, hs := sim(t, snowtest.Options{Seed: 3, Now: clk.Now, Incidents: 30, Changes: 5, Users: 5, Groups: 2})
			clk.Advance(-time.Hour)
			for i, r := range s.Records("incident")[:12] {
				id := r["sys_id"].(string)
				for _, f := range []map[string]string{
					{"work_notes": fmt.Sprintf("SECRET-WN-%d", i)},
					{"description": fmt.Sprintf("SECRET-DESC-%d", i)},
					{"comments": fmt.Sprintf("VISIBLE-COMMENT-%d", i)},
				} {
					if err := s.Update("incident", id, f); err != nil {
						t.Fatal(err)
					}
				}
			}
			clk.Advance(time.Hour)
			c, _, logs := testClient(t, hs.URL, func(c *Config) { c.Exclude = tt.ex })
			var out, copies strings.Builder
			tables := Plan(DefaultTables(), tt.ex)
			for _, tb := range Plan(DefaultTables(), tt.ex) {
				if tb.Name == tableJournal || tb.Name == tableAudit {
					wide := tb
					wide.Filter = "nameINincident,change_request" // every element, as an admin may configure
					if tb.Name == tableAudit {
						wide.Filter = "tablenameINincident,change_request" // every field
					}
					tb.Fields = []string{"value", "oldvalue", "newvalue"} // include list: sysparm_fields path
					tables = append(tables, tb, wide)
				}
			}
			for _, tb := range tables {
				err := c.Scan(context.Background(), tb, CursorAt(clk.Now().Add(-200*24*time.Hour)), clk.Now(), func(p Page) error {
					body, err := wire.EncodeNDJSON(p.Records)
					out.Write(body)
					if tb.Name == tableJournal || tb.Name == tableAudit {
						copies.Write(body)
					}
					return err
				})
				if err != nil {
					t.Fatalf("scan %s: %v", tb.Name, err)
				}
			}
			all := out.String() + logs.String()
			for _, m := range []string{"SECRET-WN-", "SECRET-DESC-"} {
				if strings.Contains(all, m) {
					t.Errorf("excluded value %s… left the client", m)
				}
			}
			if !strings.Contains(all, "VISIBLE-COMMENT-3") {
				t.Error("a comment (not excluded) is missing: the journal was over-filtered")
			}
			for _, f := range slicesOf(tt.ex) {
				if strings.Contains(copies.String(), `"`+f+`":`) {
					t.Errorf("excluded field %q left as a key", f)
				}
			}
		})
	}
}

// slicesOf lists every field tt excludes anywhere that is a copy table's
// identifying column (those must be stripped once read).
func slicesOf(ex Exclusions) []string {
	var out []string
	for _, f := range append(append([]string{}, ex.Global...), ex.Tables[tableJournal]...) {
		switch f {
		case "name", "element", "fieldname":
			out = append(out, f)
		}
	}
	return out
}

// TestAuditDeleteReadsTableBeforeStripping: a sys_audit_delete payload is
// stripped of the excluded elements of the table named in the row, even
// when tablename itself is excluded from sys_audit_delete rows.
func TestAuditDeleteReadsTableBeforeStripping(t *testing.T) {
	ex := Exclusions{Tables: map[string][]string{"incident": {"description"}, tableAuditDelete: {"tablename"}}}
	tbl := Table{Name: tableAuditDelete, Field: FieldCreatedOn}
	payload := `<incident><number>INC1</number><description>secret one</description></incident>`
	r := row("sys_id", "d1", "tablename", "incident", "documentkey", "k1", "sys_created_on", "2026-01-01 00:00:00", "payload", payload)
	f := newRowFilter(tbl, ex)
	if !f.keepRow(r) {
		t.Fatal("delete row dropped")
	}
	if got := r.String("payload"); strings.Contains(got, "secret") {
		t.Errorf("payload still holds the excluded description: %s", got)
	}
	if _, ok := r["tablename"]; ok {
		t.Error("excluded tablename kept")
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "secret") {
		t.Errorf("row leaks: %s", b)
	}
}

// TestScanRefusesPagingExclusion: a client given an exclusion of the field
// a table pages on refuses to scan it rather than page blind.
func TestScanRefusesPagingExclusion(t *testing.T) {
	_, hs := sim(t, snowtest.Options{Incidents: 3, Changes: 1})
	c, _, _ := testClient(t, hs.URL, func(c *Config) {
		c.Exclude = Exclusions{Tables: map[string][]string{"sys_journal_field": {"sys_created_on"}}}
	})
	err := c.Scan(context.Background(), Table{Name: tableJournal, Field: FieldCreatedOn}, Cursor{}, time.Now(), func(Page) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `servicenow.tables.sys_journal_field.exclude_fields: cannot exclude "sys_created_on"`) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Scan(context.Background(), incidentTable, Cursor{}, time.Now(), func(Page) error { return nil }); err != nil {
		t.Fatalf("incident does not page on it: %v", err)
	}
}
