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
	q := url.Values{}
	query := "ORDERBYDESC" + t.Field
	if t.Filter != "" {
		query = t.Filter + "^" + query
	}
	q.Set("sysparm_query", query)
	q.Set("sysparm_fields", t.Field)
	q.Set("sysparm_limit", "1")
	q.Set("sysparm_display_value", "false")
	q.Set("sysparm_no_count", "true")
	var newest string
	err := c.do(ctx, request{
		op: "fetch newest " + t.Name + " row", table: t.Name, path: tablePath(t.Name),
		query: func() url.Values { return q },
		check: func(r *response) error {
			rows, err := decodeList(r.header.Get("Content-Type"), r.body)
			if err != nil {
				return err
			}
			if len(rows) > 0 {
				newest = rows[0].String(t.Field)
			}
			return nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("newest row of %s: %w", t.Name, err)
	}
	return newest, nil
}
