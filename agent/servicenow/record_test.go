package servicenow

import (
	"encoding/json"
	"slices"
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

func TestToRecords(t *testing.T) {
	inc := Table{Name: "incident", Field: FieldUpdatedOn}
	audit := Table{Name: "sys_audit", Field: FieldCreatedOn}
	del := Table{Name: "sys_audit_delete", Field: FieldCreatedOn}
	ref := json.RawMessage(`{"link":"https://x/api/now/table/sys_user/u1","value":"u1"}`)
	r1 := row("sys_id", "a1", "sys_updated_on", "2026-01-01 00:00:01", "sys_mod_count", "7", "sys_created_on", "2025-01-01 00:00:00")
	r1["caller_id"] = ref
	got, bad := toRecords(inc, []Row{r1, row("sys_id", "", "sys_updated_on", "2026-01-01 00:00:01")}, make([]copyKey, 2))
	want := []wire.Record{{Op: wire.OpUpsert, Table: "incident", SysID: "a1", SysUpdatedOn: "2026-01-01 00:00:01", SysModCount: 7, Fields: r1}}
	if diff := cmp.Diff(want, got); diff != "" || bad != 1 {
		t.Errorf("incident (-want +got) bad=%d:\n%s", bad, diff)
	}
	if string(got[0].Fields["caller_id"]) != string(ref) {
		t.Errorf("reference not kept verbatim: %s", got[0].Fields["caller_id"])
	}

	ar := row("sys_id", "au1", "sys_created_on", "2026-01-02 00:00:00", "sys_updated_on", "2026-01-05 00:00:00", "sys_mod_count", "3", "tablename", "incident", "documentkey", "k1", "fieldname", "DELETED")
	got, _ = toRecords(audit, []Row{ar}, []copyKey{identify("sys_audit", ar)})
	want = []wire.Record{
		{Op: wire.OpUpsert, Table: "sys_audit", SysID: "au1", SysUpdatedOn: "2026-01-02 00:00:00", Fields: ar},
		{Op: wire.OpDelete, Table: "incident", SysID: "k1", SysUpdatedOn: "2026-01-02 00:00:00", SysModCount: DeleteModCount, Reason: wire.DeleteAudit},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}

	dr := row("sys_id", "d1", "sys_created_on", "2026-01-03 00:00:00", "tablename", "change_request", "documentkey", "k2", "payload", "<x/>")
	got, _ = toRecords(del, []Row{dr}, []copyKey{identify("sys_audit_delete", dr)})
	want = []wire.Record{{Op: wire.OpDelete, Table: "change_request", SysID: "k2", SysUpdatedOn: "2026-01-03 00:00:00", SysModCount: DeleteModCount, Reason: wire.DeleteRecord}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delete (-want +got):\n%s", diff)
	}
	// The delete wins over any version of the same second.
	if !got[0].Version().Newer(wire.Version{UpdatedOn: "2026-01-03 00:00:00", ModCount: 1 << 40}) {
		t.Error("delete does not win over an update of the same second")
	}
}
