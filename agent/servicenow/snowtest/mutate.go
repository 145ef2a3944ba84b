package snowtest

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Update changes fields of one row the way a form or script update does:
// sys_mod_count+1, sys_updated_on = Now (one-second resolution), sys_updated_by
// = the API user, and one sys_audit row per changed field on audited tables.
// Setting comments or work_notes adds a sys_journal_field row instead (the
// field itself stays ""). Unknown fields and insert-only tables are errors.
func (s *Server) Update(table, sysID string, fields map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tables[table]; t != nil && t.def.insertOnly {
		return fmt.Errorf("update %s/%s: table is insert-only", table, sysID)
	}
	t, row, err := s.rowLocked("update", table, sysID)
	if err != nil {
		return err
	}
	for k := range fields {
		if !slices.Contains(t.def.fields, k) || k == "sys_id" {
			return fmt.Errorf("update %s/%s: unknown or read-only field %q", table, sysID, k)
		}
	}
	s.updateLocked(t, row, fields, s.stamp(), s.apiUser())
	return nil
}

// Touch updates n random rows of table in the same second (a bulk update that
// changes nothing but sys_updated_on, sys_updated_by and sys_mod_count) and
// returns their sys_ids. n is capped at the table's size.
func (s *Server) Touch(table string, n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[table]
	if t == nil || t.def.insertOnly {
		return nil
	}
	ids := sortedIDs(t.rows)
	perm := s.rng.Perm(len(ids))
	stamp, user := s.stamp(), s.apiUser()
	var touched []string
	for _, i := range perm[:min(n, len(ids))] {
		s.updateLocked(t, t.rows[ids[i]], nil, stamp, user)
		touched = append(touched, ids[i])
	}
	slices.Sort(touched)
	return touched
}

// Insert adds a row created now and returns its sys_id. Fields not given are
// "" (an incident or change gets its next number); unknown fields are ignored.
// An unknown table yields "".
func (s *Server) Insert(table string, fields map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[table]
	if t == nil {
		return ""
	}
	row := s.newRowLocked(t, s.stamp(), s.apiUser())
	for k, v := range fields {
		if slices.Contains(t.def.fields, k) {
			row[k] = v
		}
	}
	t.put(row)
	return row["sys_id"]
}

// Delete removes a row and records the deletion as ServiceNow does: a sys_audit
// row (fieldname DELETED, documentkey) and, for audited tables, a
// sys_audit_delete row holding the whole record as an XML payload.
func (s *Server) Delete(table, sysID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, _, err := s.rowLocked("delete", table, sysID)
	if err != nil {
		return err
	}
	s.deleteLocked(t, sysID, s.stamp(), s.apiUser())
	return nil
}

// rowLocked returns the table named table and its row sysID, or an error
// for op ("update", "delete") saying which of the two is missing.
func (s *Server) rowLocked(op, table, sysID string) (*table, map[string]string, error) {
	t := s.tables[table]
	if t == nil {
		return nil, nil, fmt.Errorf("%s %s/%s: unknown table", op, table, sysID)
	}
	row, ok := t.rows[sysID]
	if !ok {
		return nil, nil, fmt.Errorf("%s %s/%s: no such record", op, table, sysID)
	}
	return t, row, nil
}

// stamp is the instance's current time as ServiceNow stores it.
func (s *Server) stamp() string {
	return s.opts.Now().UTC().Truncate(time.Second).Format(timeLayout)
}

func (s *Server) apiUser() string {
	if s.opts.Username != "" {
		return s.opts.Username
	}
	return "admin"
}

func (s *Server) updateLocked(t *table, row map[string]string, fields map[string]string, stamp, user string) {
	t.unindex(row)
	defer t.index(row)
	mod, _ := strconv.Atoi(row["sys_mod_count"])
	mod++
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic audit row order
	for _, k := range keys {
		v := fields[k]
		if k == "comments" || k == "work_notes" {
			s.journalLocked(t.def.name, row["sys_id"], k, v, stamp, user)
			continue
		}
		old := row[k]
		if old == v {
			continue
		}
		row[k] = v
		if t.def.audited && !strings.HasPrefix(k, "sys_") {
			s.auditLocked(t.def.name, row["sys_id"], k, old, v, user, stamp, mod)
		}
	}
	row["sys_mod_count"] = strconv.Itoa(mod)
	row["sys_updated_on"] = stamp
	row["sys_updated_by"] = user
}

