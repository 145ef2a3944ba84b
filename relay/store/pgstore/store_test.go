package pgstore

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

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
