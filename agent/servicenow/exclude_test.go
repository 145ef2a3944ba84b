package servicenow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// TestProbeBehindProxy: with a proxy the transport takes from the
// environment (servicenow.proxy unset), Probe skips DNS and TCP, which
// would fail for a name only the proxy resolves, and authenticates
// through the proxy.
func TestProbeBehindProxy(t *testing.T) {
	_, hs := sim(t, snowtest.Options{Incidents: 3, Changes: 1})
	c, _, _ := testClient(t, "http://sn.invalid", nil)
	defer c.hc.CloseIdleConnections()
	// The simulator answers a proxied http:// request as a proxy would
	// forward it: it routes on the path. ProxyFromEnvironment reads the
	// environment once per process, so the env-only proxy is set on the
	// transport directly.
	proxy, err := url.Parse(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.hc.Transport.(*http.Transport).Proxy = http.ProxyURL(proxy)
	res := c.Probe(context.Background())
	var names []string
	for _, ch := range res.Checks {
		names = append(names, ch.Name)
	}
	if got := strings.Join(names, ","); !strings.HasPrefix(got, "auth") || !res.Checks[0].OK {
		t.Fatalf("checks %s, want auth first and OK: %+v", got, res.Checks)
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

func TestFilterRow(t *testing.T) {
	ex := Exclusions{Global: []string{"description"}, Tables: map[string][]string{"incident": {"work_notes", "close_notes"}, "sys_user": {"email"}}}
	tables := map[string]Table{}
	for _, tb := range DefaultTables() {
		tables[tb.Name] = tb
	}
	tests := []struct {
		name  string
		table Table
		in    Row
		keep  bool
		want  []string // fields left
	}{
		{"record fields", tables["incident"], row("sys_id", "a", "description", "secret", "close_notes", "secret", "number", "INC1"), true, []string{"number", "sys_id"}},
		{"per-table exclusion only on its table", tables["change_request"], row("sys_id", "a", "close_notes", "ok", "description", "secret"), true, []string{"close_notes", "sys_id"}},
		{"per-table exclusion of a table without copies", Table{Name: "sys_user", Field: FieldUpdatedOn}, row("sys_id", "a", "email", "x@y"), true, []string{"sys_id"}},
		{"include list", Table{Name: "sys_user", Field: FieldUpdatedOn, Fields: []string{"name"}}, row("sys_id", "a", "name", "n", "email", "x", "sys_updated_on", "t"), true, []string{"name", "sys_id", "sys_updated_on"}},
		{"audit of excluded field dropped", tables["sys_audit"], row("sys_id", "a", "tablename", "incident", "fieldname", "close_notes", "oldvalue", "secret", "newvalue", "secret"), false, nil},
		{"audit of global exclusion dropped", tables["sys_audit"], row("sys_id", "a", "tablename", "change_request", "fieldname", "description", "newvalue", "secret"), false, nil},
		{"audit of other table's exclusion kept", tables["sys_audit"], row("sys_id", "a", "tablename", "change_request", "fieldname", "close_notes", "newvalue", "ok"), true, []string{"fieldname", "newvalue", "sys_id", "tablename"}},
		{"journal of excluded element dropped", tables["sys_journal_field"], row("sys_id", "a", "name", "incident", "element", "work_notes", "value", "secret"), false, nil},
		{"journal of kept element kept", tables["sys_journal_field"], row("sys_id", "a", "name", "incident", "element", "comments", "value", "hello"), true, []string{"element", "name", "sys_id", "value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep := newRowFilter(tt.table, ex).keepRow(tt.in)
			if keep != tt.keep {
				t.Fatalf("keep = %v, want %v", keep, tt.keep)
			}
			if keep {
				if diff := cmp.Diff(tt.want, keys(tt.in)); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestFilterAuditDeletePayload(t *testing.T) {
	ex := Exclusions{Global: []string{"description"}, Tables: map[string][]string{"incident": {"close_notes"}}}
	tbl := Table{Name: "sys_audit_delete", Field: FieldCreatedOn}
	payload := `<?xml version="1.0" encoding="UTF-8"?><record_update table="incident"><incident><number>INC1</number><description>secret one</description><close_notes/><short_description>ok</short_description></incident></record_update>`
	r := row("sys_id", "d1", "tablename", "incident", "documentkey", "k1", "sys_created_on", "2026-01-01 00:00:00", "payload", payload)
	if !newRowFilter(tbl, ex).keepRow(r) {
		t.Fatal("delete row dropped")
	}
	got := r.String("payload")
	if strings.Contains(got, "secret") || strings.Contains(got, "description>secret") || strings.Contains(got, "close_notes") {
		t.Errorf("payload still holds excluded elements: %s", got)
	}
	if !strings.Contains(got, "<short_description>ok</short_description>") || !strings.Contains(got, "<number>INC1</number>") {
		t.Errorf("payload lost kept elements: %s", got)
	}

	// A payload that cannot be rewritten safely (CDATA hiding a closing tag) is dropped.
	bad := `<incident><description><![CDATA[a </description> secret]]></description></incident>`
	r = row("sys_id", "d2", "tablename", "incident", "documentkey", "k2", "sys_created_on", "2026-01-01 00:00:00", "payload", bad)
	newRowFilter(tbl, ex).keepRow(r)
	if _, ok := r["payload"]; ok {
		t.Errorf("unsafe payload kept: %s", r.String("payload"))
	}
}

func TestSkipJournal(t *testing.T) {
	j := Table{Name: "sys_journal_field", Field: FieldCreatedOn}
	if (Exclusions{Global: []string{"comments"}}).Skip(j) {
		t.Error("skipped with work_notes still wanted")
	}
	if !(Exclusions{Global: []string{"comments", "work_notes"}}).Skip(j) {
		t.Error("not skipped with both excluded")
	}
}

func TestPlan(t *testing.T) {
	names := func(ts []Table) (out []string) {
		for _, t := range ts {
			out = append(out, t.Name+"|"+t.Filter)
		}
		return out
	}
	all := Plan(DefaultTables(), Exclusions{})
	if len(all) != 8 {
		t.Fatalf("plan without exclusions: %v", names(all))
	}
	both := Plan(DefaultTables(), Exclusions{Global: []string{"comments", "work_notes"}})
	for _, n := range names(both) {
		if strings.HasPrefix(n, "sys_journal_field|") {
			t.Errorf("journal kept: %v", n)
		}
	}
	one := Plan(DefaultTables(), Exclusions{Global: []string{"work_notes"}})
	for _, tb := range one {
		if tb.Name == "sys_journal_field" && !strings.HasSuffix(tb.Filter, "^element=comments") {
			t.Errorf("journal filter %q not narrowed", tb.Filter)
		}
	}
	shown := Plan(DefaultTables(), Exclusions{Global: []string{"work_notes", "description"}, Tables: map[string][]string{"incident": {"close_notes", "description"}}})
	for _, tb := range shown {
		want := []string{"description", "work_notes"}
		if tb.Name == "incident" {
			want = []string{"close_notes", "description", "work_notes"}
		}
		if diff := cmp.Diff(want, tb.Exclude); diff != "" {
			t.Errorf("%s: Exclude (-want +got):\n%s", tb.Name, diff)
		}
	}
}

func FuzzStripPayload(f *testing.F) {
	f.Add(`<incident><description>x</description><number>1</number></incident>`)
	f.Add(`<incident><description><![CDATA[</description>]]></description></incident>`)
	f.Add(`<description/><description a="b">x</description>`)
	ex := Exclusions{Global: []string{"description"}}
	filter := newRowFilter(Table{Name: tableAuditDelete, Field: FieldCreatedOn}, ex)
	f.Fuzz(func(t *testing.T, payload string) {
		raw, _ := json.Marshal(payload)
		out, ok := filter.stripPayload(raw, "incident")
		if !ok {
			return
		}
		var s string
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatalf("output not a JSON string: %v", err)
		}
		if !xmlClean(s, "incident", ex) {
			t.Fatalf("kept payload %q still holds an excluded element", s)
		}
	})
}
