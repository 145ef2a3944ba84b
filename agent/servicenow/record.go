package servicenow

import (
	"encoding/json"
	"strconv"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// DeleteModCount is the sys_mod_count of a delete record. ServiceNow's
// deletion time has one-second resolution, so an update and the delete may
// share a second; the delete must win over any version of that second. 2^53-1
// is larger than any real mod count and still exact in every JSON reader.
const DeleteModCount = 1<<53 - 1

// toRecords converts the filtered rows of a page into wire records; ids
// holds each row's identifying columns as read before exclusions stripped
// them (rowFilter.filter). Rows that cannot form a valid record (no
// sys_id, malformed times) are counted in bad and skipped.
func toRecords(t Table, rows []Row, ids []copyKey) (recs []wire.Record, bad int) {
	add := func(r wire.Record) {
		if r.Validate() != nil {
			bad++
			return
		}
		recs = append(recs, r)
	}
	for i, row := range rows {
		switch {
		case t.Name == tableAuditDelete:
			add(deleteRecord(ids[i], row, wire.DeleteRecord))
		case t.Name == tableAudit && ids[i].field == "DELETED":
			add(upsertRecord(t, row))
			add(deleteRecord(ids[i], row, wire.DeleteAudit))
		default:
			add(upsertRecord(t, row))
		}
	}
	return recs, bad
}

func upsertRecord(t Table, row Row) wire.Record {
	r := wire.Record{Op: wire.OpUpsert, Table: t.Name, SysID: row.String("sys_id"), Fields: map[string]json.RawMessage(row)}
	if t.insertOnly() {
		r.SysUpdatedOn = row.String(FieldCreatedOn)
		return r
	}
	r.SysUpdatedOn = row.String(FieldUpdatedOn)
	if n, err := strconv.ParseInt(row.String("sys_mod_count"), 10, 64); err == nil && n >= 0 {
		r.SysModCount = n
	}
	return r
}

// deleteRecord is the deletion of (tablename, documentkey) at the audit
// row's creation time; reason says which audit table told.
// Exclusions.Check refuses excluding tablename and documentkey from the
// tables that record deletions, so id holds values that may leave.
func deleteRecord(id copyKey, row Row, reason string) wire.Record {
	return wire.Record{Op: wire.OpDelete, Table: id.table, SysID: id.docKey,
		SysUpdatedOn: row.String(FieldCreatedOn), SysModCount: DeleteModCount, Reason: reason}
}
