package servicenow

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Cursor is a keyset position in a table: the incremental field's value and
// the sys_id of the last row read. A zero SysID means "from Time inclusive";
// a zero Cursor means "from the beginning".
type Cursor struct {
	Time  string `json:"time"`   // "YYYY-MM-DD HH:MM:SS" UTC
	SysID string `json:"sys_id"` // "" = from Time inclusive
}

// IsZero reports whether c is the beginning of the table.
func (c Cursor) IsZero() bool { return c.Time == "" && c.SysID == "" }

// Less reports whether c comes before d in keyset order.
func (c Cursor) Less(d Cursor) bool {
	if c.Time != d.Time {
		return c.Time < d.Time
	}
	return c.SysID < d.SysID
}

// Rewind returns the inclusive position overlap before c: the re-read
// window that covers clock skew and rows written in c's second after it was
// read. A zero c stays zero.
func (c Cursor) Rewind(overlap time.Duration) Cursor {
	t, err := time.Parse(wire.TimeLayout, c.Time)
	if err != nil {
		return c
	}
	return Cursor{Time: t.Add(-overlap).Format(wire.TimeLayout)}
}

// CursorAt returns the inclusive position at t (the start of a backfill).
func CursorAt(t time.Time) Cursor { return Cursor{Time: t.UTC().Format(wire.TimeLayout)} }

// check rejects cursors that could not have come from ServiceNow, which
// also keeps them from injecting query syntax.
func (c Cursor) check() error {
	if c.Time != "" && !wire.ValidTime(c.Time) {
		return fmt.Errorf("invalid cursor time %q", c.Time)
	}
	if c.SysID != "" && (c.Time == "" || !wire.ValidSysID(c.SysID)) {
		return fmt.Errorf("invalid cursor sys_id %q", c.SysID)
	}
	return nil
}

// pageQuery is one list request.
type pageQuery struct {
	table  Table
	from   Cursor
	upto   string // exclusive upper bound of the incremental field
	limit  int
	offset int
	counts bool // ask for X-Total-Count (drop sysparm_no_count)
	fields string
}

// encodedQuery builds the keyset sysparm_query (see the package comment).
func (q pageQuery) encodedQuery() (string, error) {
	if err := q.from.check(); err != nil {
		return "", err
	}
	if !wire.ValidTime(q.upto) {
		return "", fmt.Errorf("invalid upper bound %q", q.upto)
	}
	f := q.table.Field
	if !validField(f) {
		return "", fmt.Errorf("invalid incremental field %q", f)
	}
	pre := ""
	if q.table.Filter != "" {
		pre = q.table.Filter + "^"
	}
	bound := f + "<" + q.upto
	order := "^ORDERBY" + f + "^ORDERBYsys_id"
	switch {
	case q.from.IsZero():
		return pre + bound + order, nil
	case q.from.SysID == "":
		return pre + f + ">=" + q.from.Time + "^" + bound + order, nil
	default:
		return pre + f + "=" + q.from.Time + "^sys_id>" + q.from.SysID +
			"^NQ" + pre + f + ">" + q.from.Time + "^" + bound + order, nil
	}
}

// values returns the URL parameters of q.
func (q pageQuery) values() (url.Values, error) {
	eq, err := q.encodedQuery()
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	v.Set("sysparm_query", eq)
	v.Set("sysparm_limit", strconv.Itoa(q.limit))
	if q.offset > 0 {
		v.Set("sysparm_offset", strconv.Itoa(q.offset))
	}
	v.Set("sysparm_display_value", "false")
	v.Set("sysparm_exclude_reference_link", "true")
	if !q.counts {
		v.Set("sysparm_no_count", "true")
	}
	if q.fields != "" {
		v.Set("sysparm_fields", q.fields)
	}
	return v, nil
}

// tablePath is the Table API path of table.
func tablePath(table string) string { return "/api/now/table/" + url.PathEscape(table) }

// formatUpto renders an exclusive upper bound, truncated to ServiceNow's
// one-second resolution.
func formatUpto(t time.Time) string { return t.UTC().Truncate(time.Second).Format(wire.TimeLayout) }
