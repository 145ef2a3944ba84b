package servicenow

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// Newest returns the incremental field of t's newest row the API user can
// read ("" when there is none): one request of one row and one field. The
// poller compares it with its cursor, so status can tell a table whose
// cursor no longer advances although ServiceNow has newer rows.
func (c *Client) Newest(ctx context.Context, t Table) (string, error) {
	if err := t.Check(); err != nil {
		return "", err
	}
	query := "ORDERBYDESC" + t.Field
	if t.Filter != "" {
		query = t.Filter + "^" + query
	}
	rows, err := c.listRows(ctx, "fetch newest "+t.Name+" row", t, query, t.Field, 1)
	if err != nil {
		return "", fmt.Errorf("newest row of %s: %w", t.Name, err)
	}
	if len(rows) == 0 {
		return "", nil
	}
	return rows[0].String(t.Field), nil
}

// listRows reads up to limit rows of t under the encoded query (ordered by
// sys_id unless it says otherwise) with only fields ("" reads every
// field), values as stored.
func (c *Client) listRows(ctx context.Context, op string, t Table, query, fields string, limit int) ([]Row, error) {
	q := url.Values{}
	q.Set("sysparm_limit", strconv.Itoa(limit))
	q.Set("sysparm_display_value", "false")
	q.Set("sysparm_exclude_reference_link", "true")
	q.Set("sysparm_no_count", "true")
	if query != "" {
		q.Set("sysparm_query", query)
	}
	if fields != "" {
		q.Set("sysparm_fields", fields)
	}
	var rows []Row
	err := c.do(ctx, request{op: op, table: t.Name, path: tablePath(t.Name),
		query: func() url.Values { return q },
		check: decodeInto(&rows, decodeList)})
	return rows, err
}
