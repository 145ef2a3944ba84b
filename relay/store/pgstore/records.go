package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

var incomingColumns = []string{"tenant", "integration", "table_name", "sys_id", "sys_updated_on", "sys_mod_count", "deleted", "fields", "delete_reason", "repair"}

// lockTenantsSQL makes sure every tenant of the staged batch has a row in
// feed_tenants and locks those rows, in tenant order, until the
// transaction ends. See Apply for why.
const (
	addTenantsSQL = `INSERT INTO feed_tenants (tenant)
SELECT DISTINCT tenant FROM pg_temp.sei_incoming ORDER BY tenant
ON CONFLICT (tenant) DO NOTHING`
	lockTenantsSQL = `SELECT tenant FROM feed_tenants
WHERE tenant IN (SELECT tenant FROM pg_temp.sei_incoming)
ORDER BY tenant FOR UPDATE`
)

// upsertSQL moves the staged batch into records. The WHERE on DO UPDATE
// makes an older or equal version a no-op, and such rows are not counted
// in the command's row count: that count is Result.Applied.
//
// Every row staged takes a position from feed_seq, so ignored rows leave
// gaps; positions need only grow.
const upsertSQL = `INSERT INTO records AS r
	(tenant, integration, table_name, sys_id, sys_updated_on, sys_mod_count, deleted, fields, delete_reason, position)
SELECT tenant, integration, table_name, sys_id, sys_updated_on, sys_mod_count, deleted, fields, delete_reason, nextval('feed_seq')
FROM pg_temp.sei_incoming
ORDER BY tenant, integration, table_name, sys_id
ON CONFLICT (tenant, integration, table_name, sys_id) DO UPDATE SET
	sys_updated_on = EXCLUDED.sys_updated_on,
	sys_mod_count  = EXCLUDED.sys_mod_count,
	deleted        = EXCLUDED.deleted,
	fields         = EXCLUDED.fields,
	delete_reason  = EXCLUDED.delete_reason,
	position       = EXCLUDED.position,
	stored_at      = now()
WHERE (EXCLUDED.sys_updated_on, EXCLUDED.sys_mod_count) > (r.sys_updated_on, r.sys_mod_count)`

// repairSQL applies the staged repairs (store.Record.Repair): a live record
// of the same version whose fields differ takes the repair's fields and a
// new feed position. It runs after upsertSQL, which inserted the repairs
// of records not stored yet.
const repairSQL = `UPDATE records AS r SET
	fields    = i.fields,
	position  = nextval('feed_seq'),
	stored_at = now()
FROM pg_temp.sei_incoming AS i
WHERE i.repair AND NOT i.deleted AND NOT r.deleted
	AND (r.tenant, r.integration, r.table_name, r.sys_id) = (i.tenant, i.integration, i.table_name, i.sys_id)
	AND (r.sys_updated_on, r.sys_mod_count) = (i.sys_updated_on, i.sys_mod_count)
	AND r.fields::jsonb IS DISTINCT FROM i.fields::jsonb`

