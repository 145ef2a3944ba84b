package servicenow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Incremental fields a Table can page on.
const (
	FieldUpdatedOn = "sys_updated_on"
	FieldCreatedOn = "sys_created_on"
)

// Table is one table's sync spec.
type Table struct {
	Name   string   // e.g. "incident"
	Field  string   // incremental field: sys_updated_on, or sys_created_on for insert-only tables
	Filter string   // extra encoded-query condition ANDed to every page, e.g. "tablenameINincident,change_request"
	Fields []string // include list (sysparm_fields); nil reads every field
	// Exclude lists the fields removed from this table's records, for
	// status and validate to show. It is informational: the client filters
	// by Config.Exclude alone (Plan fills Exclude from the same Exclusions).
	Exclude []string
}

// Tables with special row handling.
const (
	tableAudit       = "sys_audit"
	tableJournal     = "sys_journal_field"
	tableAuditDelete = "sys_audit_delete"
)

// DefaultTables returns the tables the agent syncs unless configured
// otherwise: the five record tables, their field history (sys_audit),
// journal entries (sys_journal_field) and deletions (sys_audit_delete).
func DefaultTables() []Table {
	recs := []string{"incident", "change_request", "sys_user", "sys_user_group", "sysapproval_approver"}
	var out []Table
	for _, n := range recs {
		out = append(out, Table{Name: n, Field: FieldUpdatedOn})
	}
	return append(out,
		Table{Name: tableAudit, Field: FieldCreatedOn, Filter: "tablenameINincident,change_request^fieldnameIN" + strings.Join(AuditedFields, ",")},
		Table{Name: tableJournal, Field: FieldCreatedOn, Filter: "nameINincident,change_request^elementINcomments,work_notes"},
		Table{Name: tableAuditDelete, Field: FieldCreatedOn, Filter: "tablenameIN" + strings.Join(recs, ",")},
	)
}

// AuditedFields are the field changes the default sys_audit table reads:
// the history SEI analyses (state, assignment, priority and their kin) and
// the DELETED rows that record deletions. sys_audit is huge; reading only
// these keeps it affordable. servicenow.tables.sys_audit.filter replaces
// the whole filter for admins who want more.
var AuditedFields = []string{
	"state", "priority", "impact", "urgency", "assigned_to", "assignment_group",
	"approval", "risk", "type", "category", "close_code", "reassignment_count", "DELETED",
}

// validField reports whether s can be a ServiceNow field name: column
// names follow the table-name pattern, lower case, digits and underscores.
func validField(s string) bool { return wire.ValidTable(s) }

// Check reports a problem with t, naming its config key.
func (t Table) Check() error {
	key := "servicenow.tables." + t.Name
	switch {
	case !wire.ValidTable(t.Name):
		return fmt.Errorf("servicenow.tables: invalid table name %q", t.Name)
	case t.Field != FieldUpdatedOn && t.Field != FieldCreatedOn:
		return fmt.Errorf("%s.field: must be sys_updated_on or sys_created_on (got %q)", key, t.Field)
	case strings.ContainsAny(t.Filter, "\n\r") || strings.Contains(t.Filter, "^NQ") || strings.Contains(t.Filter, "ORDERBY"):
		return fmt.Errorf("%s.filter: must be one line without ^NQ or ORDERBY (got %q)", key, t.Filter)
	}
	for _, f := range slices.Concat(t.Fields, t.Exclude) {
		if !validField(f) {
			return fmt.Errorf("%s: invalid field name %q", key, f)
		}
	}
	return nil
}

// insertOnly reports whether t's rows never change after insert, so its
// records carry sys_created_on as their version and mod count 0.
func (t Table) insertOnly() bool { return t.Field == FieldCreatedOn }

// requiredFields are the fields the client needs from every row of t, added
// to an include list.
func (t Table) requiredFields() []string {
	req := []string{"sys_id", t.Field, FieldUpdatedOn, "sys_mod_count"}
	switch t.Name {
	case tableAudit:
		req = append(req, "tablename", "documentkey", "fieldname")
	case tableJournal:
		req = append(req, "name", "element", "element_id")
	case tableAuditDelete:
		req = append(req, "tablename", "documentkey")
	}
	return req
}

// identifyingFields are the columns of t that say which (table, field) a
// copy row copies, or which record a deletion removes. They are requested
// even when excluded, read, then stripped (rowFilter.filter).
func (t Table) identifyingFields() []string {
	switch t.Name {
	case tableAudit:
		return []string{"tablename", "fieldname", "documentkey"}
	case tableJournal:
		return []string{"name", "element"}
	case tableAuditDelete:
		return []string{"tablename", "documentkey"}
	}
	return nil
}

// sysparmFields is the sysparm_fields value for t: its include list plus the
// required fields, minus excluded ones except the identifying columns, which
// are always requested (rowFilter strips them once read); "" when t reads
// every field.
func (t Table) sysparmFields(ex Exclusions) string {
	if len(t.Fields) == 0 {
		return ""
	}
	ident := t.identifyingFields()
	var fs []string
	for _, f := range slices.Concat(t.requiredFields(), t.Fields) {
		if !slices.Contains(fs, f) && (!ex.Excluded(t.Name, f) || slices.Contains(ident, f)) {
			fs = append(fs, f)
		}
	}
	return strings.Join(fs, ",")
}
