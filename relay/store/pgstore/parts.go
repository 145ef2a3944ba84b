package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// PutPart stores one part of a part set, replacing one stored under its key.
func (s *Store) PutPart(ctx context.Context, p store.Part) error {
	if err := store.CheckPart(&p); err != nil {
		return fmt.Errorf("store part: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO parts (tenant, integration, set_id, idx, count, table_name, data, stored_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8
		WHERE NOT EXISTS (SELECT 1 FROM part_sets_done d WHERE d.tenant = $1 AND d.integration = $2 AND d.set_id = $3)
		ON CONFLICT (tenant, integration, set_id, idx) DO UPDATE SET
			count = excluded.count, table_name = excluded.table_name, data = excluded.data, stored_at = excluded.stored_at`,
		p.Tenant, p.Integration, p.Set, p.Index, p.Count, p.Table, p.Data, p.Time)
	if err != nil {
		return fmt.Errorf("store part %d/%d of set %s: %w", p.Index, p.Count, p.Set, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store part %d/%d of set %s: %w", p.Index, p.Count, p.Set, store.ErrPartSetDone)
	}
	return nil
}

// FinishParts removes the parts of an applied set and marks it applied.
func (s *Store) FinishParts(ctx context.Context, tenant, integration, set string, at time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM parts WHERE tenant = $1 AND integration = $2 AND set_id = $3`,
			tenant, integration, set); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO part_sets_done (tenant, integration, set_id, done_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, tenant, integration, set, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish part set %s: %w", set, err)
	}
	return nil
}

// Parts returns the stored parts of a set, by index.
func (s *Store) Parts(ctx context.Context, tenant, integration, set string) ([]store.Part, error) {
	rows, err := s.pool.Query(ctx, `SELECT idx, count, table_name, data, stored_at FROM parts
		WHERE tenant = $1 AND integration = $2 AND set_id = $3 ORDER BY idx`, tenant, integration, set)
	if err != nil {
		return nil, fmt.Errorf("read part set %s: %w", set, err)
	}
	defer rows.Close()
	var out []store.Part
	for rows.Next() {
		p := store.Part{Tenant: tenant, Integration: integration, Set: set}
		if err := rows.Scan(&p.Index, &p.Count, &p.Table, &p.Data, &p.Time); err != nil {
			return nil, fmt.Errorf("read part set %s: %w", set, err)
		}
		p.Time = p.Time.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read part set %s: %w", set, err)
	}
	return out, nil
}

// DeleteParts removes every part of a set.
func (s *Store) DeleteParts(ctx context.Context, tenant, integration, set string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM parts WHERE tenant = $1 AND integration = $2 AND set_id = $3`,
		tenant, integration, set); err != nil {
		return fmt.Errorf("delete part set %s: %w", set, err)
	}
	return nil
}

// ExpireParts removes every set holding a part stored before before.
func (s *Store) ExpireParts(ctx context.Context, before time.Time) (int, error) {
	if _, err := s.pool.Exec(ctx, `DELETE FROM part_sets_done WHERE done_at < $1`, before); err != nil {
		return 0, fmt.Errorf("expire part sets: %w", err)
	}
	var n int
	err := s.pool.QueryRow(ctx, `WITH old AS (
			SELECT DISTINCT tenant, integration, set_id FROM parts WHERE stored_at < $1
		), gone AS (
			DELETE FROM parts p USING old
			WHERE p.tenant = old.tenant AND p.integration = old.integration AND p.set_id = old.set_id
			RETURNING p.tenant, p.integration, p.set_id
		)
		SELECT count(DISTINCT (tenant, integration, set_id)) FROM gone`, before).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("expire part sets: %w", err)
	}
	return n, nil
}
