package badgerstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Changes returns a page of the tenant's feed (see store.Feed). It reads one
// Badger snapshot, so the head it reports matches the page.
func (s *Store) Changes(ctx context.Context, q store.ChangeQuery) ([]store.Change, store.FeedPosition, error) {
	p, err := store.PlanChanges(q, s.epoch)
	if err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read changes: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read changes: %w", err)
	}
	defer release()
	var (
		out  []store.Change
		seqs []uint64
		full bool
		head uint64
	)
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		if head, err = readHead(txn, p.Tenant); err != nil {
			return err
		}
		out, seqs, full, err = changesPage(ctx, txn, p, s.epoch)
		return err
	})
	if err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read changes of tenant %s: %w", p.Tenant, err)
	}
	next, err := store.NextPosition(p, s.epoch, seqs, full, head)
	if err != nil {
		return nil, store.FeedPosition{}, fmt.Errorf("read changes: %w", err)
	}
	return out, next, nil
}

// changesPage reads up to p.Limit feed entries after p.Since and reports
// whether the page is full.
func changesPage(ctx context.Context, txn *badger.Txn, p store.ChangePlan, epoch string) ([]store.Change, []uint64, bool, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = append(append([]byte{prefixFeed}, p.Tenant...), 0)
	opts.PrefetchValues = true
	it := txn.NewIterator(opts)
	defer it.Close()
	var (
		out  []store.Change
		seqs []uint64
	)
	for it.Seek(feedKey(p.Tenant, p.SinceSeq()+1)); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, nil, false, err
		}
		k := it.Item().Key()
		seq := binary.BigEndian.Uint64(k[len(k)-8:])
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, nil, false, fmt.Errorf("read feed entry %d: %w", seq, err)
		}
		integration, table, sysID, ok := splitFeedValue(v)
		if !ok {
			return nil, nil, false, fmt.Errorf("read feed entry %d: corrupt value %q", seq, v)
		}
		if (p.Integration != "" && integration != p.Integration) || (p.Table != "" && table != p.Table) {
			continue
		}
		if len(out) == p.Limit {
			return out, seqs, true, nil
		}
		r := store.Record{Tenant: p.Tenant, Integration: integration, Table: table, SysID: sysID}
		item, err := txn.Get(recordKey(p.Tenant, integration, table, sysID))
		if err != nil {
			return nil, nil, false, fmt.Errorf("read record of feed entry %d: %w", seq, err)
		}
		if err := item.Value(func(v []byte) error { _, err := decodeValue(v, &r); return err }); err != nil {
			return nil, nil, false, fmt.Errorf("read record of feed entry %d: %w", seq, err)
		}
		out = append(out, store.Change{Record: r, Position: store.FeedPosition{Epoch: epoch, Tenant: p.Tenant, Seq: seq}.String()})
		seqs = append(seqs, seq)
	}
	return out, seqs, false, nil
}

func splitFeedValue(v []byte) (integration, table, sysID string, ok bool) {
	parts := strings.SplitN(string(v), "\x00", 3)
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// FeedHead returns the tenant's highest position.
func (s *Store) FeedHead(ctx context.Context, tenant string) (store.FeedPosition, error) {
	if _, err := store.PlanChanges(store.ChangeQuery{Tenant: tenant}, s.epoch); err != nil {
		return store.FeedPosition{}, fmt.Errorf("read feed head: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return store.FeedPosition{}, fmt.Errorf("read feed head: %w", err)
	}
	defer release()
	var head uint64
	err = s.db.View(func(txn *badger.Txn) error {
		head, err = readHead(txn, tenant)
		return err
	})
	if err != nil {
		return store.FeedPosition{}, err
	}
	return store.FeedPosition{Epoch: s.epoch, Tenant: tenant, Seq: head}, nil
}

// FeedTenants lists the tenants with a feed head.
func (s *Store) FeedTenants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.scan([]byte{prefixHead}, func(k, _ []byte) error {
		out = append(out, string(k[1:]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list feed tenants: %w", err)
	}
	return out, nil
}

// FeedMark returns the mark name saved for tenant, or "".
func (s *Store) FeedMark(ctx context.Context, name, tenant string) (string, error) {
	if err := store.CheckMarkName(name); err != nil {
		return "", err
	}
	var mark string
	err := s.scan(markKey(name, tenant), func(k, v []byte) error {
		if bytes.Equal(k, markKey(name, tenant)) {
			mark = string(v)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read feed mark %s/%s: %w", name, tenant, err)
	}
	return mark, nil
}

// SetFeedMark saves the mark name of tenant.
func (s *Store) SetFeedMark(ctx context.Context, name, tenant, mark string) error {
	if err := store.CheckMarkName(name); err != nil {
		return err
	}
	return s.put(fmt.Sprintf("save feed mark %s/%s", name, tenant), markKey(name, tenant), []byte(mark))
}

// loadEpoch reads the feed epoch, making one in a new store.
func loadEpoch(txn *badger.Txn) (string, error) {
	item, err := txn.Get(epochKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		epoch := hex.EncodeToString(b)
		return epoch, txn.Set(epochKey, []byte(epoch))
	}
	if err != nil {
		return "", fmt.Errorf("read feed epoch: %w", err)
	}
	v, err := item.ValueCopy(nil)
	return string(v), err
}

// migrateFeed rewrites every format 1 record value of a layout 1 store to
// format 2, giving each a position in its tenant's feed, in key order. It
// runs at Open, before any Apply, in transactions of bounded size; a crash
// part way leaves layout 1 recorded, and the rerun skips values already at
// format 2.
func (s *Store) migrateFeed() error {
	heads := map[string]uint64{}
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecord}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate to feed layout: %w", err)
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := s.migrateRecord(wb, k, heads); err != nil {
			return fmt.Errorf("migrate record %q to feed layout: %w", k, err)
		}
	}
	for tenant, head := range heads {
		if err := wb.Set(headKey(tenant), binary.AppendUvarint(nil, head)); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("migrate to feed layout: %w", err)
	}
	return nil
}

func (s *Store) migrateRecord(wb *badger.WriteBatch, k []byte, heads map[string]uint64) error {
	tenant, integration, table, sysID, err := splitRecordKey(k)
	if err != nil {
		return err
	}
	r := store.Record{Tenant: tenant, Integration: integration, Table: table, SysID: sysID}
	var pos uint64
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { pos, err = decodeValue(v, &r); return err })
	})
	if err != nil {
		return err
	}
	if pos != 0 {
		heads[tenant] = max(heads[tenant], pos)
		return nil
	}
	heads[tenant]++
	if err := wb.Set(feedKey(tenant, heads[tenant]), feedValue(&r)); err != nil {
		return err
	}
	return wb.Set(k, encodeValue(&r, heads[tenant]))
}
