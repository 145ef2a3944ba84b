package snowtest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The changes a keyset poll on sys_updated_on cannot see, for
// reconciliation tests: a script update with autoSysFields(false), a hard
// delete that leaves no audit row, and a row an ACL hid at poll time that
// is visible later.

// UpdateSilently changes fields of one row the way a script with
// GlideRecord.autoSysFields(false) and setWorkflow(false) does:
// sys_updated_on, sys_mod_count and sys_updated_by stay as they were, and
// no sys_audit or sys_journal_field row is written.
func (s *Server) UpdateSilently(table, sysID string, fields map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, row, err := s.rowLocked("update", table, sysID)
	if err != nil {
		return err
	}
	for k := range fields {
		if !slices.Contains(t.def.fields, k) || k == "sys_id" || k == "sys_updated_on" || k == "sys_mod_count" || k == "sys_created_on" {
			return fmt.Errorf("update %s/%s: unknown or system field %q", table, sysID, k)
		}
	}
	for k, v := range fields {
		row[k] = v // no indexed field changes: the indexes stay in step
	}
	return nil
}

// HardDelete removes a row leaving no trace: no sys_audit DELETED row and
// no sys_audit_delete copy (Table Cleaner, or a delete while auditing was
// off).
func (s *Server) HardDelete(table, sysID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, _, err := s.rowLocked("delete", table, sysID)
	if err != nil {
		return err
	}
	t.remove(sysID)
	return nil
}

// SetHidden hides one row from the API user (hidden true), as a row ACL
// does, or shows it (false), whatever HideRows says of it; nothing else of
// the row changes, so a row shown again after it was polled hidden keeps
// its old sys_updated_on. Table API lists, single-row reads and the
// Aggregate API's count all follow it.
func (s *Server) SetHidden(table, sysID string, hidden bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hiddenRows == nil {
		s.hiddenRows = map[string]bool{}
	}
	s.hiddenRows[table+"/"+sysID] = hidden
}

// countLocked counts the rows of t matching q that the API user may read,
// and sums each of sumFields over them (integer fields; a value that is
// not one counts 0), as the Aggregate API does. A query bounding
// sys_created_on (a reconciliation window) walks that index over the range
// alone.
func (s *Server) countLocked(t *table, q query, sumFields []string) (int, map[string]string) {
	n := 0
	sums := make([]int64, len(sumFields))
	count := func(row map[string]string) bool {
		if q.match(row) && !s.hiddenLocked(t.def.name, row["sys_id"]) {
			n++
			for i, f := range sumFields {
				v, _ := strconv.ParseInt(row[f], 10, 64)
				sums[i] += v
			}
		}
		return true
	}
	out := map[string]string{}
	defer func() {
		for i, f := range sumFields {
			if slices.Contains(t.def.fields, f) {
				out[f] = strconv.FormatInt(sums[i], 10)
			}
		}
	}()
	byCreated := q
	byCreated.order = []orderKey{{field: "sys_created_on"}, {field: "sys_id"}}
	if x, r := t.plan(byCreated); x != nil && (r.hasLo || r.hasHi) {
		x.scan(r, count)
		return n, out
	}
	for _, row := range t.rows {
		count(row)
	}
	return n, out
}

// splitFields splits a comma list of field names, dropping empty ones.
func splitFields(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
