package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// migration is one step of the schema; versions start at 1 and never change
// once released: add a new one instead.
type migration struct {
	version int
	sql     string
}

var migrations = []migration{
	{1, `
CREATE TABLE records (
	tenant         text COLLATE "C" NOT NULL,
	integration    text COLLATE "C" NOT NULL,
	table_name     text COLLATE "C" NOT NULL,
	sys_id         text COLLATE "C" NOT NULL,
	sys_updated_on text COLLATE "C" NOT NULL,
	sys_mod_count  bigint NOT NULL,
	deleted        boolean NOT NULL,
	fields         json,
	stored_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant, integration, table_name, sys_id)
);
CREATE TABLE agents (
	tenant    text COLLATE "C" NOT NULL,
	agent     text COLLATE "C" NOT NULL,
	seen      timestamptz NOT NULL,
	heartbeat json,
	PRIMARY KEY (tenant, agent)
);
CREATE TABLE quarantine (
	id             text COLLATE "C" PRIMARY KEY,
	subject        text NOT NULL,
	header         json,
	data           bytea,
	reason         text NOT NULL,
	quarantined_at timestamptz NOT NULL
);
CREATE INDEX quarantine_by_time ON quarantine (quarantined_at, id);
`},
	// 2: the change feed (see Store.Apply for why positions are safe to
	// follow). Existing records get positions in key order.
	{2, `
CREATE SEQUENCE feed_seq;
ALTER TABLE records ADD COLUMN position bigint, ADD COLUMN delete_reason text COLLATE "C";
UPDATE records r SET position = o.position
FROM (SELECT tenant, integration, table_name, sys_id, nextval('feed_seq') AS position
      FROM (SELECT tenant, integration, table_name, sys_id FROM records
            ORDER BY tenant, integration, table_name, sys_id) k) o
WHERE (r.tenant, r.integration, r.table_name, r.sys_id) = (o.tenant, o.integration, o.table_name, o.sys_id);
ALTER TABLE records ALTER COLUMN position SET NOT NULL;
CREATE UNIQUE INDEX records_feed ON records (tenant, position);
CREATE TABLE feed_tenants (tenant text COLLATE "C" PRIMARY KEY);
INSERT INTO feed_tenants SELECT DISTINCT tenant FROM records;
CREATE TABLE feed_epoch (epoch text NOT NULL);
INSERT INTO feed_epoch VALUES (substr(md5(random()::text || clock_timestamp()::text), 1, 16));
CREATE TABLE feed_marks (
	name   text COLLATE "C" NOT NULL,
	tenant text COLLATE "C" NOT NULL,
	mark   text NOT NULL,
	PRIMARY KEY (name, tenant)
);
`},
	// 3: the quarantine is keyed by (tenant, id): an agent chooses the id.
	{3, `
ALTER TABLE quarantine ADD COLUMN tenant text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN size bigint NOT NULL DEFAULT 0;
UPDATE quarantine SET size = coalesce(length(data), 0),
	tenant = CASE WHEN split_part(subject, '.', 1) = 'sei' AND split_part(subject, '.', 2) = 'ingest'
		AND split_part(subject, '.', 3) ~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN split_part(subject, '.', 3) ELSE '' END;
ALTER TABLE quarantine DROP CONSTRAINT quarantine_pkey;
ALTER TABLE quarantine ADD PRIMARY KEY (tenant, id);
`},
	// 4: parts of records too large for one message, until their set is
	// complete.
	{4, `
CREATE TABLE parts (
	tenant      text COLLATE "C" NOT NULL,
	integration text COLLATE "C" NOT NULL,
	set_id      text COLLATE "C" NOT NULL,
	idx         integer NOT NULL,
	count       integer NOT NULL,
	table_name  text COLLATE "C" NOT NULL,
	data        bytea NOT NULL,
	stored_at   timestamptz NOT NULL,
	PRIMARY KEY (tenant, integration, set_id, idx)
);
CREATE INDEX parts_stored_at ON parts (stored_at);
CREATE TABLE part_sets_done (
	tenant      text COLLATE "C" NOT NULL,
	integration text COLLATE "C" NOT NULL,
	set_id      text COLLATE "C" NOT NULL,
	done_at     timestamptz NOT NULL,
	PRIMARY KEY (tenant, integration, set_id)
);
CREATE INDEX part_sets_done_at ON part_sets_done (done_at);
`},
}

// The advisory lock is per database and schema, so relays on different
// schemas (and parallel tests) do not wait for each other.
const (
	lockSQL   = `SELECT pg_advisory_lock(hashtext('sei-relay schema'), hashtext(current_schema()))`
	unlockSQL = `SELECT pg_advisory_unlock(hashtext('sei-relay schema'), hashtext(current_schema()))`
)

// migrate brings the schema up to date. It holds an advisory lock for the
// whole check-and-apply, so of two relays starting at once one migrates and
// the other then finds nothing to do. Each migration commits with its
// version, so a crash leaves the schema at a known step.
func migrate(ctx context.Context, pool *pgxpool.Pool, log zerolog.Logger) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, lockSQL); err != nil {
		conn.Release()
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, unlockSQL); uerr != nil {
			// A session that may still hold the lock must not go back to
			// the pool.
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := migrations[len(migrations)-1].version
	if current > latest {
		return fmt.Errorf("check schema version: database is at %d, this relay knows up to %d (upgrade the relay)", current, latest)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply schema migration %d: %w", m.version, err)
		}
		log.Info().Int("version", m.version).Msg("applied schema migration")
	}
	return nil
}
