package buffer

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// ErrStopScan, returned by a ScanState callback, ends the scan early; ScanState
// then returns nil.
var ErrStopScan = errors.New("stop scan")

// ScanState calls fn for each state key that starts with prefix and is not
// before start (start "" means from the prefix's first key), in key order,
// with the key (prefix included) and its value. It reads one consistent
// snapshot and holds one key and value at a time: memory does not grow with
// the number of keys, which is what lets the agent keep a per-record index
// of millions of rows in the state. key and val are valid only during the
// call: the scan copies neither.
//
// fn must not call the buffer's write methods (Append, Set, Ack): Badger
// would wait for the snapshot to be released. A value that fails its
// checksum ends the scan with an error wrapping ErrDamaged; fn's own error
// ends it and is returned as is, except ErrStopScan.
func (b *Buffer) ScanState(prefix, start string, fn func(key, val []byte) error) error {
	if prefix == "" {
		return fmt.Errorf("scan state: empty prefix")
	}
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return ErrClosed
	}
	p := stateKey(prefix)
	seek := p
	if start > prefix {
		seek = stateKey(start)
	}
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(seek); it.ValidForPrefix(p); it.Next() {
			item := it.Item()
			key := item.Key()[len(prefixState):]
			err := item.Value(func(raw []byte) error {
				v, err := decodeState(raw)
				if err != nil {
					return fmt.Errorf("state %q: %w", key, err)
				}
				return fn(key, v)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrStopScan) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scan state %q: %w", prefix, err)
	}
	return nil
}
