package snowtest

import (
	"slices"
	"strings"
)

// indexedFields are the fields a table keeps a sorted index on: the
// incremental fields clients page on with ORDERBY<field>^ORDERBYsys_id.
var indexedFields = []string{"sys_updated_on", "sys_created_on"}

// keyIndex orders one table's rows by (field value, sys_id), the order a
// keyset page asks for, so that a page costs O(log n + rows scanned) instead
// of a sort of the whole table.
//
// Invariant: while built, ents holds exactly the table's rows in order. Rows
// change only through table.put, table.remove and Server.updateLocked (which
// unindexes the row before it changes and indexes it after), so an index
// never holds a stale key. A built index whose length differs from the
// table's is rebuilt, which also covers rows added directly to table.rows
// before the first query (generation).
type keyIndex struct {
	field   string
	ents    []indexEntry
	built   bool
	numeric int // entries whose key is an integer: compare is not a total order then, so the index is not used
}

// indexEntry is one row's position in a keyIndex.
type indexEntry struct {
	key sortValue
	id  string
	row map[string]string
}

func (a indexEntry) compare(b indexEntry) int {
	if n := a.key.compare(b.key); n != 0 {
		return n
	}
	return strings.Compare(a.id, b.id)
}

func newIndexes(def *tableDef) map[string]*keyIndex {
	out := map[string]*keyIndex{}
	for _, f := range indexedFields {
		if slices.Contains(def.fields, f) {
			out[f] = &keyIndex{field: f}
		}
	}
	return out
}

func (x *keyIndex) entry(row map[string]string) indexEntry {
	return indexEntry{key: valueKey(row[x.field]), id: row["sys_id"], row: row}
}

// ensure (re)builds the index from rows when it is not in step with them.
func (x *keyIndex) ensure(rows map[string]map[string]string) {
	if x.built && len(x.ents) == len(rows) {
		return
	}
	x.ents = x.ents[:0]
	x.numeric = 0
	for _, row := range rows {
		e := x.entry(row)
		if e.key.isNum {
			x.numeric++
		}
		x.ents = append(x.ents, e)
	}
	slices.SortFunc(x.ents, indexEntry.compare)
	x.built = true
}

// add inserts row into a built index; an unbuilt one is built on first use.
func (x *keyIndex) add(row map[string]string) {
	if !x.built {
		return
	}
	e := x.entry(row)
	i, _ := slices.BinarySearchFunc(x.ents, e, indexEntry.compare)
	x.ents = slices.Insert(x.ents, i, e)
	if e.key.isNum {
		x.numeric++
	}
}

// drop removes row (with its current key) from a built index.
func (x *keyIndex) drop(row map[string]string) {
	if !x.built {
		return
	}
	e := x.entry(row)
	i, found := slices.BinarySearchFunc(x.ents, e, indexEntry.compare)
	if !found {
		x.built = false // out of step: rebuilt on next use
		return
	}
	x.ents = slices.Delete(x.ents, i, i+1)
	if e.key.isNum {
		x.numeric--
	}
}

// put adds or replaces a row and indexes it.
func (t *table) put(row map[string]string) {
	if old, ok := t.rows[row["sys_id"]]; ok {
		t.unindex(old)
	}
	t.rows[row["sys_id"]] = row
	t.index(row)
}

// remove deletes row id and unindexes it.
func (t *table) remove(id string) {
	if row, ok := t.rows[id]; ok {
		t.unindex(row)
		delete(t.rows, id)
	}
}

func (t *table) index(row map[string]string) {
	for _, x := range t.idx {
		x.add(row)
	}
}

func (t *table) unindex(row map[string]string) {
	for _, x := range t.idx {
		x.drop(row)
	}
}

// keyRange is the part of an index a query can match: [lo, hi] on the
// indexed field, each end optional.
type keyRange struct {
	lo, hi       sortValue
	hasLo, hasHi bool
}

// plan returns the index that answers q in order, and the key range every
// match lies in; nil when q's order is not (field, sys_id) ascending on an
// indexed field.
func (t *table) plan(q query) (*keyIndex, keyRange) {
	if len(q.order) == 0 || q.order[0].desc {
		return nil, keyRange{}
	}
	x := t.idx[q.order[0].field]
	if x == nil || len(q.order) > 1 && (q.order[1].field != "sys_id" || q.order[1].desc) {
		return nil, keyRange{}
	}
	x.ensure(t.rows)
	if x.numeric > 0 {
		return nil, keyRange{}
	}
	var r keyRange
	for i, g := range q.groups {
		lo, hasLo, hi, hasHi := groupBounds(g, x.field)
		if i == 0 {
			r = keyRange{lo: lo, hi: hi, hasLo: hasLo, hasHi: hasHi}
			continue
		}
		r.hasLo = r.hasLo && hasLo
		if r.hasLo && lo.compare(r.lo) < 0 {
			r.lo = lo
		}
		r.hasHi = r.hasHi && hasHi
		if r.hasHi && hi.compare(r.hi) > 0 {
			r.hi = hi
		}
	}
	return x, r
}

// groupBounds is the tightest range on field that an AND group's
// single-clause sets imply.
func groupBounds(g [][]cond, field string) (lo sortValue, hasLo bool, hi sortValue, hasHi bool) {
	for _, set := range g {
		if len(set) != 1 || set[0].field != field {
			continue
		}
		c := set[0]
		var l, h string
		okL, okH := false, false
		switch c.op {
		case ">", ">=":
			l, okL = literal(c.value), true
		case "<", "<=":
			h, okH = literal(c.value), true
		case "=":
			l, h, okL, okH = literal(c.value), literal(c.value), true, true
		case "BETWEEN":
			a, b, ok := strings.Cut(c.value, "@")
			l, h, okL, okH = literal(a), literal(b), ok, ok
		}
		if okL && (!hasLo || valueKey(l).compare(lo) > 0) {
			lo, hasLo = valueKey(l), true
		}
		if okH && (!hasHi || valueKey(h).compare(hi) < 0) {
			hi, hasHi = valueKey(h), true
		}
	}
	return lo, hasLo, hi, hasHi
}

// scan calls fn for each row in r in index order until fn returns false.
func (x *keyIndex) scan(r keyRange, fn func(row map[string]string) bool) {
	i := 0
	if r.hasLo {
		i, _ = slices.BinarySearchFunc(x.ents, r.lo, func(e indexEntry, lo sortValue) int {
			if e.key.compare(lo) < 0 {
				return -1
			}
			return 1 // first entry with key >= lo
		})
	}
	for ; i < len(x.ents); i++ {
		if r.hasHi && x.ents[i].key.compare(r.hi) > 0 {
			return
		}
		if !fn(x.ents[i].row) {
			return
		}
	}
}
