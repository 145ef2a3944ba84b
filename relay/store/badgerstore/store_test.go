package badgerstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/storetest"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	goleak.VerifyTestMain(m)
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

func TestReopenKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	r := store.Record{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "a", SysUpdatedOn: "2026-01-01 00:00:00", Fields: []byte(`{"a":1}`)}
	if _, err := s.Apply(t.Context(), []store.Record{r}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if _, err := Open(dir, testLogger(t)); err == nil {
		t.Errorf("second Open of a held dir succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = Open(dir, testLogger(t))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	recs, _, err := s.List(t.Context(), store.Query{Tenant: "acme"})
	if err != nil || len(recs) != 1 || string(recs[0].Fields) != `{"a":1}` {
		t.Errorf("after reopen List = %+v, %v", recs, err)
	}
}

func TestOpenRefusesNewerLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.put("test", schemaKey, []byte{schemaVersion + 1}); err != nil {
		t.Fatalf("put: %v", err)
	}
	s.Close()
	if _, err := Open(dir, testLogger(t)); err == nil {
		t.Fatalf("Open of a newer layout succeeded")
	}
	// The failed Open released the directory lock.
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); err == nil {
		t.Errorf("LOCK file left behind by a failed Open")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	s := openTest(t)
	s.GCInterval = 1 // tick as fast as possible: exercises CollectGarbage
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Let it collect a few times while writes happen.
	for i := range 50 {
		r := store.Record{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "a", SysUpdatedOn: "2026-01-01 00:00:00", SysModCount: int64(i), Fields: make([]byte, 0)}
		if _, err := s.Apply(t.Context(), []store.Record{r}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.CollectGarbage(t.Context()); err == nil {
		t.Errorf("CollectGarbage after Close succeeded")
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, r := range []store.Record{
		{SysUpdatedOn: "2026-01-01 00:00:00", SysModCount: 0, Fields: []byte(`{"a":"b"}`)},
		{SysUpdatedOn: "2026-12-31 23:59:59", SysModCount: 1 << 40, Deleted: true, Reason: "audit"},
		{SysUpdatedOn: "2026-01-01 00:00:00", SysModCount: 3},
	} {
		var got store.Record
		pos, err := decodeValue(encodeValue(&r, 1<<33+7), &got)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if pos != 1<<33+7 || got.SysUpdatedOn != r.SysUpdatedOn || got.SysModCount != r.SysModCount || got.Deleted != r.Deleted || got.Reason != r.Reason || string(got.Fields) != string(r.Fields) {
			t.Errorf("round trip of %+v = %+v at %d", r, got, pos)
		}
	}
	for _, v := range [][]byte{nil, {3, 0}, {1, 0}, {2, 0}, {1, 0, 0, 50, 'x'}, {2, 0, 0, 1, 'x'}, {2, 0, 0, 1, 'x', 1, 9}} {
		if _, err := decodeValue(v, &store.Record{}); !errors.Is(err, errBadValue) {
			t.Errorf("decode %x: err = %v, want errBadValue", v, err)
		}
	}
}

// BenchmarkApply measures Apply throughput with fsync per transaction:
//
//	go test -run '^$' -bench Apply -benchtime 20x ./relay/store/badgerstore/
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
			storetest.BenchApply(b, openTest(b), bc.size, bc.redeliver)
		})
	}
}

// TestOpenMigratesQuarantineByTenant: a layout 1 store (quarantine keyed by
// id alone) opens with each batch under its subject's tenant.
func TestOpenMigratesQuarantineByTenant(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	old := store.Quarantined{ID: "b1", Subject: "sei.ingest.acme.sn.incident", Data: []byte("xyz"), Reason: "decode: x", Time: time.Unix(5, 0).UTC()}
	v, _ := json.Marshal(old)
	if err := s.put("test", append([]byte{prefixQuarantine}, "b1"...), v); err != nil {
		t.Fatal(err)
	}
	if err := s.put("test", schemaKey, binary.AppendUvarint(nil, 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, testLogger(t))
	if err != nil {
		t.Fatalf("Open of layout 1: %v", err)
	}
	defer s.Close()
	got, err := s.QuarantinedBatch(t.Context(), "acme", "b1")
	if err != nil || string(got.Data) != "xyz" || got.Size != 3 {
		t.Fatalf("migrated batch = %+v, %v", got, err)
	}
	list, _, err := s.QuarantineList(t.Context(), store.QuarantineQuery{})
	if err != nil || len(list) != 1 {
		t.Errorf("after migration the quarantine lists %v, %v", list, err)
	}
}
