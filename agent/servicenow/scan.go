package servicenow

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Page is one page of a Scan.
type Page struct {
	Table   string
	Rows    []Row         // rows as returned, after exclusions (dropped copies removed)
	Records []wire.Record // the rows as records: upserts, and deletes for sys_audit_delete and DELETED audit rows
	Cursor  Cursor        // keyset position after the last row returned (before exclusions dropped any)
	Number  int           // 1-based within the Scan
	Skipped int           // rows that could not form a valid record (logged, not sent)
}

// scan is the state of one Scan.
type scan struct {
	c        *Client
	t        Table
	filter   *rowFilter
	upto     string
	fields   string
	cur      Cursor
	number   int
	limit    int // current page size; see adapt.go
	maxLimit int // largest page an empty-page probe asks for; see adapt.go
	okStreak int // whole pages since the last shrink or regrowth
	cutAt    position
	cuts     int // cut-off answers in a row at cutAt
}

// Scan reads t from `from` (exclusive keyset position; a zero SysID means
// the field >= Time; a zero Cursor means from the beginning) up to `upto`
// (exclusive, truncated to the second), page by page in keyset order, and
// calls fn for each page that has rows. The caller persists page.Cursor with
// the page's records in one transaction, which makes a scan resumable after
// a crash: restart it from the last persisted cursor. fn's error stops the
// scan and is returned as is. Errors from ServiceNow are *Error, whose
// Permanent field says whether a retry can help. See the package comment for the paging rule.
func (c *Client) Scan(ctx context.Context, t Table, from Cursor, upto time.Time, fn func(Page) error) error {
	if err := t.Check(); err != nil {
		return err
	}
	if err := from.check(); err != nil {
		return fmt.Errorf("scan %s: %w", t.Name, err)
	}
	if p := c.cfg.Exclude.Check([]Table{t}); len(p) > 0 {
		return fmt.Errorf("scan %s: %s", t.Name, strings.Join(p, "; "))
	}
	s := &scan{c: c, t: t, filter: newRowFilter(t, c.cfg.Exclude), upto: formatUpto(upto),
		fields: t.sysparmFields(c.cfg.Exclude), cur: from, limit: c.cfg.PageSize, maxLimit: MaxPageSize}
	for {
		rows, err := s.next(ctx)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		p, err := s.page(rows)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
}

// page turns the rows of a page into a Page and advances the cursor.
func (s *scan) page(rows []Row) (Page, error) {
	next := s.cursorOf(rows[len(rows)-1])
	if next.check() != nil || next.SysID == "" {
		return Page{}, s.pageError("the last row has no readable "+s.t.Field+" or sys_id",
			"the API user needs read access to "+s.t.Field+" and sys_id of "+s.t.Name+" (field ACL)")
	}
	orderHint := "the instance ignored ORDERBY; check servicenow.tables." + s.t.Name + ".filter"
	if !s.cur.Less(next) {
		return Page{}, s.pageError(fmt.Sprintf("page did not advance the cursor (%s %s -> %s %s)", s.cur.Time, s.cur.SysID, next.Time, next.SysID), orderHint)
	}
	prev := s.cursorOf(rows[0])
	for _, r := range rows[1:] {
		c := s.cursorOf(r)
		if !prev.Less(c) {
			return Page{}, s.pageError("rows are not in "+s.t.Field+", sys_id order", orderHint)
		}
		prev = c
	}
	s.cur = next
	kept := rows[:0]
	var ids []copyKey
	for _, r := range rows {
		if id, ok := s.filter.filter(r); ok {
			kept = append(kept, r)
			ids = append(ids, id)
		}
	}
	recs, bad := toRecords(s.t, kept, ids)
	if bad > 0 {
		s.c.log.Warn().Str("table", s.t.Name).Int("page", s.number).Int("records", bad).Msg("servicenow: rows without a valid sys_id or time skipped")
	}
	return Page{Table: s.t.Name, Rows: kept, Records: recs, Cursor: next, Number: s.number, Skipped: bad}, nil
}

// cursorOf is the keyset position of row.
func (s *scan) cursorOf(row Row) Cursor {
	return Cursor{Time: row.String(s.t.Field), SysID: row.String("sys_id")}
}

// op names the request of the current page in errors and logs.
func (s *scan) op() string { return fmt.Sprintf("fetch %s page %d", s.t.Name, s.number) }

// pageError is a permanent error about the current page's answer.
func (s *scan) pageError(msg, hint string) *Error {
	return &Error{Op: s.op(), Table: s.t.Name, URL: s.c.cfg.URL + tablePath(s.t.Name), Permanent: true,
		Message: msg, Hint: hint}
}

// next returns the rows of the next non-empty page, or none at the end.
// Empty pages are handled as the package comment describes.
func (s *scan) next(ctx context.Context) ([]Row, error) {
	s.number++
	l, err := s.fetch(ctx, s.limit, 0, false)
	if err != nil || len(l.rows) > 0 {
		return l.rows, err
	}
	lim := s.limit
	for {
		l, err := s.fetch(ctx, lim, 0, true)
		if err != nil || len(l.rows) > 0 {
			return l.rows, err
		}
		if !l.more(0) {
			return nil, nil
		}
		if l.limit >= s.maxLimit {
			lim = l.limit
			break
		}
		lim = min(l.limit*4, s.maxLimit)
		s.c.log.Debug().Str("table", s.t.Name).Int("page", s.number).Int("records", lim).Msg("servicenow: empty page with more rows after it (row ACLs); asking for a larger page")
	}
	s.c.log.Warn().Str("table", s.t.Name).Int("page", s.number).Msg("servicenow: more consecutive rows hidden by ACLs than the largest page; stepping with sysparm_offset")
	for off := lim; ; off += lim {
		lim = s.maxLimit
		s.c.stats.update(func(st *ClientStats) { st.OffsetFallback++ })
		l, err := s.fetch(ctx, lim, off, true)
		if err != nil || len(l.rows) > 0 {
			return l.rows, err
		}
		if !l.more(off) {
			return nil, nil
		}
		lim = l.limit // the step is the page actually read, never more
	}
}

// listing is one decoded list answer.
type listing struct {
	rows    []Row
	limit   int  // the limit actually used (after shrinking)
	total   int  // X-Total-Count, -1 when absent
	hasNext bool // Link rel="next"
}

// fill reads a Table API answer into l: its rows, X-Total-Count and
// whether a Link rel="next" follows.
func (l *listing) fill(r *response) error {
	rows, err := decodeList(r.header.Get("Content-Type"), r.body)
	if err != nil {
		return err
	}
	l.rows = rows
	if n, err := strconv.Atoi(r.header.Get("X-Total-Count")); err == nil {
		l.total = n
	}
	l.hasNext = linkHasNext(r.header.Values("Link"))
	return nil
}

// more reports whether rows may follow this empty page at offset off.
func (l listing) more(off int) bool {
	if l.total >= 0 {
		return off+l.limit < l.total
	}
	return l.hasNext
}

var linkNextRE = regexp.MustCompile(`rel="?next"?`)

// fetch reads one page with retries. Cut-off answers adapt the page size as
// adapt.go describes; HTML answers are retried as they are.
func (s *scan) fetch(ctx context.Context, limit, offset int, counts bool) (listing, error) {
	at := position{cur: s.cur, offset: offset}
	out := listing{limit: limit, total: -1}
	q := pageQuery{table: s.t, from: s.cur, upto: s.upto, limit: limit, offset: offset, counts: counts, fields: s.fields}
	v, err := q.values()
	if err != nil {
		return out, fmt.Errorf("%s: %w", s.op(), err)
	}
	req := request{
		op:    s.op(),
		table: s.t.Name,
		path:  tablePath(s.t.Name),
		query: func() url.Values {
			v.Set("sysparm_limit", strconv.Itoa(out.limit)) // only the limit changes between attempts
			return v
		},
		check: out.fill,
		cutOff: func() bool {
			next := s.cutOff(at, out.limit)
			shrunk := next < out.limit
			out.limit = next
			return shrunk
		},
	}
	err = s.c.do(ctx, req)
	if err == nil {
		s.cuts = 0
		if out.limit == limit {
			s.grow()
		}
	}
	return out, err
}

func linkHasNext(links []string) bool {
	for _, l := range links {
		if linkNextRE.MatchString(l) {
			return true
		}
	}
	return false
}
