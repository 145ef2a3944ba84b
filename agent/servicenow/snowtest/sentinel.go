package snowtest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// SentinelPrefix starts every sentinel PlantSentinels writes: a test that
// finds it anywhere outside the instance has found a leak.
const SentinelPrefix = "SNTL:"

// sentinelRE matches one whole sentinel and captures its table and field.
var sentinelRE = regexp.MustCompile(`SNTL:([a-z0-9_]+):([A-Za-z0-9_]+):[0-9]+:`)

// SentinelOwner returns the (table, field) of the first sentinel in s, for
// a test's error message; ok is false when s holds none.
func SentinelOwner(s string) (table, field string, ok bool) {
	m := sentinelRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// Fields lists the fields of table in the order the Table API returns
// them; nil for an unknown table.
func (s *Server) Fields(table string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tables[table]; t != nil {
		return slices.Clone(t.def.fields)
	}
	return nil
}

// Structural reports whether field of table holds a value the instance's
// own data model depends on, which PlantSentinels leaves alone: sys_id,
// the times the Table API pages on, and the identifying columns of the
// copy tables (which table, field and record a sys_audit,
// sys_journal_field or sys_audit_delete row is about). A sentinel there
// would describe an instance that cannot exist; a test checks those
// fields by their absence instead.
func Structural(table, field string) bool {
	switch field {
	case "sys_id":
		return true
	case "sys_created_on":
		return table == TableAudit || table == TableJournal || table == TableAuditDelete
	case "sys_updated_on":
		return table != TableAudit && table != TableJournal && table != TableAuditDelete
	}
	switch table {
	case TableAudit:
		return field == "tablename" || field == "fieldname" || field == "documentkey"
	case TableJournal:
		return field == "name" || field == "element"
	case TableAuditDelete:
		return field == "tablename" || field == "documentkey"
	}
	return false
}

// PlantSentinels writes a unique sentinel (SentinelPrefix, table, field,
// a counter) into every stored value of every (table, field) for which
// excluded reports true, Structural fields aside, and into every copy of
// it elsewhere on the instance: the oldvalue and newvalue of its sys_audit
// rows, the value of its sys_journal_field rows, its element in the XML
// payload of sys_audit_delete rows and their display_value when it is the
// table's display field. It returns the number of values written. Later
// updates and deletions copy the sentinels the way they copy any value.
func (s *Server) PlantSentinels(excluded func(table, field string) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &planter{s: s}
	names := make([]string, 0, len(s.tables))
	for n := range s.tables {
		names = append(names, n)
	}
	// Record tables first: their copies land in the copy tables, whose own
	// excluded fields are then overwritten whole.
	slices.SortFunc(names, func(a, b string) int {
		ca, cb := isCopyTable(a), isCopyTable(b)
		if ca != cb {
			if ca {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		t := s.tables[name]
		for _, f := range t.def.fields {
			if excluded(name, f) && !Structural(name, f) {
				p.plant(t, f)
			}
		}
	}
	return p.n
}

func isCopyTable(name string) bool {
	return name == TableAudit || name == TableJournal || name == TableAuditDelete
}

// planter writes sentinels under the server's lock.
type planter struct {
	s *Server
	n int
}

func (p *planter) next(table, field string) string {
	p.n++
	return fmt.Sprintf("%s%s:%s:%d:", SentinelPrefix, table, field, p.n)
}

// plant writes sentinels into field of t and into its copies.
func (p *planter) plant(t *table, field string) {
	name := t.def.name
	for _, id := range sortedIDs(t.rows) {
		t.rows[id][field] = p.next(name, field)
	}
	if isCopyTable(name) {
		return
	}
	for _, id := range sortedIDs(p.s.tables[TableAudit].rows) {
		row := p.s.tables[TableAudit].rows[id]
		if row["tablename"] == name && row["fieldname"] == field {
			row["oldvalue"], row["newvalue"] = p.next(name, field), p.next(name, field)
		}
	}
	for _, id := range sortedIDs(p.s.tables[TableJournal].rows) {
		row := p.s.tables[TableJournal].rows[id]
		if row["name"] == name && row["element"] == field {
			row["value"] = p.next(name, field)
		}
	}
	elem := regexp.MustCompile(`<` + regexp.QuoteMeta(field) + `>[^<]*</` + regexp.QuoteMeta(field) + `>`)
	for _, id := range sortedIDs(p.s.tables[TableAuditDelete].rows) {
		row := p.s.tables[TableAuditDelete].rows[id]
		if row["tablename"] != name {
			continue
		}
		row["payload"] = elem.ReplaceAllStringFunc(row["payload"], func(string) string {
			return "<" + field + ">" + p.next(name, field) + "</" + field + ">"
		})
		if t.def.display == field {
			row["display_value"] = p.next(name, field)
		}
	}
}