// Apply writes recs in one transaction, newest version wins (see
// store.Store). Concurrent Applies, from this or other processes, wait for
// each other key by key, in key order.
//
// Feed positions, and why a reader never misses one. Positions come from
// one sequence, so they grow, but nextval is not transactional: with two
// relays writing, A could take 10, B take 11, B commit, and a reader see 11
// before A's 10 becomes visible; it would then ask for "after 11" and never
// see 10. Apply closes that gap with one writer per tenant: before its
// upsert it locks the feed_tenants rows of every tenant in the batch (in
// tenant order, and before any record row, so two Applies cannot deadlock)
// and keeps them until commit. A second writer of the tenant waits for the
// first to commit, and PostgreSQL makes a transaction visible before it
// releases its locks, so it takes its positions only after the first
// transaction's positions are visible. Positions of a tenant thus become
// visible in the order they were taken: every snapshot holds a prefix of
// them, and "the highest visible position" (FeedHead) is a safe watermark.
// The cost is that writes of one tenant do not run in parallel across
// relays (writes of different tenants still do); an xid watermark
// (pg_snapshot_xmin) would keep that parallelism, but makes readers wait
// for the oldest running transaction of any tenant and is harder to get
// right.
func (s *Store) Apply(ctx context.Context, recs []store.Record) (store.Result, error) {
	batch, dropped, err := store.Prepare(recs)
	if err != nil {
		return store.Result{}, fmt.Errorf("apply batch: %w", err)
	}
	if len(batch) == 0 {
		return store.Result{}, nil
	}
	var applied int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		src := pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			r := &batch[i]
			var fields any // untyped nil is NULL
			if r.Fields != nil {
				fields = []byte(r.Fields)
			}
			var reason any
			if r.Reason != "" {
				reason = r.Reason
			}
			return []any{r.Tenant, r.Integration, r.Table, r.SysID, r.SysUpdatedOn, r.SysModCount, r.Deleted, fields, reason, r.Repair}, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "sei_incoming"}, incomingColumns, src); err != nil {
			return fmt.Errorf("copy %d records: %w", len(batch), err)
		}
		if _, err := tx.Exec(ctx, addTenantsSQL); err != nil {
			return fmt.Errorf("add feed tenants: %w", err)
		}
		if _, err := tx.Exec(ctx, lockTenantsSQL); err != nil {
			return fmt.Errorf("lock feed tenants: %w", err)
		}
		tag, err := tx.Exec(ctx, upsertSQL)
		if err != nil {
			return fmt.Errorf("upsert %d records: %w", len(batch), err)
		}
		applied = tag.RowsAffected()
		tag, err = tx.Exec(ctx, repairSQL)
		if err != nil {
			return fmt.Errorf("repair records of %d: %w", len(batch), err)
		}
		applied += tag.RowsAffected()
		return nil
	})
	if err != nil {
		return store.Result{}, fmt.Errorf("apply batch: %w", err)
	}
	if applied > 0 {
		s.Notify()
	}
	return store.Result{Applied: int(applied), Ignored: len(batch) - int(applied) + dropped}, nil
}

// List returns a page of records in key order (see store.Store). The cursor
// names a key, and the primary key index serves the range, so pages are
// stable and cheap however deep.
func (s *Store) List(ctx context.Context, q store.Query) ([]store.Record, string, error) {
	p, err := store.PlanQuery(q)
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	sql, args := listSQL(p)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list records of tenant %s: %w", p.Tenant, err)
	}
	recs := make([]store.Record, 0, min(p.Limit, 256))
	for rows.Next() {
		r := store.Record{Tenant: p.Tenant}
		var fields []byte
		var reason *string
		if err := rows.Scan(&r.Integration, &r.Table, &r.SysID, &r.SysUpdatedOn, &r.SysModCount, &r.Deleted, &fields, &reason); err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("list records of tenant %s: %w", p.Tenant, err)
		}
		r.Fields = fields
		if reason != nil {
			r.Reason = *reason
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list records of tenant %s: %w", p.Tenant, err)
	}
	next := ""
	if len(recs) > p.Limit {
		recs = recs[:p.Limit]
		last := recs[len(recs)-1]
		next = store.EncodeCursor(store.Cursor{Tenant: last.Tenant, Integration: last.Integration, Table: last.Table, SysID: last.SysID})
	}
	return recs, next, nil
}

// listSQL builds the page query; it asks for one record more than the limit
// to learn whether another page follows.
func listSQL(p store.Plan) (string, []any) {
	w := where{conds: []string{"tenant = $1"}, args: []any{p.Tenant}}
	w.scope(p.Integration, p.Table)
	if a := p.After; a != nil {
		w.conds = append(w.conds, fmt.Sprintf("(integration, table_name, sys_id) > (%s, %s, %s)", w.arg(a.Integration), w.arg(a.Table), w.arg(a.SysID)))
	}
	sql := `SELECT integration, table_name, sys_id, sys_updated_on, sys_mod_count, deleted, fields, delete_reason
FROM records WHERE ` + w.String() + `
ORDER BY integration, table_name, sys_id LIMIT ` + w.arg(p.Limit+1)
	return sql, w.args
}

// where collects a records query's conditions and their arguments
// ($1, $2, ... in order).
type where struct {
	conds []string
	args  []any
}

// arg adds v to the arguments and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

// scope adds the conditions on integration and table, when set.
func (w *where) scope(integration, table string) {
	if integration != "" {
		w.conds = append(w.conds, "integration = "+w.arg(integration))
	}
	if table != "" {
		w.conds = append(w.conds, "table_name = "+w.arg(table))
	}
}

func (w *where) String() string { return strings.Join(w.conds, " AND ") }
