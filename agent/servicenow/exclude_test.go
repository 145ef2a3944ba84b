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

// TestExclusionsCoverCopies scans every default table and checks that no
// excluded value leaves the client: not in the record, nor in its copies in
// sys_audit, sys_journal_field or the sys_audit_delete payload.
func TestExclusionsCoverCopies(t *testing.T) {
	clk := newClock()
	s, hs := sim(t, snowtest.Options{Seed: 9, Now: clk.Now, Incidents: 40, Changes: 10, Users: 10, Groups: 2})
	ex := Exclusions{Global: []string{"description"}, Tables: map[string][]string{"incident": {"close_notes", "work_notes"}}}
	clk.Advance(-time.Hour)
	incs := s.Records("incident")
	for i, r := range incs[:10] {
		id := r["sys_id"].(string)
		for _, f := range []map[string]string{
			{"description": fmt.Sprintf("SECRET-DESC-%d", i), "close_notes": fmt.Sprintf("SECRET-CLOSE-%d", i)},
			{"work_notes": fmt.Sprintf("SECRET-WN-%d", i)},
			{"comments": fmt.Sprintf("VISIBLE-COMMENT-%d", i)},
		} {
			if err := s.Update("incident", id, f); err != nil {
				t.Fatal(err)
			}
		}
		if i < 4 {
			if err := s.Delete("incident", id); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk.Advance(time.Hour)

	c, _, logs := testClient(t, hs.URL, func(c *Config) { c.Exclude = ex; c.PageSize = 50 })
	var out strings.Builder
	deletes := map[string]bool{}
	for _, tbl := range DefaultTables() {
		if ex.Skip(tbl) {
			t.Fatalf("%s skipped", tbl.Name)
		}
		err := c.Scan(context.Background(), tbl, CursorAt(clk.Now().Add(-200*24*time.Hour)), clk.Now(), func(p Page) error {
			b, _ := json.Marshal(p.Rows)
			out.Write(b)
			body, err := wire.EncodeNDJSON(p.Records)
			if err != nil {
				return err
			}
			out.Write(body)
			for _, r := range p.Records {
				if r.Op == wire.OpDelete && r.Table == "incident" {
					deletes[r.SysID] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("scan %s: %v", tbl.Name, err)
		}
	}
	all := out.String() + logs.String()
	for _, marker := range []string{"SECRET-DESC-", "SECRET-CLOSE-", "SECRET-WN-"} {
		if strings.Contains(all, marker) {
			t.Errorf("excluded value %s… left the client", marker)
		}
	}
	if !strings.Contains(all, "VISIBLE-COMMENT-5") {
		t.Error("a comment (not excluded) is missing: the journal was over-filtered")
	}
	if !strings.Contains(all, `"payload"`) {
		t.Error("no sys_audit_delete payload kept at all")
	}
	for _, r := range incs[:4] {
		if !deletes[r["sys_id"].(string)] {
			t.Errorf("no delete record for incident %s", r["sys_id"])
		}
	}
}

func TestCheckTableFieldsLeaving(t *testing.T) {
	_, hs := sim(t, snowtest.Options{Incidents: 3, Changes: 1})
	c, _, _ := testClient(t, hs.URL, func(c *Config) {
		c.Exclude = Exclusions{Global: []string{"description"}, Tables: map[string][]string{"incident": {"caller_id", "number"}}}
	})
	fields, err := c.CheckTable(context.Background(), Table{Name: "incident", Field: FieldUpdatedOn})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(fields, ",")
	for _, f := range []string{"description", "caller_id", "number"} {
		if strings.Contains(","+got+",", ","+f+",") {
			t.Errorf("excluded %s would leave: %s", f, got)
		}
	}
	if !strings.Contains(got, "short_description") || !strings.Contains(got, "sys_id") {
		t.Errorf("fields leaving %s", got)
	}
	c, _, _ = testClient(t, hs.URL, func(c *Config) {
		c.Exclude = Exclusions{Global: []string{"description"}, Tables: map[string][]string{"incident": {"caller_id"}}}
	})
	fields, err = c.CheckTable(context.Background(), Table{Name: "incident", Field: FieldUpdatedOn, Fields: []string{"number", "state", "description"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fields, ","); got != "number,state,sys_id,sys_mod_count,sys_updated_on" {
		t.Errorf("include list: fields leaving %s", got)
	}
}

func TestProbe(t *testing.T) {
	clk := newClock()
	_, hs := sim(t, snowtest.Options{Incidents: 3, Changes: 1, Now: clk.Now})
	c, _, _ := testClient(t, hs.URL, nil)
	defer c.hc.CloseIdleConnections()
	res := c.Probe(context.Background())
	var names []string
	for _, ch := range res.Checks {
		names = append(names, ch.Name)
	}
	if got := strings.Join(names, ","); got != "dns,tcp,auth,clock" {
		t.Fatalf("checks %s: %+v", got, res.Checks)
	}
	// The simulator's clock is months away from the real one: skew is flagged.
	if res.OK() || res.Checks[3].OK || !strings.Contains(res.Checks[3].Detail, "NTP") {
		t.Errorf("clock skew not flagged: %+v", res.Checks)
	}
}

func TestNewest(t *testing.T) {
	s, hs := sim(t, snowtest.Options{Incidents: 50, Changes: 5})
	c, _, _ := testClient(t, hs.URL, nil)
	got, err := c.Newest(context.Background(), incidentTable)
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, r := range s.Records("incident") {
		if v := r["sys_updated_on"].(string); v > want {
			want = v
		}
	}
	if got != want {
		t.Errorf("Newest = %q, want %q", got, want)
	}
}
