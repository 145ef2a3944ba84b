package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

const headSQL = `SELECT coalesce(max(position), 0) FROM records WHERE tenant = $1`

// Changes returns a page of the tenant's feed (see store.Feed). It reads the
// head first, then the page bounded by it, in two statements: every
// position up to a visible head is visible to a later statement (see
// Apply), so the page holds each of them that still exists, and the next
// position (the head, when the page is not full) skips none.
func (s *Store) Changes(ctx context.Context, q store.ChangeQuery) ([]store.Change, store.FeedPosition, error) {
	p, err := store.PlanChanges(q, s.epoch)
	if err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read changes: %w", err)
	}
	var head uint64
	if err := s.pool.QueryRow(ctx, headSQL, p.Tenant).Scan(&head); err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read feed head of tenant %s: %w", p.Tenant, err)
	}
	if p.SinceSeq() > head {
		_, err := store.NextPosition(p, s.epoch, nil, false, head)
		return nil, store.FeedPosition{}, fmt.Errorf("read changes: %w", err)
	}
	sql, args := changesSQL(p, head)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read changes of tenant %s: %w", p.Tenant, err)
	}
	out := make([]store.Change, 0, min(p.Limit, 256))
	var seqs []uint64
	for rows.Next() {
		c := store.Change{Record: store.Record{Tenant: p.Tenant}}
		var (
			fields []byte
			reason *string
			seq    int64
		)
		if err := rows.Scan(&c.Integration, &c.Table, &c.SysID, &c.SysUpdatedOn, &c.SysModCount, &c.Deleted, &fields, &reason, &seq); err != nil {
			rows.Close()
			return nil, store.FeedPosition{}, fmt.Errorf("read changes of tenant %s: %w", p.Tenant, err)
		}
		c.Fields = fields
		if reason != nil {
			c.Reason = *reason
		}
		c.Position = store.FeedPosition{Epoch: s.epoch, Tenant: p.Tenant, Seq: uint64(seq)}.String()
		out = append(out, c)
		seqs = append(seqs, uint64(seq))
	}
	if err := rows.Err(); err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read changes of tenant %s: %w", p.Tenant, err)
	}
	full := len(out) > p.Limit
	if full {
		out, seqs = out[:p.Limit], seqs[:p.Limit]
	}
	next, err := store.NextPosition(p, s.epoch, seqs, full, head)
	if err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read changes: %w", err)
	}
	return out, next, nil
}

// changesSQL builds the page query, bounded by head; it asks for one row
// more than the limit to learn whether the page is full.
func changesSQL(p store.ChangePlan, head uint64) (string, []any) {
	w := where{conds: []string{"tenant = $1", "position > $2", "position <= $3"},
		args: []any{p.Tenant, int64(p.SinceSeq()), int64(head)}}
	w.scope(p.Integration, p.Table)
	sql := `SELECT integration, table_name, sys_id, sys_updated_on, sys_mod_count, deleted, fields, delete_reason, position
FROM records WHERE ` + w.String() + `
ORDER BY position LIMIT ` + w.arg(p.Limit+1)
	return sql, w.args
}

// FeedHead returns the tenant's highest visible position.
func (s *Store) FeedHead(ctx context.Context, tenant string) (store.FeedPosition, error) {
	if _, err := store.PlanChanges(store.ChangeQuery{Tenant: tenant}, s.epoch); err != nil {
		return store.FeedPosition{}, fmt.Errorf("read feed head: %w", err)
	}
	var head uint64
	if err := s.pool.QueryRow(ctx, headSQL, tenant).Scan(&head); err != nil {
		return store.FeedPosition{}, fmt.Errorf("read feed head of tenant %s: %w", tenant, err)
	}
	return store.FeedPosition{Epoch: s.epoch, Tenant: tenant, Seq: head}, nil
}

// FeedTenants lists the tenants that ever had a write.
func (s *Store) FeedTenants(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant FROM feed_tenants ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("list feed tenants: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list feed tenants: %w", err)
	}
	return out, nil
}

// FeedMark returns the mark name saved for tenant, or "".
func (s *Store) FeedMark(ctx context.Context, name, tenant string) (string, error) {
	if err := store.CheckMarkName(name); err != nil {
		return "", err
	}
	var mark string
	err := s.pool.QueryRow(ctx, `SELECT mark FROM feed_marks WHERE name = $1 AND tenant = $2`, name, tenant).Scan(&mark)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read feed mark %s/%s: %w", name, tenant, err)
	}
	return mark, nil
}

// SetFeedMark saves the mark name of tenant.
func (s *Store) SetFeedMark(ctx context.Context, name, tenant, mark string) error {
	if err := store.CheckMarkName(name); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO feed_marks (name, tenant, mark) VALUES ($1, $2, $3)
ON CONFLICT (name, tenant) DO UPDATE SET mark = EXCLUDED.mark`, name, tenant, mark)
	if err != nil {
		return fmt.Errorf("save feed mark %s/%s: %w", name, tenant, err)
	}
	return nil
}
