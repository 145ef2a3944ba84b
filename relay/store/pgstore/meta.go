package pgstore

import (
	"context"
	"encoding/json"
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

// Quarantine keeps q, replacing an entry with the same ID.
func (s *Store) Quarantine(ctx context.Context, q store.Quarantined) error {
	if err := store.CheckQuarantineID(q.ID); err != nil {
		return fmt.Errorf("quarantine batch: %w", err)
	}
	header, err := json.Marshal(q.Header)
	if err != nil {
		return fmt.Errorf("quarantine batch %s: %w", q.ID, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO quarantine (id, subject, header, data, reason, quarantined_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET subject = EXCLUDED.subject, header = EXCLUDED.header, data = EXCLUDED.data,
	reason = EXCLUDED.reason, quarantined_at = EXCLUDED.quarantined_at`,
		q.ID, q.Subject, header, nullable(q.Data), q.Reason, store.NormTime(q.Time))
	if err != nil {
		return fmt.Errorf("quarantine batch %s: %w", q.ID, err)
	}
	return nil
}

// Quarantined lists the quarantined batches, oldest first (then by ID).
func (s *Store) Quarantined(ctx context.Context) ([]store.Quarantined, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, subject, header, data, reason, quarantined_at FROM quarantine
ORDER BY quarantined_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list quarantined batches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Quarantined, error) {
		var q store.Quarantined
		var header []byte
		if err := row.Scan(&q.ID, &q.Subject, &header, &q.Data, &q.Reason, &q.Time); err != nil {
			return q, err
		}
		q.Time = q.Time.UTC()
		if len(header) > 0 {
			if err := json.Unmarshal(header, &q.Header); err != nil {
				return q, fmt.Errorf("decode header of %s: %w", q.ID, err)
			}
		}
		return q, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantined batches: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Release removes the quarantined batch id. Releasing an id that is not
// quarantined (say, released already) is not an error.
func (s *Store) Release(ctx context.Context, id string) error {
	if err := store.CheckQuarantineID(id); err != nil {
		return fmt.Errorf("release batch: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM quarantine WHERE id = $1`, id); err != nil {
		return fmt.Errorf("release batch %s: %w", id, err)
	}
	return nil
}
