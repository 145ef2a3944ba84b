package buffer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Repair is a part of the source to read again because what the buffer
// held of it was damaged (or the relay could not decode it). The buffer
// only keeps it: the caller reads Range again and then calls
// ResolveRepairs. Pending repairs survive restarts.
//
// A Range with no Table means every table; a Range with no From means
// "from the last point the relay confirmed", and Whole means from the very
// start of the caller's window (its lookback), whatever was confirmed.
type Repair struct {
	ID     uint64    `json:"id"`
	Range  Range     `json:"range"`
	Whole  bool      `json:"whole,omitempty"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

const repairV1 = 1

func encodeRepair(r Repair) []byte {
	p := []byte{repairV1}
	p = binary.AppendVarint(p, r.Time.UnixNano())
	whole := byte(0)
	if r.Whole {
		whole = 1
	}
	p = append(p, whole)
	for _, s := range []string{r.Range.Table, r.Range.From, r.Range.To, truncate(r.Reason, maxKeyBytes)} {
		p = appendString(p, s)
	}
	return binary.BigEndian.AppendUint32(p, checksum(p))
}

func decodeRepair(id uint64, p []byte) (Repair, error) {
	if len(p) < 6 || p[0] != repairV1 || binary.BigEndian.Uint32(p[len(p)-4:]) != checksum(p[:len(p)-4]) {
		return Repair{}, fmt.Errorf("%w: repair record %d", ErrDamaged, id)
	}
	d := decoder{p: p[1 : len(p)-4]}
	r := Repair{ID: id, Time: time.Unix(0, d.varint("time"))}
	if len(d.p) > 0 {
		r.Whole, d.p = d.p[0] == 1, d.p[1:]
	}
	r.Range = Range{Table: d.string("table"), From: d.string("from"), To: d.string("to")}
	r.Reason = d.string("reason")
	return r, d.err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// RepairStats counts repairs for status and metrics.
type RepairStats struct {
	Total   int64    // repairs ever recorded in this buffer
	Pending int      // repairs not yet resolved
	Last    *Repair  // the most recent, resolved or not; nil before the first
	Tables  []string // tables with a pending repair ("" means every table)
}

// AddRepair records r (its ID and, when zero, Time are assigned) and
// returns it. It is fsynced like every write.
func (b *Buffer) AddRepair(ctx context.Context, r Repair) (Repair, error) {
	return b.addRepair(ctx, r, false)
}

// AddRequestedRepair is AddRepair for a range read again because it was
// asked for, not because damage was found (a hosted pipeline taking over
// an integration restarts every table from the relay's confirmations):
// it is recorded and resolved alike, and logged at info level as such.
func (b *Buffer) AddRequestedRepair(ctx context.Context, r Repair) (Repair, error) {
	return b.addRepair(ctx, r, true)
}

// addRepair records r with no damaged batch to delete; requested says
// how it is logged.
func (b *Buffer) addRepair(ctx context.Context, r Repair, requested bool) (Repair, error) {
	if err := ctx.Err(); err != nil {
		return Repair{}, fmt.Errorf("add repair: %w", err)
	}
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return Repair{}, ErrClosed
	}
	return b.recordRepair(r, nil, requested)
}

// commitRepair writes r together with the deletion of the damaged batches
// seqs, in one transaction, and updates the index. The caller holds b.life
// for reading.
func (b *Buffer) commitRepair(r Repair, seqs []uint64) (Repair, error) {
	return b.recordRepair(r, seqs, false)
}

// recordRepair is commitRepair; requested logs r as asked for rather
// than as damage found.
func (b *Buffer) recordRepair(r Repair, seqs []uint64, requested bool) (Repair, error) {
	b.repairMu.Lock()
	defer b.repairMu.Unlock()
	if r.Time.IsZero() {
		r.Time = time.Unix(0, b.opts.Now().UnixNano())
	}
	b.mu.Lock()
	r.ID = b.repairs.total + 1
	b.mu.Unlock()
	err := b.db.Update(func(txn *badger.Txn) error {
		for _, s := range seqs {
			if err := txn.Delete(seqKey(prefixMeta, s)); err != nil {
				return err
			}
			if err := txn.Delete(seqKey(prefixData, s)); err != nil {
				return err
			}
		}
		var total [8]byte
		binary.BigEndian.PutUint64(total[:], r.ID)
		if err := txn.Set(keyRepairs, total[:]); err != nil {
			return err
		}
		return txn.Set(seqKey(prefixRepair, r.ID), encodeRepair(r))
	})
	if err != nil {
		return Repair{}, fmt.Errorf("record repair of %s: %w", describe(r.Range), err)
	}
	b.mu.Lock()
	for _, s := range seqs {
		b.removeLocked(s)
	}
	b.repairs.total = r.ID
	b.repairs.pending = append(b.repairs.pending, r)
	last := r
	b.repairs.last = &last
	b.mu.Unlock()
	if requested {
		b.log.Info().Str("table", r.Range.Table).Str("from", r.Range.From).Str("to", r.Range.To).Str("reason", r.Reason).
			Msg("buffer: range recorded to be read again from the source, as asked")
	} else {
		b.log.Error().Str("table", r.Range.Table).Str("from", r.Range.From).Str("to", r.Range.To).
			Uints64("batch", seqs).Str("reason", r.Reason).
			Msg("buffer: damage found; the range will be read again from the source")
	}
	if f := b.onRepair.Load(); f != nil {
		(*f)()
	}
	return r, nil
}

// OnRepair sets f to be called after each repair is recorded (the agent
// wakes its poller, so the range is read again now rather than at the next
// interval). f must not block; nil removes it.
func (b *Buffer) OnRepair(f func()) {
	if f == nil {
		b.onRepair.Store(nil)
		return
	}
	b.onRepair.Store(&f)
}

// Repairs returns the pending repairs, oldest first.
func (b *Buffer) Repairs() []Repair {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.repairs.pending)
}

// ResolveRepairs removes pending repairs once their ranges were read again.
// Unknown ids are ignored.
func (b *Buffer) ResolveRepairs(ctx context.Context, ids ...uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("resolve repairs: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return ErrClosed
	}
	err := b.db.Update(func(txn *badger.Txn) error {
		for _, id := range ids {
			if err := txn.Delete(seqKey(prefixRepair, id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("resolve repairs %v: %w", ids, err)
	}
	b.mu.Lock()
	b.repairs.pending = slices.DeleteFunc(b.repairs.pending, func(r Repair) bool { return slices.Contains(ids, r.ID) })
	b.mu.Unlock()
	return nil
}

// RepairStats returns the repair counters.
func (b *Buffer) RepairStats() RepairStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := RepairStats{Total: int64(b.repairs.total), Pending: len(b.repairs.pending)}
	if b.repairs.last != nil {
		last := *b.repairs.last
		s.Last = &last
	}
	for _, r := range b.repairs.pending {
		if !slices.Contains(s.Tables, r.Range.Table) {
			s.Tables = append(s.Tables, r.Range.Table)
		}
	}
	return s
}

// repairIndex is the in-memory view of the repairs; guarded by Buffer.mu.
type repairIndex struct {
	total   uint64
	pending []Repair
	last    *Repair
}

// loadRepairs reads the repair counter and the pending repairs. A damaged
// repair record is replaced by a repair of everything: its range is lost,
// not its meaning.
func (b *Buffer) loadRepairs(txn *badger.Txn) (damaged []uint64, err error) {
	v, err := getValue(txn, keyRepairs)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return nil, fmt.Errorf("load repair count: %w", err)
	case len(v) == 8:
		b.repairs.total = binary.BigEndian.Uint64(v)
	}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefixRepair})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		id, ok := seqFromKey(prefixRepair, it.Item().Key())
		var r Repair
		err := it.Item().Value(func(v []byte) (err error) { r, err = decodeRepair(id, v); return err })
		if !ok || err != nil {
			damaged = append(damaged, id)
			continue
		}
		b.repairs.total = max(b.repairs.total, id)
		b.repairs.pending = append(b.repairs.pending, r)
	}
	if n := len(b.repairs.pending); n > 0 {
		last := b.repairs.pending[n-1]
		b.repairs.last = &last
	}
	return damaged, nil
}

func describe(r Range) string {
	if r.Table == "" {
		return "every table"
	}
	return fmt.Sprintf("%s %s..%s", r.Table, r.From, r.To)
}
