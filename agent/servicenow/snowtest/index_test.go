package snowtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// sortedWindow is the reference answer: every match sorted, then sliced.
func sortedWindow(s *Server, t *table, q query, offset, limit int) ([]string, int) {
	matches := s.matchLocked(t, q)
	q.sortRows(matches)
	start, end := min(offset, len(matches)), min(offset+limit, len(matches))
	return rowIDs(matches[start:end]), len(matches)
}

func rowIDs(rows []map[string]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r["sys_id"]
	}
	return out
}

// TestIndexedWindowMatchesFullSort: for keyset, range, offset, OR-group and
// filtered queries, before and after updates, inserts and deletes, the
// index answers exactly what sorting every match answers (rows, order,
// count), and stops early only where it may.
func TestIndexedWindowMatchesFullSort(t *testing.T) {
	clk := newClock()
	s := New(Options{Seed: 11, Now: clk.Now, Incidents: 600, Changes: 20, Users: 10, Groups: 3})
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(round string) {
		t.Helper()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, name := range []string{TableIncident, TableAudit} {
			tb := s.tables[name]
			field := "sys_updated_on"
			if tb.def.insertOnly {
				field = "sys_created_on"
			}
			all := s.matchLocked(tb, parseQuery("ORDERBY"+field))
			parseQuery("ORDERBY" + field).sortRows(all)
			for i := range 60 {
				pivot := all[rng.IntN(len(all))]
				ts, id := pivot[field], pivot["sys_id"]
				upto := all[rng.IntN(len(all))][field]
				raw := []string{
					fmt.Sprintf("%s=%s^sys_id>%s^NQ%s>%s^%s<%s^ORDERBY%s^ORDERBYsys_id", field, ts, id, field, ts, field, upto, field),
					fmt.Sprintf("%s>=%s^%s<%s^ORDERBY%s^ORDERBYsys_id", field, ts, field, upto, field),
					fmt.Sprintf("active=true^%s>%s^ORDERBY%s", field, ts, field),
					fmt.Sprintf("%sBETWEEN%s@%s^ORDERBY%s^ORDERBYsys_id", field, ts, upto, field),
					fmt.Sprintf("%s<%s^ORpriority=1^ORDERBY%s", field, ts, field),
					fmt.Sprintf("ORDERBY%s^ORDERBYsys_id", field),
					fmt.Sprintf("ORDERBYDESC%s", field),
				}[i%7]
				q := parseQuery(raw).prune(tb.def)
				offset, limit := rng.IntN(3)*rng.IntN(200), 1+rng.IntN(150)
				for _, counts := range []bool{true, false} {
					got, n := s.windowLocked(tb, q, offset, limit, counts)
					want, total := sortedWindow(s, tb, q, offset, limit)
					if !slices.Equal(rowIDs(got), want) {
						t.Fatalf("%s %s %q offset %d limit %d: rows differ\n got %v\nwant %v", round, name, raw, offset, limit, rowIDs(got), want)
					}
					if counts && n != total || !counts && min(n, offset+limit+1) != min(total, offset+limit+1) {
						t.Fatalf("%s %s %q counts=%v: total %d, want %d", round, name, raw, counts, n, total)
					}
				}
			}
		}
	}
	check("fresh")
	for round := range 3 {
		clk.Add(time.Minute)
		touched := s.Touch(TableIncident, 40)
		if err := s.Update(TableIncident, touched[0], map[string]string{"priority": "1", "short_description": "x"}); err != nil {
			t.Fatal(err)
		}
		s.Insert(TableIncident, map[string]string{"short_description": "new"})
		if err := s.Delete(TableIncident, touched[1]); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after mutation round %d", round+1))
	}
}

// TestKeysetPageScansFewRows: a keyset page deep into a large table reads
// only the rows at and after its cursor, not the table (the index's point).
func TestKeysetPageScansFewRows(t *testing.T) {
	s := New(Options{Seed: 2, Now: newClock().Now, Incidents: 5000, Changes: 1, Users: 5, Groups: 1, AuditPerRecord: -1, JournalPerRecord: -1})
	s.mu.Lock()
	defer s.mu.Unlock()
	tb := s.tables[TableIncident]
	q := parseQuery("sys_updated_on>=2026-02-01 00:00:00" + orderKeyset)
	x, r := tb.plan(q)
	if x == nil {
		t.Fatal("keyset query not planned on the index")
	}
	scanned := 0
	x.scan(r, func(row map[string]string) bool { scanned++; return scanned < 100 })
	if scanned != 100 {
		t.Fatalf("scan went on for %d rows after being told to stop at 100", scanned)
	}
	// The first row scanned is the first at or after the bound.
	var firstSeen string
	x.scan(r, func(row map[string]string) bool { firstSeen = row["sys_updated_on"]; return false })
	for _, e := range x.ents {
		if e.key.text >= "2026-02-01 00:00:00" {
			if firstSeen != e.key.text {
				t.Fatalf("scan starts at %s, want %s", firstSeen, e.key.text)
			}
			break
		}
	}
}
