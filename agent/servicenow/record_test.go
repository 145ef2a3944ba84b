package servicenow

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func row(kv ...string) Row {
	r := Row{}
	for i := 0; i < len(kv); i += 2 {
		b, _ := json.Marshal(kv[i+1])
		r[kv[i]] = b
	}
	return r
}

func keys(r Row) []string {
	var out []string
	for k := range r {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
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
			keep := filterRow(tt.table, ex, tt.in)
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
	if !filterRow(tbl, ex, r) {
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
	filterRow(tbl, ex, r)
	if _, ok := r["payload"]; ok {
		t.Errorf("unsafe payload kept: %s", r.String("payload"))
	}
}

func TestToRecords(t *testing.T) {
	inc := Table{Name: "incident", Field: FieldUpdatedOn}
	audit := Table{Name: "sys_audit", Field: FieldCreatedOn}
	del := Table{Name: "sys_audit_delete", Field: FieldCreatedOn}
	ref := json.RawMessage(`{"link":"https://x/api/now/table/sys_user/u1","value":"u1"}`)
	r1 := row("sys_id", "a1", "sys_updated_on", "2026-01-01 00:00:01", "sys_mod_count", "7", "sys_created_on", "2025-01-01 00:00:00")
	r1["caller_id"] = ref
	got, bad := toRecords(inc, []Row{r1, row("sys_id", "", "sys_updated_on", "2026-01-01 00:00:01")})
	want := []wire.Record{{Op: wire.OpUpsert, Table: "incident", SysID: "a1", SysUpdatedOn: "2026-01-01 00:00:01", SysModCount: 7, Fields: r1}}
	if diff := cmp.Diff(want, got); diff != "" || bad != 1 {
		t.Errorf("incident (-want +got) bad=%d:\n%s", bad, diff)
	}
	if string(got[0].Fields["caller_id"]) != string(ref) {
		t.Errorf("reference not kept verbatim: %s", got[0].Fields["caller_id"])
	}

	ar := row("sys_id", "au1", "sys_created_on", "2026-01-02 00:00:00", "sys_updated_on", "2026-01-05 00:00:00", "sys_mod_count", "3", "tablename", "incident", "documentkey", "k1", "fieldname", "DELETED")
	got, _ = toRecords(audit, []Row{ar})
	want = []wire.Record{
		{Op: wire.OpUpsert, Table: "sys_audit", SysID: "au1", SysUpdatedOn: "2026-01-02 00:00:00", Fields: ar},
		{Op: wire.OpDelete, Table: "incident", SysID: "k1", SysUpdatedOn: "2026-01-02 00:00:00", SysModCount: DeleteModCount},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}

	dr := row("sys_id", "d1", "sys_created_on", "2026-01-03 00:00:00", "tablename", "change_request", "documentkey", "k2", "payload", "<x/>")
	got, _ = toRecords(del, []Row{dr})
	want = []wire.Record{{Op: wire.OpDelete, Table: "change_request", SysID: "k2", SysUpdatedOn: "2026-01-03 00:00:00", SysModCount: DeleteModCount}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delete (-want +got):\n%s", diff)
	}
	// The delete wins over any version of the same second.
	if !got[0].Version().Newer(wire.Version{UpdatedOn: "2026-01-03 00:00:00", ModCount: 1 << 40}) {
		t.Error("delete does not win over an update of the same second")
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
	f.Fuzz(func(t *testing.T, payload string) {
		raw, _ := json.Marshal(payload)
		out, ok := stripPayload(raw, "incident", ex)
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
