package badgerstore

import (
	"encoding/binary"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// TestMigrateFeed opens a layout 1 store holding records: they get
// positions, the feed serves them, and new writes follow them.
func TestMigrateFeed(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatalf("open badger: %v", err)
	}
	v1 := func(deleted bool, fields string) []byte {
		b := []byte{valueFormat1, 0}
		if deleted {
			b[1] = flagDeleted
		}
		b = binary.AppendUvarint(b, 3)
		b = binary.AppendUvarint(b, 19)
		return append(append(b, "2026-01-01 00:00:00"...), fields...)
	}
	err = db.Update(func(txn *badger.Txn) error {
		for _, kv := range []struct {
			k, v []byte
		}{
			{schemaKey, binary.AppendUvarint(nil, 1)},
			{recordKey("acme", "sn", "incident", "a"), v1(false, `{"a":1}`)},
			{recordKey("acme", "sn", "incident", "b"), v1(true, "")},
			{recordKey("beta", "sn", "incident", "c"), v1(false, `{}`)},
		} {
			if err := txn.Set(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || db.Close() != nil {
		t.Fatalf("write layout 1: %v", err)
	}
	s, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	got, next, err := s.Changes(t.Context(), store.ChangeQuery{Tenant: "acme"})
	if err != nil || len(got) != 2 || got[0].SysID != "a" || string(got[0].Fields) != `{"a":1}` || !got[1].Deleted || got[1].SysModCount != 3 {
		t.Fatalf("feed after migration = %+v, %v", got, err)
	}
	if next.Seq != 2 {
		t.Errorf("head after migration = %d, want 2", next.Seq)
	}
	r := store.Record{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "a", SysUpdatedOn: "2026-01-02 00:00:00", Fields: []byte(`{"a":2}`)}
	if _, err := s.Apply(t.Context(), []store.Record{r}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	all, _, err := s.Changes(t.Context(), store.ChangeQuery{Tenant: "acme"})
	if err != nil || len(all) != 2 || all[0].SysID != "b" || all[1].SysID != "a" || string(all[1].Fields) != `{"a":2}` {
		t.Errorf("feed after updating a migrated record = %+v, %v", all, err)
	}
	if got, _, _ := s.Changes(t.Context(), store.ChangeQuery{Tenant: "beta"}); len(got) != 1 {
		t.Errorf("feed of beta after migration = %+v", got)
	}
}
