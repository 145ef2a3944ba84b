package servicenow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// What a reconciliation sweep reads (see agent/reconcile): the Aggregate
// API's count of a window, the ids and versions of a window, and whole rows
// by id. Every request goes through the same rate limiter, retries and
// authentication as a poll.

// IDVersion is one row's identity and version, as an id sweep reads it.
type IDVersion struct {
	SysID     string
	UpdatedOn string // "YYYY-MM-DD HH:MM:SS" UTC
	ModCount  int64
}

// statsPath is the Aggregate API path of table.
func statsPath(table string) string { return "/api/now/stats/" + url.PathEscape(table) }

// checkCond rejects a window condition that is not plain encoded-query AND
// clauses: it is ANDed into t's filter and must not reorder or OR it.
func checkCond(cond string) error {
	if strings.ContainsAny(cond, "\n\r") || strings.Contains(cond, "^NQ") || strings.Contains(cond, "^OR") || strings.Contains(cond, "ORDERBY") {
		return fmt.Errorf("invalid window condition %q", cond)
	}
	return nil
}

// withFilter is t's filter ANDed with cond.
func withFilter(t Table, cond string) string {
	switch {
	case t.Filter == "":
		return cond
	case cond == "":
		return t.Filter
	}
	return t.Filter + "^" + cond
}

// Counts is what the Aggregate API says of a window.
type Counts struct {
	Rows int64
	// ModCountSum is the sum of the rows' sys_mod_count, a cheap
	// fingerprint of their versions: it differs when as many rows
	// appeared as vanished. -1 when the instance did not return it.
	ModCountSum int64
}

// Count returns how many rows of t match t's filter and cond (an encoded
// query of AND clauses, e.g. a sys_created_on window) and the sum of their
// sys_mod_count, from the Aggregate API: GET /api/now/stats/{table}
// ?sysparm_count=true&sysparm_sum_fields=sys_mod_count. One request.
func (c *Client) Count(ctx context.Context, t Table, cond string) (Counts, error) {
	if err := t.Check(); err != nil {
		return Counts{}, err
	}
	if err := checkCond(cond); err != nil {
		return Counts{}, fmt.Errorf("count %s: %w", t.Name, err)
	}
	q := url.Values{}
	q.Set("sysparm_count", "true")
	q.Set("sysparm_sum_fields", "sys_mod_count")
	if eq := withFilter(t, cond); eq != "" {
		q.Set("sysparm_query", eq)
	}
	var n Counts
	err := c.do(ctx, request{op: "count " + t.Name, table: t.Name, path: statsPath(t.Name),
		query: func() url.Values { return q },
		check: decodeInto(&n, decodeCount)})
	return n, err
}

