package pgstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Store is the PostgreSQL implementation of store.Store. Any number of
// Stores, in any number of processes, may share one database.
type Store struct {
	pool      *pgxpool.Pool
	closeOnce sync.Once
	epoch     string // the feed epoch, read at Open

	store.Signal // closed after each Apply of this process that wrote
}

var _ store.Store = (*Store)(nil)

// incomingSQL creates the per-connection staging table Apply copies into.
// ON COMMIT DELETE ROWS empties it at the end of every transaction, and it
// lives as long as the connection, so Apply creates no catalog entries.
const incomingSQL = `CREATE TEMP TABLE IF NOT EXISTS sei_incoming (
	tenant         text COLLATE "C",
	integration    text COLLATE "C",
	table_name     text COLLATE "C",
	sys_id         text COLLATE "C",
	sys_updated_on text COLLATE "C",
	sys_mod_count  bigint,
	deleted        boolean,
	fields         json,
	delete_reason  text COLLATE "C",
	repair         boolean
) ON COMMIT DELETE ROWS`

// Open connects to the database at dsn (a postgres:// URL or key=value
// string; pool settings such as pool_max_conns go in it too), applies the
// schema migrations and returns the store. The schema is the first of the
// connection's search_path.
func Open(ctx context.Context, dsn string, log zerolog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: parse store.dsn: %w", err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, incomingSQL); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if err := migrate(ctx, pool, log); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	var epoch string
	if err := pool.QueryRow(ctx, `SELECT epoch FROM feed_epoch`).Scan(&epoch); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: read feed epoch: %w", err)
	}
	return &Store{pool: pool, epoch: epoch}, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres store: %w", err)
	}
	return nil
}

// Close waits for connections in use to be released and closes them all.
// It is idempotent; every call after it fails.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}
