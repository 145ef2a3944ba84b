package servicenow

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Exclusions are the fields that must never leave the client: in a record
// of their table, or as a copy in sys_audit, sys_journal_field or
// sys_audit_delete.
type Exclusions struct {
	Global []string            // servicenow.exclude_fields: every table
	Tables map[string][]string // servicenow.tables.<table>.exclude_fields
}

// Excluded reports whether field of table must be removed.
func (e Exclusions) Excluded(table, field string) bool {
	return slices.Contains(e.Global, field) || slices.Contains(e.Tables[table], field)
}

// fieldsOf lists the fields excluded from table's records, sorted; nil
// when there are none.
func (e Exclusions) fieldsOf(table string) []string {
	out := slices.Concat(e.Global, e.Tables[table])
	slices.Sort(out)
	return slices.Compact(out)
}

// Skip reports whether t needs no scan at all: sys_journal_field when both
// comments and work_notes are excluded from incident and change_request.
func (e Exclusions) Skip(t Table) bool {
	if t.Name != tableJournal {
		return false
	}
	for _, tbl := range []string{"incident", "change_request"} {
		for _, f := range []string{"comments", "work_notes"} {
			if !e.Excluded(tbl, f) {
				return false
			}
		}
	}
	return true
}

// Plan returns the tables worth scanning under ex, each with Exclude set to
// the fields removed from its records: sys_journal_field is dropped when
// comments and work_notes are both excluded, and its default element filter
// narrowed when one of them is. Rows are filtered anyway; this only saves
// requests.
func Plan(tables []Table, ex Exclusions) []Table {
	var out []Table
	for _, t := range tables {
		if ex.Skip(t) {
			continue
		}
		t.Exclude = ex.fieldsOf(t.Name)
		if t.Name == tableJournal && strings.Contains(t.Filter, "elementINcomments,work_notes") {
			for _, f := range []string{"comments", "work_notes"} {
				if ex.Excluded("incident", f) && ex.Excluded("change_request", f) {
					keep := map[string]string{"comments": "work_notes", "work_notes": "comments"}[f]
					t.Filter = strings.Replace(t.Filter, "elementINcomments,work_notes", "element="+keep, 1)
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// rowFilter removes from the rows of one table every field that must not
// leave the client. It is built once per Scan (or CheckTable), so the work
// per row is map lookups; it is not safe for concurrent use.
type rowFilter struct {
	t    Table
	ex   Exclusions
	drop map[string]bool // excluded fields of t's own records
	keep map[string]bool // include list plus required fields; nil keeps every field
	// payloadREs caches, per source table of sys_audit_delete rows, the
	// expression stripping its excluded elements (nil: none excluded).
	payloadREs map[string]*regexp.Regexp
}

func newRowFilter(t Table, ex Exclusions) *rowFilter {
	f := &rowFilter{t: t, ex: ex, drop: set(ex.Global, ex.Tables[t.Name]), payloadREs: map[string]*regexp.Regexp{}}
	if len(t.Fields) > 0 {
		f.keep = set(t.requiredFields(), t.Fields)
	}
	return f
}

func set(lists ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			m[s] = true
		}
	}
	return m
}

// copyKey is what a copy row is a copy of: the (table, field) whose
// value it carries, read from the row's identifying columns before
// anything is stripped (name/element for sys_journal_field,
// tablename/fieldname for sys_audit, tablename for sys_audit_delete,
// whose payload copies every field of table). It also keeps what a
// deletion needs (documentkey, and whether a sys_audit row records one),
// so that excluding an identifying column never changes which rows are
// dropped or which deletions are sent.
type copyKey struct {
	table, field string
	docKey       string
}

// identify reads row's identifying columns; zero for a table without
// copies.
func identify(t string, row Row) copyKey {
	switch t {
	case tableAudit:
		return copyKey{table: row.String("tablename"), field: row.String("fieldname"), docKey: row.String("documentkey")}
	case tableJournal:
		return copyKey{table: row.String("name"), field: row.String("element")}
	case tableAuditDelete:
		return copyKey{table: row.String("tablename"), docKey: row.String("documentkey")}
	}
	return copyKey{}
}

// keepRow removes from row every field that must not leave the client and
// reports whether the row is kept at all. It edits row in place.
func (f *rowFilter) keepRow(row Row) bool {
	_, keep := f.filter(row)
	return keep
}

// filter is keepRow that also returns the row's identifying columns, read
// before anything was stripped.
//
// Copies are covered too: a sys_audit row about an excluded field of its
// tablename is dropped (old and new values are the field's values), as is a
// sys_journal_field row whose element is excluded for its parent table; the
// XML payload of a sys_audit_delete row loses the excluded elements, or is
// dropped whole when it cannot be rewritten safely. Which (table, field) a
// row copies is decided from its identifying columns before they are
// stripped: excluding name, element, tablename or fieldname themselves
// must not blind the filter.
func (f *rowFilter) filter(row Row) (copyKey, bool) {
	id := identify(f.t.Name, row)
	switch f.t.Name {
	case tableAudit, tableJournal:
		if f.ex.Excluded(id.table, id.field) {
			return id, false
		}
	}
	for name := range row {
		if f.drop[name] || (f.keep != nil && !f.keep[name]) {
			delete(row, name)
		}
	}
	if f.t.Name == tableAuditDelete {
		// display_value copies the deleted record's display field (number,
		// name), which may be an excluded one.
		if len(f.ex.Global) > 0 || len(f.ex.Tables[id.table]) > 0 {
			delete(row, "display_value")
		}
		if p, ok := row["payload"]; ok {
			if clean, ok := f.stripPayload(p, id.table); ok {
				row["payload"] = clean
			} else {
				delete(row, "payload")
			}
		}
	}
	return id, true
}

// stripPayload removes the excluded elements of table from a
// sys_audit_delete payload (a JSON string holding the record as XML). It
// fails, and the caller drops the payload, when the XML does not parse or
// still mentions an excluded element afterwards.
func (f *rowFilter) stripPayload(raw json.RawMessage, table string) (json.RawMessage, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	if re := f.payloadRE(table); re != nil {
		s = re.ReplaceAllString(s, "")
	}
	if !xmlClean(s, table, f.ex) {
		return nil, false
	}
	out, err := json.Marshal(s)
	return out, err == nil
}

// payloadRE is the expression matching table's excluded elements, empty or
// not; nil when table has no exclusion.
func (f *rowFilter) payloadRE(table string) *regexp.Regexp {
	if re, ok := f.payloadREs[table]; ok {
		return re
	}
	var names []string
	for _, n := range slices.Concat(f.ex.Global, f.ex.Tables[table]) {
		names = append(names, regexp.QuoteMeta(n))
	}
	var re *regexp.Regexp
	if len(names) > 0 {
		alt := "(?:" + strings.Join(names, "|") + ")"
		re = regexp.MustCompile(`(?s)<` + alt + `(?:\s[^>]*)?/>|<(` + alt + `)(?:\s[^>]*)?>.*?</` + alt + `>`)
	}
	f.payloadREs[table] = re
	return re
}

// xmlClean reports whether s is well-formed XML with no excluded element.
func xmlClean(s, table string, ex Exclusions) bool {
	d := xml.NewDecoder(strings.NewReader(s))
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

// Check reports the exclusions that would break paging or identity for
// tables, each naming its config key (servicenow.exclude_fields or
// servicenow.tables.<table>.exclude_fields), or nil:
//   - sys_id identifies every record;
//   - a table's incremental field (sys_updated_on, or sys_created_on for
//     insert-only tables) is its keyset paging position;
//   - tablename and documentkey of sys_audit and sys_audit_delete name
//     each deleted record, and a deletion cannot be sent without them.
//
// Any other field may be excluded, including the copy tables' identifying
// columns (name, element, fieldname): they are read, then stripped.
func (e Exclusions) Check(tables []Table) []string {
	type problem struct{ key, field, reason string }
	var order []problem
	seen := map[problem][]string{}
	for _, t := range tables {
		for f, reason := range t.unexcludable() {
			add := func(key string) {
				p := problem{key, f, reason}
				if _, ok := seen[p]; !ok {
					order = append(order, p)
				}
				seen[p] = append(seen[p], t.Name)
			}
			if slices.Contains(e.Global, f) {
				add("servicenow.exclude_fields")
			}
			if slices.Contains(e.Tables[t.Name], f) {
				add("servicenow.tables." + t.Name + ".exclude_fields")
			}
		}
	}
	slices.SortFunc(order, func(a, b problem) int {
		return strings.Compare(a.key+" "+a.field+" "+a.reason, b.key+" "+b.field+" "+b.reason)
	})
	var out []string
	for _, p := range order {
		out = append(out, fmt.Sprintf("%s: cannot exclude %q: %s (%s); remove it from the list",
			p.key, p.field, p.reason, strings.Join(seen[p], ", ")))
	}
	return out
}

// unexcludable maps the fields of t that cannot be excluded to the reason.
func (t Table) unexcludable() map[string]string {
	m := map[string]string{"sys_id": "it identifies every record"}
	m[t.Field] = "the table pages on it (keyset paging on " + t.Field + ", sys_id)"
	if t.Name == tableAudit || t.Name == tableAuditDelete {
		m["tablename"] = "it names the table of each deleted record"
		m["documentkey"] = "it is the sys_id of each deleted record"
	}
	return m
}
