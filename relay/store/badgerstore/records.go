package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Apply writes recs, newest version wins (see store.Store).
//
// Atomicity is weaker than the interface's "all or none" for batches larger
// than one Badger transaction (about 5 MB of values): such a batch is
// committed in several transactions, in key order. If the process dies
// between two, the records of the first are stored and the rest are not;
// the relay has not acked the message, so the redelivery applies the rest
// and counts the first part as ignored. Within one store the final state is
// the same as for an atomic write. Batches below the size are atomic.
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
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for i := range batch {
		ok, err := applyOne(txn, &batch[i])
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return store.Result{}, fmt.Errorf("apply batch: commit part before record %d: %w", i, err)
			}
			txn = s.db.NewTransaction(true)
			ok, err = applyOne(txn, &batch[i])
		}
		if err != nil {
			return store.Result{}, fmt.Errorf("apply batch: record %s/%s: %w", batch[i].Table, batch[i].SysID, err)
		}
		if ok {
			res.Applied++
		} else {
			res.Ignored++
		}
	}
	if err := txn.Commit(); err != nil {
		return store.Result{}, fmt.Errorf("apply batch: commit: %w", err)
	}
	return res, nil
}

// applyOne writes r in txn when it is newer than the stored version, and
// reports whether it did.
func applyOne(txn *badger.Txn, r *store.Record) (bool, error) {
	key := recordKey(r.Tenant, r.Integration, r.Table, r.SysID)
	item, err := txn.Get(key)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return false, fmt.Errorf("read stored version: %w", err)
	default:
		var newer bool
		err := item.Value(func(v []byte) error {
			stored, _, _, err := decodeVersion(v)
			newer = r.Version().Newer(stored)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("read stored version: %w", err)
		}
		if !newer {
			return false, nil
		}
	}
	if err := txn.Set(key, encodeValue(r)); err != nil {
		return false, err // ErrTxnTooBig must stay unwrapped-equal for the caller
	}
	return true, nil
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
		if err := item.Value(func(v []byte) error { return decodeValue(v, &r) }); err != nil {
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
