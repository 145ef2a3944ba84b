package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Apply writes recs, newest version wins (see store.Store), and gives every
// record it writes the next position of its tenant's feed.
//
// Feed visibility: applyMu serialises Apply in this process, and Badger is
// opened by one process only, so positions are handed out and committed in
// one order; a reader's snapshot therefore always holds a prefix of each
// tenant's positions (see store.Feed).
//
// Atomicity is weaker than the interface's "all or none" for batches larger
// than one Badger transaction (about 5 MB of values): such a batch is
// committed in several transactions, in key order, each one whole (records,
// feed entries and heads together). If the process dies between two, the
// records of the first are stored and the rest are not; the relay has not
// acked the message, so the redelivery applies the rest and counts the
// first part as ignored. Within one store the final state is the same as
// for an atomic write. Batches below the size are atomic.
func (s *Store) Apply(ctx context.Context, recs []store.Record) (store.Result, error) {
	if err := ctx.Err(); err != nil {
		return store.Result{}, fmt.Errorf("apply batch: %w", err)
	}
	batch, dropped, err := store.Prepare(recs)
	if err != nil {
		return store.Result{}, fmt.Errorf("apply batch: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return store.Result{}, fmt.Errorf("apply batch: %w", err)
	}
	defer release()
	s.applyMu.Lock()
	defer s.applyMu.Unlock()

	res := store.Result{Ignored: dropped}
	defer func() {
		if res.Applied > 0 {
			s.Notify()
		}
	}()
	chunk := len(batch)
	for i := 0; i < len(batch); {
		n := min(chunk, len(batch)-i)
		applied, err := s.applyChunk(batch[i : i+n])
		if errors.Is(err, badger.ErrTxnTooBig) && n > 1 {
			chunk = n / 2
			continue
		}
		if err != nil {
			return res, fmt.Errorf("apply batch: records %d..%d: %w", i, i+n-1, err)
		}
		res.Applied += applied
		res.Ignored += n - applied
		i += n
	}
	return res, nil
}

// applyChunk writes recs in one transaction and reports how many it wrote.
// On ErrTxnTooBig nothing is written.
func (s *Store) applyChunk(recs []store.Record) (int, error) {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	heads := map[string]uint64{}
	applied := 0
	for i := range recs {
		r := &recs[i]
		head, ok := heads[r.Tenant]
		if !ok {
			var err error
			if head, err = readHead(txn, r.Tenant); err != nil {
				return 0, err
			}
		}
		ok, err := applyOne(txn, r, head+1)
		if err != nil {
			return 0, fmt.Errorf("record %s/%s: %w", r.Table, r.SysID, err)
		}
		if ok {
			head++
			applied++
		}
		heads[r.Tenant] = head
	}
	for tenant, head := range heads {
		if err := txn.Set(headKey(tenant), binary.AppendUvarint(nil, head)); err != nil {
			return 0, err
		}
	}
	if err := txn.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return applied, nil
}

// applyOne writes r at position pos in txn when it is newer than the stored
// version, moving its feed entry, and reports whether it did.
// ErrTxnTooBig comes back unwrapped.
func applyOne(txn *badger.Txn, r *store.Record, pos uint64) (bool, error) {
	key := recordKey(r.Tenant, r.Integration, r.Table, r.SysID)
	item, err := txn.Get(key)
	var old uint64
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return false, fmt.Errorf("read stored version: %w", err)
	default:
		var newer bool
		err := item.Value(func(v []byte) error {
			stored, deleted, _, err := decodeVersion(v)
			if err != nil {
				return err
			}
			newer = r.Version().Newer(stored) || r.Repair && !r.Deleted && !deleted && r.Version() == stored && !sameFields(v, r)
			old, err = storedPosition(v)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("read stored version: %w", err)
		}
		if !newer {
			return false, nil
		}
	}
	if old != 0 {
		if err := txn.Delete(feedKey(r.Tenant, old)); err != nil {
			return false, err
		}
	}
	if err := txn.Set(feedKey(r.Tenant, pos), feedValue(r)); err != nil {
		return false, err
	}
	if err := txn.Set(key, encodeValue(r, pos)); err != nil {
		return false, err
	}
	return true, nil
}

// readHead returns the tenant's highest position in txn (0 for none).
func readHead(txn *badger.Txn, tenant string) (uint64, error) {
	item, err := txn.Get(headKey(tenant))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read feed head of %s: %w", tenant, err)
	}
	var head uint64
	err = item.Value(func(v []byte) error {
		var n int
		if head, n = binary.Uvarint(v); n <= 0 {
			return fmt.Errorf("read feed head of %s: corrupt value %x", tenant, v)
		}
		return nil
	})
	return head, err
}

// List returns a page of records in key order (see store.Store). It reads
// one Badger snapshot, and the cursor names a key, so pages are stable
// while Apply runs.
func (s *Store) List(ctx context.Context, q store.Query) ([]store.Record, string, error) {
	p, err := store.PlanQuery(q)
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	defer release()
	var recs []store.Record
	more := false
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		recs, more, err = listPage(ctx, txn, p)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list records of tenant %s: %w", p.Tenant, err)
	}
	next := ""
	if more {
		last := recs[len(recs)-1]
		next = store.EncodeCursor(store.Cursor{Tenant: last.Tenant, Integration: last.Integration, Table: last.Table, SysID: last.SysID})
	}
	return recs, next, nil
}

// listPage reads up to p.Limit records and reports whether more follow.
func listPage(ctx context.Context, txn *badger.Txn, p store.Plan) ([]store.Record, bool, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = recordPrefix(p.Tenant, p.Integration, p.Table)
	opts.PrefetchSize = min(p.Limit, 100)
	it := txn.NewIterator(opts)
	defer it.Close()

	start := opts.Prefix
	var after []byte
	if p.After != nil {
		after = recordKey(p.After.Tenant, p.After.Integration, p.After.Table, p.After.SysID)
		if bytes.Compare(after, start) > 0 {
			start = after
		}
	}
	var recs []store.Record
	for it.Seek(start); it.Valid(); {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		item := it.Item()
		k := item.Key()
		if after != nil && bytes.Equal(k, after) {
			it.Next()
			continue
		}
		tenant, integration, table, sysID, err := splitRecordKey(k)
		if err != nil {
			return nil, false, err
		}
		if p.Table != "" && table != p.Table {
			// Only without an integration filter: skip to the table in this
			// integration, or past this integration.
			if table < p.Table {
				it.Seek(recordPrefix(tenant, integration, p.Table))
			} else {
				it.Seek(pastIntegration(tenant, integration))
			}
			continue
		}
		if len(recs) == p.Limit {
			return recs, true, nil
		}
		r := store.Record{Tenant: tenant, Integration: integration, Table: table, SysID: sysID}
		if err := item.Value(func(v []byte) error { _, err := decodeValue(v, &r); return err }); err != nil {
			return nil, false, fmt.Errorf("read record %s/%s/%s: %w", integration, table, sysID, err)
		}
		recs = append(recs, r)
		it.Next()
	}
	return recs, false, nil
}

// pastIntegration is the smallest key after every record of integration:
// its prefix with the trailing 0 raised to 1 (names hold no byte below '-').
func pastIntegration(tenant, integration string) []byte {
	k := recordPrefix(tenant, integration, "")
	k[len(k)-1] = 1
	return k
}