// rowHint is the map size hint of a new row; see newRowLocked.
const rowHint = 56

// newRowLocked makes a row of t created at stamp, every other field ""
// (absent: see table).
func (s *Server) newRowLocked(t *table, stamp, user string) map[string]string {
	// A generated incident sets 39 to 51 of its 92 fields: a hint of 56
	// gives a 64-slot map that holds them without growing (2 KB a row),
	// where the table's width would give 128 slots.
	row := make(map[string]string, min(len(t.def.fields), rowHint))
	row["sys_id"] = s.newSysIDLocked()
	row["sys_created_on"] = stamp
	row["sys_created_by"] = user
	if !t.def.insertOnly {
		row["sys_updated_on"] = stamp
		row["sys_updated_by"] = user
		row["sys_mod_count"] = "0"
	}
	switch t.def.name {
	case TableIncident, TableChangeRequest:
		prefix := map[string]string{TableIncident: "INC", TableChangeRequest: "CHG"}[t.def.name]
		row["number"] = fmt.Sprintf("%s%07d", prefix, s.nextNumber[t.def.name])
		s.nextNumber[t.def.name]++
		row["task_effective_number"] = row["number"]
		row["sys_class_name"] = t.def.name
		row["sys_domain"] = globalDomain
		row["sys_domain_path"] = "/"
	case TableUser:
		row["sys_class_name"] = TableUser
		row["sys_domain"] = globalDomain
		row["sys_domain_path"] = "/"
	}
	return row
}

func (s *Server) newSysIDLocked() string {
	for {
		id := fmt.Sprintf("%016x%016x", s.rng.Uint64(), s.rng.Uint64())
		if !s.idTakenLocked(id) {
			return id
		}
	}
}

func (s *Server) idTakenLocked(id string) bool {
	for _, t := range s.tables {
		if _, ok := t.rows[id]; ok {
			return true
		}
	}
	return false
}

// auditLocked inserts one sys_audit row.
func (s *Server) auditLocked(tableName, docKey, field, old, new, user, stamp string, checkpoint int) {
	t := s.tables[TableAudit]
	row := s.newRowLocked(t, stamp, user)
	row["tablename"] = tableName
	row["documentkey"] = docKey
	row["fieldname"] = field
	row["oldvalue"] = old
	row["newvalue"] = new
	row["user"] = user
	row["record_checkpoint"] = strconv.Itoa(checkpoint)
	row["internal_checkpoint"] = fmt.Sprintf("%x", s.rng.Uint64()>>8)
	t.put(row)
}

// journalLocked inserts one sys_journal_field row.
func (s *Server) journalLocked(tableName, elementID, element, value, stamp, user string) {
	t := s.tables[TableJournal]
	row := s.newRowLocked(t, stamp, user)
	row["name"] = tableName
	row["element_id"] = elementID
	row["element"] = element
	row["value"] = value
	t.put(row)
}

// deleteLocked removes a row and writes its deletion history.
func (s *Server) deleteLocked(t *table, id, stamp, user string) {
	row := t.rows[id]
	t.remove(id)
	if t.def.name == TableAudit || t.def.name == TableJournal || t.def.name == TableAuditDelete {
		return
	}
	s.auditLocked(t.def.name, id, "DELETED", "", "", user, stamp, 0)
	if !t.def.audited {
		return
	}
	d := s.tables[TableAuditDelete]
	drow := s.newRowLocked(d, stamp, user)
	drow["tablename"] = t.def.name
	drow["documentkey"] = id
	drow["display_value"] = row[t.def.display]
	drow["payload"] = xmlPayload(t.def, row)
	d.put(drow)
}

// xmlPayload renders a deleted record the way sys_audit_delete stores it:
// every field, empty ones included.
func xmlPayload(def *tableDef, row map[string]string) string {
	table := def.name
	keys := slices.Clone(def.fields)
	for k := range row {
		if !slices.Contains(def.fields, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><record_update table="%s"><%s>`, table, table)
	for _, k := range keys {
		fmt.Fprintf(&b, "<%s>", k)
		_ = xml.EscapeText(&b, []byte(row[k])) // a strings.Builder never fails
		fmt.Fprintf(&b, "</%s>", k)
	}
	fmt.Fprintf(&b, "</%s></record_update>", table)
	return b.String()
}
