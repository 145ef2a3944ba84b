package pgstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// nullable turns an empty byte slice into SQL NULL.
func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// PutAgent stores a's heartbeat, replacing the agent's previous one.
func (s *Store) PutAgent(ctx context.Context, a store.Agent) error {
	if err := store.CheckAgent(&a); err != nil {
		return fmt.Errorf("put agent: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO agents (tenant, agent, seen, heartbeat) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant, agent) DO UPDATE SET seen = EXCLUDED.seen, heartbeat = EXCLUDED.heartbeat`,
		a.Tenant, a.Agent, store.NormTime(a.Seen), nullable(a.Heartbeat))
	if err != nil {
		return fmt.Errorf("put agent %s/%s: %w", a.Tenant, a.Agent, err)
	}
	return nil
}

// Agents lists the agents of tenant ("" for all) by tenant, then agent.
func (s *Store) Agents(ctx context.Context, tenant string) ([]store.Agent, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, agent, seen, heartbeat FROM agents
WHERE $1 = '' OR tenant = $1 ORDER BY tenant, agent`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list agents of tenant %q: %w", tenant, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Agent, error) {
		var a store.Agent
		var hb []byte
		err := row.Scan(&a.Tenant, &a.Agent, &a.Seen, &hb)
		a.Seen, a.Heartbeat = a.Seen.UTC(), hb
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list agents of tenant %q: %w", tenant, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// quarantineLockSQL serialises the quarantine writes of one tenant across
// relays, so the limit check and the insert see each other.
const quarantineLockSQL = `SELECT pg_advisory_xact_lock(hashtext('sei-relay quarantine'), hashtext($1))`

// Quarantine keeps q under (q.Tenant, q.ID), never replacing an entry, and
// refuses it when the tenant is at lim.
func (s *Store) Quarantine(ctx context.Context, q store.Quarantined, lim store.QuarantineLimits) error {
	if err := store.CheckQuarantineID(q.Tenant, q.ID); err != nil {
		return fmt.Errorf("quarantine batch: %w", err)
	}
	header, err := json.Marshal(q.Header)
	if err != nil {
		return fmt.Errorf("quarantine batch %s/%s: %w", q.Tenant, q.ID, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, quarantineLockSQL, q.Tenant); err != nil {
			return err
		}
		var n int
		var bytes int64
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM quarantine WHERE tenant = $1`, q.Tenant).Scan(&n, &bytes); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO quarantine (tenant, id, subject, header, data, size, reason, quarantined_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant, id) DO NOTHING`,
			q.Tenant, q.ID, q.Subject, header, nullable(q.Data), len(q.Data), q.Reason, store.NormTime(q.Time))
		switch {
		case err != nil:
			return err
		case tag.RowsAffected() == 0:
			return store.ErrQuarantineExists
		case lim.Full(n, bytes, int64(len(q.Data))):
			return fmt.Errorf("%w (%d batches, %d bytes)", store.ErrQuarantineFull, n, bytes) // rolls the insert back
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("quarantine batch %s/%s: %w", q.Tenant, q.ID, err)
	}
	return nil
}

// QuarantineList returns a page of quarantined batches without their data,
// by (tenant, id). The cursor is the page's last (tenant, id) as JSON, hex.
func (s *Store) QuarantineList(ctx context.Context, q store.QuarantineQuery) ([]store.Quarantined, string, error) {
	limit, err := store.QuarantineLimit(q)
	if err != nil {
		return nil, "", err
	}
	var after [2]string
	if q.After != "" {
		raw, err := hex.DecodeString(q.After)
		if err != nil || json.Unmarshal(raw, &after) != nil || (q.Tenant != "" && after[0] != q.Tenant) {
			return nil, "", fmt.Errorf("quarantine list: %w", store.ErrBadCursor)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT tenant, id, subject, header, size, reason, quarantined_at FROM quarantine
WHERE ($1 = '' OR tenant = $1) AND (tenant, id) > ($2, $3) ORDER BY tenant, id LIMIT $4`,
		q.Tenant, after[0], after[1], limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("quarantine list: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanQuarantined(false))
	if err != nil {
		return nil, "", fmt.Errorf("quarantine list: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last, _ := json.Marshal([2]string{out[limit-1].Tenant, out[limit-1].ID})
		next = hex.EncodeToString(last)
	}
	return out, next, nil
}

// QuarantinedBatch returns one quarantined batch with its data.
func (s *Store) QuarantinedBatch(ctx context.Context, tenant, id string) (store.Quarantined, error) {
	if err := store.CheckQuarantineID(tenant, id); err != nil {
		return store.Quarantined{}, fmt.Errorf("read quarantined batch: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT tenant, id, subject, header, size, reason, quarantined_at, data FROM quarantine
WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return store.Quarantined{}, fmt.Errorf("read quarantined batch %s/%s: %w", tenant, id, err)
	}
	q, err := pgx.CollectExactlyOneRow(rows, scanQuarantined(true))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Quarantined{}, fmt.Errorf("read quarantined batch %s/%s: %w", tenant, id, err)
	}
	return q, nil
}

// scanQuarantined scans a quarantine row, its data last when withData.
func scanQuarantined(withData bool) pgx.RowToFunc[store.Quarantined] {
	return func(row pgx.CollectableRow) (store.Quarantined, error) {
		var q store.Quarantined
		var header []byte
		dest := []any{&q.Tenant, &q.ID, &q.Subject, &header, &q.Size, &q.Reason, &q.Time}
		if withData {
			dest = append(dest, &q.Data)
		}
		if err := row.Scan(dest...); err != nil {
			return q, err
		}
		q.Time = q.Time.UTC()
		if len(header) > 0 {
			if err := json.Unmarshal(header, &q.Header); err != nil {
				return q, fmt.Errorf("decode header of %s/%s: %w", q.Tenant, q.ID, err)
			}
		}
		return q, nil
	}
}

// Release removes the quarantined batch (tenant, id). Releasing one that is
// not quarantined (say, released already) is not an error.
func (s *Store) Release(ctx context.Context, tenant, id string) error {
	if err := store.CheckQuarantineID(tenant, id); err != nil {
		return fmt.Errorf("release batch: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM quarantine WHERE tenant = $1 AND id = $2`, tenant, id); err != nil {
		return fmt.Errorf("release batch %s/%s: %w", tenant, id, err)
	}
	return nil
}
