package reconcile

import (
	"fmt"
	"slices"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/poll"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// indexCounts is what one scan of a table's index says: rows per month of
// sys_created_on (the month's first day, unix seconds), rows without a
// known sys_created_on, and the oldest sys_updated_on.
type indexCounts struct {
	months  map[int64]int64
	sums    map[int64]int64 // sys_mod_count per month
	unknown int64
	total   int64
	sum     int64
	floor   uint32 // the oldest sys_updated_on indexed; 0 when empty
}

// monthStart is the first second of u's month (UTC).
func monthStart(u uint32) int64 {
	t := time.Unix(int64(u), 0).UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).Unix()
}

func nextMonth(m int64) int64 { return time.Unix(m, 0).UTC().AddDate(0, 1, 0).Unix() }

func formatSec(s int64) string { return time.Unix(s, 0).UTC().Format(wire.TimeLayout) }

// countIndex scans table's index once. Months leave out rows created at or
// after bound (the next poll's, like ServiceNow's side of the window);
// total counts every row.
func (s *Sweeper) countIndex(table string, bound uint32) (indexCounts, error) {
	c := indexCounts{months: map[int64]int64{}, sums: map[int64]int64{}}
	err := s.idx.ScanState(poll.IndexPrefix(table), "", func(k, v []byte) error {
		e, err := poll.DecodeEntry(v)
		if err != nil {
			return fmt.Errorf("index row %q of %s: %w", k, table, err)
		}
		if c.floor == 0 || e.Updated < c.floor {
			c.floor = e.Updated
		}
		c.total++
		c.sum += e.ModCount
		switch {
		case e.Created == 0:
			c.unknown++
		case e.Created < bound:
			c.months[monthStart(e.Created)]++
			c.sums[monthStart(e.Created)] += e.ModCount
		}
		return nil
	})
	return c, err
}

// windows are the months from the index's first to its last (the
// window before the first and after the last open-ended), each with its
// index count; a table whose index holds rows of unknown creation, or none,
// is one window.
func (c indexCounts) windows() []Window {
	if c.unknown > 0 || len(c.months) == 0 {
		return []Window{{Index: c.total, IndexSum: c.sum}}
	}
	ms := make([]int64, 0, len(c.months))
	for m := range c.months {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	out := []Window{{To: formatSec(ms[0])}}
	for m := ms[0]; m <= ms[len(ms)-1]; m = nextMonth(m) {
		out = append(out, Window{From: formatSec(m), To: formatSec(nextMonth(m)), Index: c.months[m], IndexSum: c.sums[m]})
	}
	return append(out, Window{From: formatSec(nextMonth(ms[len(ms)-1]))})
}

// cond is the encoded query of w, within [floor, ...) of sys_updated_on
// and before bound in sys_created_on (bound "" for a single window of
// unknown creation times).
func (w Window) cond(floor, bound string) string {
	q := ""
	add := func(c string) {
		if q != "" {
			q += "^"
		}
		q += c
	}
	if floor != "" {
		add("sys_updated_on>=" + floor)
	}
	if w.From != "" {
		add("sys_created_on>=" + w.From)
	}
	to := w.To
	if bound != "" && (to == "" || bound < to) {
		to = bound
	}
	if to != "" {
		add("sys_created_on<" + to)
	}
	return q
}

// single reports whether w is the one window of a table of unknown
// creation times.
func (w Window) single() bool { return w.From == "" && w.To == "" }

// name is how status and logs name w.
func (w Window) name() string {
	switch {
	case w.single():
		return "all rows"
	case w.From == "":
		return "created before " + w.To
	case w.To == "":
		return "created from " + w.From
	}
	return "created " + w.From[:7]
}

// contains reports whether an index row created at u (0 unknown) falls in
// w, given the sweep's bound.
func (w Window) contains(u, bound uint32) bool {
	if w.single() {
		return true
	}
	if u == 0 || u >= bound {
		return false
	}
	return (w.From == "" || u >= poll.ParseUnix(w.From)) && (w.To == "" || u < poll.ParseUnix(w.To))
}
