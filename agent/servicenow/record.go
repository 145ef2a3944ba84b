package servicenow

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// DeleteModCount is the sys_mod_count of a delete record. ServiceNow's
// deletion time has one-second resolution, so an update and the delete may
// share a second; the delete must win over any version of that second. 2^53-1
// is larger than any real mod count and still exact in every JSON reader.
const DeleteModCount = 1<<53 - 1

// filterRow removes from row every field that must not leave the client and
// reports whether the row is kept at all. It edits row in place.
//
// Copies are covered too: a sys_audit row about an excluded field of its
// tablename is dropped (old and new values are the field's values), as is a
// sys_journal_field row whose element is excluded for its parent table; the
// XML payload of a sys_audit_delete row loses the excluded elements, or is
// dropped whole when it cannot be rewritten safely.
func filterRow(t Table, ex Exclusions, row Row) bool {
	var keep []string
	if len(t.Fields) > 0 {
		keep = slices.Concat(t.requiredFields(), t.Fields)
	}
	for f := range row {
		if ex.Excluded(t.Name, f) || (keep != nil && !slices.Contains(keep, f)) {
			delete(row, f)
		}
	}
	switch t.Name {
	case tableAudit:
		return !ex.Excluded(row.String("tablename"), row.String("fieldname"))
	case tableJournal:
		return !ex.Excluded(row.String("name"), row.String("element"))
	case tableAuditDelete:
		// display_value copies the deleted record's display field (number,
		// name), which may be an excluded one.
		if src := row.String("tablename"); len(ex.Global) > 0 || len(ex.Tables[src]) > 0 {
			delete(row, "display_value")
		}
		if p, ok := row["payload"]; ok {
			if clean, ok := stripPayload(p, row.String("tablename"), ex); ok {
				row["payload"] = clean
			} else {
				delete(row, "payload")
			}
		}
	}
	return true
}

// stripPayload removes the excluded elements of table from a
// sys_audit_delete payload (a JSON string holding the record as XML). It
// fails, and the caller drops the payload, when the XML does not parse or
// still mentions an excluded element afterwards.
func stripPayload(raw json.RawMessage, table string, ex Exclusions) (json.RawMessage, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	var names []string
	for _, f := range slices.Concat(ex.Global, ex.Tables[table]) {
		names = append(names, regexp.QuoteMeta(f))
	}
	if len(names) > 0 {
		s = payloadRE(names).ReplaceAllString(s, "")
	}
	if !xmlClean(s, table, ex) {
		return nil, false
	}
	out, err := json.Marshal(s)
	return out, err == nil
}

// payloadREs caches the stripping expression per excluded-name set.
var payloadREs sync.Map // string -> *regexp.Regexp

func payloadRE(names []string) *regexp.Regexp {
	alt := "(?:" + strings.Join(names, "|") + ")"
	if re, ok := payloadREs.Load(alt); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(`(?s)<` + alt + `(?:\s[^>]*)?/>|<(` + alt + `)(?:\s[^>]*)?>.*?</` + alt + `>`)
	payloadREs.Store(alt, re)
	return re
}

// xmlClean reports whether s is well-formed XML with no excluded element.
func xmlClean(s, table string, ex Exclusions) bool {
	d := xml.NewDecoder(bytes.NewReader([]byte(s)))
	d.Strict = true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok && ex.Excluded(table, se.Name.Local) {
			return false
		}
	}
}

// toRecords converts the filtered rows of a page into wire records. Rows
// that cannot form a valid record (no sys_id, malformed times) are counted
// in bad and skipped.
func toRecords(t Table, rows []Row) (recs []wire.Record, bad int) {
	add := func(r wire.Record) {
		if r.Validate() != nil {
			bad++
			return
		}
		recs = append(recs, r)
	}
	for _, row := range rows {
		switch {
		case t.Name == tableAuditDelete:
			add(deleteRecord(row))
		case t.Name == tableAudit && row.String("fieldname") == "DELETED":
			add(upsertRecord(t, row))
			add(deleteRecord(row))
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
// row's creation time.
func deleteRecord(row Row) wire.Record {
	return wire.Record{Op: wire.OpDelete, Table: row.String("tablename"), SysID: row.String("documentkey"),
		SysUpdatedOn: row.String(FieldCreatedOn), SysModCount: DeleteModCount}
}
