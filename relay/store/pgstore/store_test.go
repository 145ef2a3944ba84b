package pgstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func openTest(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, storetest.PostgresSchema(t)) })
}

// TestTwoRelays starts two stores on one schema at once (both run the
// migrations) and has them apply overlapping batches concurrently.
func TestTwoRelays(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	stores := make([]*Store, 4)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn, testLogger(t))
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(func() { _ = s.Close() })
		}
	}
	if t.Failed() {
		return
	}
	storetest.ApplyConcurrently(t, stores[0], stores[1], stores[2], stores[3])
	wantMigrations(t, dsn)
}

func wantMigrations(t *testing.T, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var n, max int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	if want := len(migrations); n != want || max != migrations[want-1].version {
		t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", n, max, want, migrations[want-1].version)
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	s := openTest(t, dsn)
	r := store.Record{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "a", SysUpdatedOn: "2026-01-01 00:00:00", Fields: []byte(`{"a":1}`)}
	if _, err := s.Apply(t.Context(), []store.Record{r}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	s.Close()
	s = openTest(t, dsn)
	recs, _, err := s.List(t.Context(), store.Query{Tenant: "acme"})
	if err != nil || len(recs) != 1 || string(recs[0].Fields) != `{"a":1}` {
		t.Errorf("after reopen List = %+v, %v", recs, err)
	}
	wantMigrations(t, dsn)
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	openTest(t, dsn).Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations (version) VALUES (999)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	_, err = Open(t.Context(), dsn, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "upgrade the relay") {
		t.Errorf("Open of a newer schema: err = %v, want a refusal", err)
	}
}

func TestOpenBadDSN(t *testing.T) {
	if _, err := Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", testLogger(t)); err == nil {
		t.Errorf("Open of an unreachable database succeeded")
	}
	if _, err := Open(t.Context(), "::not a dsn::", testLogger(t)); err == nil {
		t.Errorf("Open of a malformed DSN succeeded")
	}
}

// BenchmarkApply measures Apply throughput against the test database:
//
//	export SEI_TEST_POSTGRES_URL=$(scripts/ci-postgres.sh)
//	go test -run '^$' -bench Apply -benchtime 20x ./relay/store/pgstore/
func BenchmarkApply(b *testing.B) {
	for _, bc := range []struct {
		name      string
		size      int
		redeliver bool
	}{
		{"batch=100", 100, false},
		{"batch=1000", 1000, false},
		{"batch=1000/redelivered", 1000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			storetest.BenchApply(b, openTest(b, storetest.PostgresSchema(b)), bc.size, bc.redeliver)
		})
	}
}

// TestTwoRelaysFollow has two stores on one schema write concurrently while
// a reader follows the feed: it must end with every record.
func TestTwoRelaysFollow(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	storetest.FollowWhileWriting(t, openTest(t, dsn), openTest(t, dsn), openTest(t, dsn))
}

// TestFeedOneWriterPerTenant shows the scheme that closes the visibility
// gap: while a transaction holds a tenant's feed lock (as an Apply does
// until it commits), another Apply of that tenant waits, and an Apply of
// another tenant does not.
func TestFeedOneWriterPerTenant(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	s := openTest(t, dsn)
	r := store.Record{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "a", SysUpdatedOn: "2026-01-01 00:00:00", Fields: []byte(`{}`)}
	if _, err := s.Apply(t.Context(), []store.Record{r}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT tenant FROM feed_tenants WHERE tenant = 'acme' FOR UPDATE`); err != nil {
		t.Fatalf("lock tenant: %v", err)
	}
	other := r
	other.Tenant = "beta"
	if _, err := s.Apply(t.Context(), []store.Record{other}); err != nil {
		t.Fatalf("Apply of another tenant while acme is locked: %v", err)
	}
	r.SysUpdatedOn = "2026-01-02 00:00:00"
	done := make(chan error, 1)
	go func() { _, err := s.Apply(t.Context(), []store.Record{r}); done <- err }()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		var waiting int
		err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks WHERE NOT granted`).Scan(&waiting)
		if err == nil && waiting == 0 {
			err = errors.New("no Apply waits for the tenant lock")
		}
		return err
	})
	select {
	case err := <-done:
		t.Fatalf("Apply finished (%v) while another writer held its tenant", err)
	default:
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Apply after the lock was released: %v", err)
	}
}

