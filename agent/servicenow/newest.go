package servicenow

import (
	"context"
	"fmt"
	"net/url"
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
	rows, err := c.firstRow(ctx, "fetch newest "+t.Name+" row", t, query, t.Field)
	if err != nil {
		return "", fmt.Errorf("newest row of %s: %w", t.Name, err)
	}
	if len(rows) == 0 {
		return "", nil
	}
	return rows[0].String(t.Field), nil
}

// firstRow reads the first row of t under the encoded query (ordered by
// sys_id unless it says otherwise) with only fields ("" reads every
// field): a list of at most one row, values as stored.
func (c *Client) firstRow(ctx context.Context, op string, t Table, query, fields string) ([]Row, error) {
	q := url.Values{}
	q.Set("sysparm_limit", "1")
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
		check: func(r *response) error {
			var err error
			rows, err = decodeList(r.header.Get("Content-Type"), r.body)
			return err
		}})
	return rows, err
}
