package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// partSetKey is the prefix of every part of one set.
func partSetKey(tenant, integration, set string) []byte {
	k := []byte{prefixPart}
	k = append(append(k, tenant...), 0)
	k = append(append(k, integration...), 0)
	return append(append(k, set...), 0)
}

func partKey(p *store.Part) []byte {
	return binary.BigEndian.AppendUint16(partSetKey(p.Tenant, p.Integration, p.Set), uint16(p.Index))
}

// PutPart stores one part of a part set.
func (s *Store) PutPart(ctx context.Context, p store.Part) error {
	if err := store.CheckPart(&p); err != nil {
		return fmt.Errorf("store part: %w", err)
	}
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("store part: %w", err)
	}
	release, err := s.acquire()
	if err != nil {
		return fmt.Errorf("store part: %w", err)
	}
	defer release()
	done := partDoneKey(p.Tenant, p.Integration, p.Set)
	err = s.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(done); err == nil {
			return store.ErrPartSetDone
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return txn.Set(partKey(&p), v)
	})
	if err != nil {
		return fmt.Errorf("store part %d/%d of set %s: %w", p.Index, p.Count, p.Set, err)
	}
	return nil
}

// partDoneKey marks a set applied.
func partDoneKey(tenant, integration, set string) []byte {
	k := partSetKey(tenant, integration, set)
	k[0] = prefixPartDone
	return k
}

// FinishParts removes the parts of an applied set and marks it applied.
func (s *Store) FinishParts(ctx context.Context, tenant, integration, set string, at time.Time) error {
	if err := s.deletePrefix(partSetKey(tenant, integration, set), partDoneKey(tenant, integration, set), []byte(at.UTC().Format(time.RFC3339Nano))); err != nil {
		return fmt.Errorf("finish part set %s: %w", set, err)
	}
	return nil
}

// Parts returns the stored parts of a set, by index.
func (s *Store) Parts(ctx context.Context, tenant, integration, set string) ([]store.Part, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, fmt.Errorf("read part set %s: %w", set, err)
	}
	defer release()
	var out []store.Part
	err = s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = partSetKey(tenant, integration, set)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var p store.Part
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &p) }); err != nil {
				return fmt.Errorf("read %q: %w", it.Item().Key(), err)
			}
			p.Time = p.Time.UTC()
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read part set %s: %w", set, err)
	}
	return out, nil
}

// DeleteParts removes every part of a set.
func (s *Store) DeleteParts(ctx context.Context, tenant, integration, set string) error {
	if err := s.deletePrefix(partSetKey(tenant, integration, set), nil, nil); err != nil {
		return fmt.Errorf("delete part set %s: %w", set, err)
	}
	return nil
}

// deletePrefix deletes every key under prefix in one transaction (a part
// set has at most wire.MaxParts keys), and sets key to val when key is
// not nil.
func (s *Store) deletePrefix(prefix, key, val []byte) error {
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	return s.db.Update(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = prefix, false
		it := txn.NewIterator(opts)
		var keys [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		if key != nil {
			return txn.Set(key, val)
		}
		return nil
	})
}

// ExpireParts removes every set holding a part stored before before.
func (s *Store) ExpireParts(ctx context.Context, before time.Time) (int, error) {
	release, err := s.acquire()
	if err != nil {
		return 0, fmt.Errorf("expire part sets: %w", err)
	}
	var sets, done [][]byte
	err = s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixPartDone}
		it := txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			var at time.Time
			err := it.Item().Value(func(v []byte) error { return at.UnmarshalText(v) })
			if err != nil || at.Before(before) {
				done = append(done, it.Item().KeyCopy(nil))
			}
		}
		it.Close()
		opts.Prefix = []byte{prefixPart}
		it = txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			set := k[:len(k)-2]
			if len(sets) > 0 && bytes.Equal(sets[len(sets)-1], set) {
				continue
			}
			var p struct {
				Time time.Time `json:"time"`
			}
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &p) }); err != nil {
				return fmt.Errorf("read %q: %w", k, err)
			}
			if p.Time.Before(before) {
				sets = append(sets, bytes.Clone(set))
			}
		}
		return ctx.Err()
	})
	release()
	if err != nil {
		return 0, fmt.Errorf("expire part sets: %w", err)
	}
	for _, k := range done {
		if err := s.deletePrefix(k, nil, nil); err != nil {
			return 0, fmt.Errorf("expire part sets: %w", err)
		}
	}
	for i, set := range sets {
		if err := s.deletePrefix(set, nil, nil); err != nil {
			return i, fmt.Errorf("expire part sets: %w", err)
		}
	}
	return len(sets), nil
}
