package buffer

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Report is what Verify found.
type Report struct {
	Batches   int      // pending batches read
	Bytes     int64    // of their data
	StateKeys int      // state values read
	Damaged   []string // one line per damaged batch or state value
	Reread    []Range  // the ranges of the damaged batches, read again once the agent leases them
	Repairs   []Repair // repairs pending from before
}

// Verify reads every pending batch and state value and checks each against
// its checksum. It changes nothing: a damaged batch is repaired when it is
// next leased, a damaged state value when its owner next reads it.
func (b *Buffer) Verify(ctx context.Context) (Report, error) {
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return Report{}, ErrClosed
	}
	b.mu.Lock()
	entries := make([]entry, len(b.queue))
	for i, e := range b.queue {
		entries[i] = *e
	}
	rep := Report{Repairs: append([]Repair(nil), b.repairs.pending...)}
	b.mu.Unlock()
	err := b.db.View(func(txn *badger.Txn) error {
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			rep.Batches++
			data, err := getValue(txn, seqKey(prefixData, e.seq))
			var why string
			switch {
			case err != nil:
				why = fmt.Sprintf("unreadable: %v", err)
			case int64(len(data)) != e.size || checksum(data) != e.sum:
				why = "failed its checksum"
			default:
				rep.Bytes += int64(len(data))
				continue
			}
			rep.Damaged = append(rep.Damaged, fmt.Sprintf("batch %d (%s, %d records) %s", e.seq, e.label, e.records, why))
			rep.Reread = append(rep.Reread, e.rng)
		}
		return verifyState(txn, &rep)
	})
	if err != nil {
		return rep, fmt.Errorf("verify buffer %s: %w", b.opts.Dir, err)
	}
	return rep, nil
}

func verifyState(txn *badger.Txn, rep *Report) error {
	// One key at a time: the state holds the agent's per-record index
	// (millions of keys), so nothing here may grow with it.
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixState})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		rep.StateKeys++
		err := item.Value(func(raw []byte) error {
			_, err := decodeState(raw)
			return err
		})
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			rep.Damaged = append(rep.Damaged, fmt.Sprintf("state %s: %v", item.Key()[len(prefixState):], err))
		}
	}
	return nil
}