// TestMigrateFeed opens a schema at version 1 holding records: they get
// positions, and the feed serves them.
func TestMigrateFeed(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	for _, sql := range []string{
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		migrations[0].sql,
		`INSERT INTO schema_migrations (version) VALUES (1)`,
		`INSERT INTO records (tenant, integration, table_name, sys_id, sys_updated_on, sys_mod_count, deleted, fields)
		 VALUES ('acme','sn','incident','b','2026-01-01 00:00:00',0,false,'{}'), ('acme','sn','incident','a','2026-01-01 00:00:00',0,true,NULL)`,
	} {
		if _, err := conn.Exec(t.Context(), sql); err != nil {
			t.Fatalf("set up version 1: %v", err)
		}
	}
	s := openTest(t, dsn)
	got, next, err := s.Changes(t.Context(), store.ChangeQuery{Tenant: "acme"})
	if err != nil || len(got) != 2 || got[0].SysID != "a" || !got[0].Deleted || got[1].SysID != "b" {
		t.Fatalf("feed after migration = %+v, %v", got, err)
	}
	r := store.Record{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "c", SysUpdatedOn: "2026-01-01 00:00:00", Fields: []byte(`{}`)}
	if _, err := s.Apply(t.Context(), []store.Record{r}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got, _, err := s.Changes(t.Context(), store.ChangeQuery{Tenant: "acme", Since: next.String()}); err != nil || len(got) != 1 || got[0].SysID != "c" {
		t.Errorf("feed after a write = %+v, %v", got, err)
	}
}

// TestMigrationKeysQuarantineByTenant: a quarantine written by schema 1
// (keyed by id alone) is keyed by its subject's tenant after migration 3.
func TestMigrationKeysQuarantineByTenant(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		migrations[0].sql,
		`INSERT INTO schema_migrations (version) VALUES (1)`,
		`INSERT INTO quarantine (id, subject, data, reason, quarantined_at) VALUES
			('b1', 'sei.ingest.acme.sn.incident', 'xyz', 'decode: x', now()),
			('b2', 'odd.subject', NULL, 'subject: x', now())`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("set up schema 1: %v", err)
		}
	}
	s := openTest(t, dsn)
	got, err := s.QuarantinedBatch(t.Context(), "acme", "b1")
	if err != nil || string(got.Data) != "xyz" || got.Size != 3 {
		t.Errorf("migrated acme/b1 = %+v, %v", got, err)
	}
	if _, err := s.QuarantinedBatch(t.Context(), "", "b2"); err != nil {
		t.Errorf("migrated b2 (no tenant): %v", err)
	}
}

// BenchmarkCopyFloor is the floor of BenchmarkApply: the same rows written
// with a plain COPY into an unindexed table (no upsert, no version guard),
// one COPY per batch of 1000.
func BenchmarkCopyFloor(b *testing.B) {
	dsn := storetest.PostgresSchema(b)
	conn, err := pgx.Connect(b.Context(), dsn)
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(b.Context()))
	if _, err := conn.Exec(b.Context(), `CREATE TABLE copy_floor (tenant text, integration text, table_name text,
		sys_id text, sys_updated_on text, sys_mod_count bigint, deleted boolean, fields json)`); err != nil {
		b.Fatalf("create table: %v", err)
	}
	cols := []string{"tenant", "integration", "table_name", "sys_id", "sys_updated_on", "sys_mod_count", "deleted", "fields"}
	batch := make([]store.Record, 1000)
	records := 0
	for n := 0; b.Loop(); n++ {
		storetest.BenchBatch(batch, n)
		src := pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			r := batch[i]
			return []any{r.Tenant, r.Integration, r.Table, r.SysID, r.SysUpdatedOn, r.SysModCount, r.Deleted, string(r.Fields)}, nil
		})
		if _, err := conn.CopyFrom(b.Context(), pgx.Identifier{"copy_floor"}, cols, src); err != nil {
			b.Fatalf("copy: %v", err)
		}
		records += len(batch)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