// decodeCount reads {"result":{"stats":{"count":"42","sum":{"sys_mod_count":"7"}}}};
// numbers may also come unquoted. A body without a count is a transient
// *errBadBody; a missing or unreadable sum is -1.
func decodeCount(contentType string, body []byte) (Counts, error) {
	if err := checkJSON(contentType, body); err != nil {
		return Counts{}, err
	}
	var env struct {
		Result *struct {
			Stats *struct {
				Count json.RawMessage `json:"count"`
				Sum   struct {
					ModCount json.RawMessage `json:"sys_mod_count"`
				} `json:"sum"`
			} `json:"stats"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Counts{}, badJSON(body)
	}
	if env.Result == nil || env.Result.Stats == nil || env.Result.Stats.Count == nil {
		return Counts{}, &errBadBody{reason: "aggregate answer has no result.stats.count"}
	}
	n, ok := parseStat(env.Result.Stats.Count)
	if !ok {
		return Counts{}, &errBadBody{reason: fmt.Sprintf("aggregate count %s is not a count", env.Result.Stats.Count)}
	}
	sum, ok := parseStat(env.Result.Stats.Sum.ModCount)
	if !ok {
		sum = -1
	}
	return Counts{Rows: n, ModCountSum: sum}, nil
}

// parseStat reads a non-negative integer statistic, quoted or not (a sum
// may come as "12.0").
func parseStat(raw json.RawMessage) (int64, bool) {
	s := strings.TrimSuffix(string(bytes.Trim(raw, `"`)), ".0")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// idFields are the columns an id sweep reads.
const idFields = "sys_id,sys_updated_on,sys_mod_count"

// IDs returns up to limit rows of t matching t's filter and cond whose
// sys_id is greater than after ("" from the first), in sys_id order, with
// only their versions; more says whether rows may follow the last one
// returned. Rows hidden by ACLs are absent, so a page can be short while
// more follow; a page hidden whole is stepped over with sysparm_offset
// (the same fallback as a poll's).
func (c *Client) IDs(ctx context.Context, t Table, cond, after string, limit int) (rows []IDVersion, more bool, err error) {
	if err := t.Check(); err != nil {
		return nil, false, err
	}
	if err := checkCond(cond); err != nil {
		return nil, false, fmt.Errorf("read %s ids: %w", t.Name, err)
	}
	if after != "" && !wire.ValidSysID(after) {
		return nil, false, fmt.Errorf("read %s ids: invalid sys_id %q", t.Name, after)
	}
	limit = min(max(limit, 1), MaxPageSize)
	eq := withFilter(t, cond)
	if after != "" {
		eq = withFilter(Table{Filter: eq}, "sys_id>"+after)
	}
	eq = withFilter(Table{Filter: eq}, "ORDERBYsys_id")
	for off := 0; ; off += limit {
		l, err := c.idPage(ctx, t, eq, off, limit)
		if err != nil {
			return nil, false, err
		}
		if len(l.rows) > 0 || !l.more(off) {
			out := make([]IDVersion, 0, len(l.rows))
			for _, r := range l.rows {
				v := IDVersion{SysID: r.String("sys_id"), UpdatedOn: r.String(FieldUpdatedOn)}
				v.ModCount, _ = strconv.ParseInt(r.String("sys_mod_count"), 10, 64)
				if !wire.ValidSysID(v.SysID) {
					continue
				}
				out = append(out, v)
			}
			if len(out) == 0 && len(l.rows) > 0 { // no id to continue the keyset from
				return nil, false, &Error{Op: "read " + t.Name + " ids", Table: t.Name, Permanent: true,
					Message: "a page of rows without a readable sys_id",
					Hint:    "the API user needs read access to sys_id of " + t.Name + " (field ACL)"}
			}
			return out, l.more(off), nil
		}
		c.stats.update(func(st *ClientStats) { st.OffsetFallback++ })
	}
}

// idPage reads one page of ids at offset off.
func (c *Client) idPage(ctx context.Context, t Table, eq string, off, limit int) (listing, error) {
	q := url.Values{}
	q.Set("sysparm_query", eq)
	q.Set("sysparm_fields", idFields)
	q.Set("sysparm_limit", strconv.Itoa(limit))
	if off > 0 {
		q.Set("sysparm_offset", strconv.Itoa(off))
	}
	q.Set("sysparm_exclude_reference_link", "true")
	out := listing{limit: limit, total: -1}
	err := c.do(ctx, request{op: "read " + t.Name + " ids", table: t.Name, path: tablePath(t.Name),
		query: func() url.Values { return q },
		check: out.fill})
	return out, err
}

// FetchSlice bounds the ids of one Fetch request (the URL carries them).
const FetchSlice = 100

// Fetch reads the rows of t with the given sys_ids, FetchSlice per
// request, and returns them as records exactly as a poll would forward
// them: excluded fields removed, the same field set and encoding. Rows that
// are gone or hidden are simply absent.
func (c *Client) Fetch(ctx context.Context, t Table, ids []string) ([]wire.Record, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !wire.ValidSysID(id) {
			return nil, fmt.Errorf("fetch %s rows: invalid sys_id %q", t.Name, id)
		}
	}
	filter := newRowFilter(t, c.cfg.Exclude)
	fields := t.sysparmFields(c.cfg.Exclude)
	var out []wire.Record
	for start := 0; start < len(ids); start += FetchSlice {
		slice := ids[start:min(start+FetchSlice, len(ids))]
		eq := withFilter(t, "sys_idIN"+strings.Join(slice, ",")) + "^ORDERBYsys_id"
		l, err := c.listRows(ctx, "fetch "+t.Name+" rows by id", t, eq, fields, len(slice))
		if err != nil {
			return nil, err
		}
		kept := l[:0]
		var keys []copyKey
		for _, r := range l {
			if id, ok := filter.filter(r); ok {
				kept = append(kept, r)
				keys = append(keys, id)
			}
		}
		recs, _ := toRecords(t, kept, keys)
		out = append(out, recs...)
	}
	return out, nil
}
