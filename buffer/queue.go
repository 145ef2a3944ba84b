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

// ackChunk bounds the deletes of one Ack transaction, far below Badger's
// per-transaction entry limit.
const ackChunk = 512

// Append commits the batch and the state updates in one transaction: both or
// neither. It returns the stored batch with Seq, ID and Created set (Data is
// in.Data, not copied). A nil or empty state is fine; a nil value in state
// deletes that key.
//
// Errors: ErrFull when pending bytes plus len(in.Data) would pass MaxBytes,
// ErrDiskFull when the free disk would drop below MinFreeBytes, ErrTooBig
// when the batch (with its state) does not fit one transaction, ErrClosed
// after Close. Nothing is written in any of these cases, so the caller keeps
// its cursor and tries again later.
func (b *Buffer) Append(ctx context.Context, in Batch, state map[string][]byte) (Batch, error) {
	if err := ctx.Err(); err != nil {
		return Batch{}, fmt.Errorf("append batch: %w", err)
	}
	if err := b.checkAppend(in, state); err != nil {
		return Batch{}, fmt.Errorf("append batch: %w", err)
	}
	b.appendMu.Lock()
	defer b.appendMu.Unlock()
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return Batch{}, ErrClosed
	}
	b.mu.Lock()
	seq, pending := b.lastSeq+1, b.pendingBytes
	b.mu.Unlock()
	size := int64(len(in.Data))
	if pending+size > b.opts.MaxBytes {
		return Batch{}, fmt.Errorf("append batch: %w: %d bytes pending + %d new > limit %d",
			ErrFull, pending, size, b.opts.MaxBytes)
	}
	if err := b.checkDisk(uint64(size)); err != nil {
		return Batch{}, fmt.Errorf("append batch: %w", err)
	}
	e := &entry{seq: seq, label: in.Label, records: in.Records, size: size,
		created: time.Unix(0, b.opts.Now().UnixNano()), sum: checksum(in.Data), rng: in.Range}
	err := b.db.Update(func(txn *badger.Txn) error { return writeBatch(txn, e, in.Data, state) })
	if errors.Is(err, badger.ErrTxnTooBig) {
		return Batch{}, fmt.Errorf("append batch %d: %w: %d data bytes with %d state keys pass one transaction",
			seq, ErrTooBig, size, len(state))
	}
	if err != nil {
		return Batch{}, fmt.Errorf("append batch %d: %w", seq, err)
	}
	b.mu.Lock()
	b.lastSeq = seq
	b.queue = append(b.queue, e)
	b.pendingBytes += size
	b.pendingRecords += int64(e.records)
	b.wakeLocked()
	b.mu.Unlock()
	b.wrote()
	return Batch{Seq: seq, ID: b.batchID(seq), Label: e.label, Records: e.records, Created: e.created, Data: in.Data, Range: e.rng}, nil
}

func (b *Buffer) checkAppend(in Batch, state map[string][]byte) error {
	switch {
	case len(in.Data) > MaxBatchBytes:
		return fmt.Errorf("%w: %d data bytes, at most %d", ErrTooBig, len(in.Data), MaxBatchBytes)
	case int64(len(in.Data)) > b.opts.MaxBytes:
		return fmt.Errorf("%w: %d data bytes, more than the whole buffer (%d)", ErrTooBig, len(in.Data), b.opts.MaxBytes)
	case len(in.Label) > maxKeyBytes:
		return fmt.Errorf("label of %d bytes, at most %d", len(in.Label), maxKeyBytes)
	case len(in.Range.Table) > maxKeyBytes || len(in.Range.From) > maxKeyBytes || len(in.Range.To) > maxKeyBytes:
		return fmt.Errorf("range %q: each part at most %d bytes", describe(in.Range), maxKeyBytes)
	case in.Records < 0:
		return fmt.Errorf("negative record count %d", in.Records)
	}
	for k := range state {
		if err := checkStateKey(k); err != nil {
			return err
		}
	}
	return nil
}

// checkDisk refuses a write of n bytes that would leave less than
// MinFreeBytes free.
func (b *Buffer) checkDisk(n uint64) error {
	free, err := b.statfs(b.opts.Dir)
	if err != nil {
		return fmt.Errorf("check free disk of %s: %w", b.opts.Dir, err)
	}
	if free < b.opts.MinFreeBytes || free-b.opts.MinFreeBytes < n {
		return fmt.Errorf("%w: %d bytes free in %s, a write of %d must leave %d",
			ErrDiskFull, free, b.opts.Dir, n, b.opts.MinFreeBytes)
	}
	return nil
}

func writeBatch(txn *badger.Txn, e *entry, data []byte, state map[string][]byte) error {
	var last [8]byte
	binary.BigEndian.PutUint64(last[:], e.seq)
	if err := txn.Set(keyLastSeq, last[:]); err != nil {
		return err
	}
	if err := txn.Set(seqKey(prefixMeta, e.seq), encodeMeta(e)); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	if err := txn.Set(seqKey(prefixData, e.seq), data); err != nil {
		return err
	}
	for k, v := range state {
		if err := writeState(txn, k, v); err != nil {
			return err
		}
	}
	return nil
}

// Lease returns up to max of the oldest pending batches that are not leased,
// in FIFO order, and marks them leased. Leases live in memory only: after a
// restart every unacked batch is pending again. Lease blocks until at least
// one batch is available; it returns the context's error when ctx is done
// first and ErrClosed when the buffer is closed. With a ctx already done it
// does not wait: it returns what is available now, or ctx's error.
func (b *Buffer) Lease(ctx context.Context, max int) ([]Batch, error) {
	for {
		batches, wake, err := b.lease(max)
		if err != nil || len(batches) > 0 {
			return batches, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lease batches: %w", ctx.Err())
		case <-b.done:
			return nil, ErrClosed
		case <-wake:
		}
	}
}

// lease leases what is available now and returns the channel that is closed
// when more may become available.
func (b *Buffer) lease(max int) ([]Batch, <-chan struct{}, error) {
	if max < 1 {
		return nil, nil, fmt.Errorf("lease batches: max must be at least 1 (got %d)", max)
	}
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return nil, nil, ErrClosed
	}
	b.mu.Lock()
	var picked []*entry
	for _, e := range b.queue {
		if len(picked) == max {
			break
		}
		if !e.leased {
			e.leased = true
			picked = append(picked, e)
		}
	}
	wake := b.wake
	b.mu.Unlock()
	if len(picked) == 0 {
		return []Batch{}, wake, nil
	}
	batches, err := b.readBatches(picked)
	if err != nil {
		b.Release(seqsOf(picked)...)
		return nil, nil, fmt.Errorf("lease batches: %w", err)
	}
	return batches, wake, nil
}

// readBatches reads the data of the picked entries by key, so the tombstones
// of acked batches are never crossed, and checks each against its
// checksum. A batch acked meanwhile is skipped. A damaged batch (its data
// fails the checksum, cannot be read, or is gone while its metadata is
// not) is never returned: it is removed and its range becomes a Repair.
func (b *Buffer) readBatches(picked []*entry) ([]Batch, error) {
	batches := make([]Batch, 0, len(picked))
	var missing []uint64
	damaged := map[uint64]string{}
	err := b.db.View(func(txn *badger.Txn) error {
		for _, e := range picked {
			data, err := getValue(txn, seqKey(prefixData, e.seq))
			switch {
			case errors.Is(err, badger.ErrKeyNotFound):
				missing = append(missing, e.seq)
				continue
			case err != nil:
				damaged[e.seq] = fmt.Sprintf("batch %d unreadable: %v", e.seq, err)
				continue
			case int64(len(data)) != e.size || checksum(data) != e.sum:
				damaged[e.seq] = fmt.Sprintf("batch %d failed its checksum", e.seq)
				continue
			}
			batches = append(batches, Batch{Seq: e.seq, ID: b.batchID(e.seq), Label: e.label,
				Records: e.records, Created: e.created, Data: data, Range: e.rng})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, s := range b.stillIndexed(missing) {
		damaged[s] = fmt.Sprintf("batch %d has metadata but no data", s)
	}
	if err := b.repairBatches(damaged); err != nil {
		return nil, err
	}
	return batches, nil
}

// stillIndexed returns the seqs of seqs still in the index. A batch whose
// data is gone was normally acked concurrently and is no longer indexed.
func (b *Buffer) stillIndexed(seqs []uint64) []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []uint64
	for _, s := range seqs {
		if _, ok := b.findLocked(s); ok {
			out = append(out, s)
		}
	}
	return out
}

// repairBatches removes damaged batches, each replaced by a repair of its
// range in the same transaction. The caller holds b.life for reading.
func (b *Buffer) repairBatches(damaged map[uint64]string) error {
	seqs := make([]uint64, 0, len(damaged))
	for s := range damaged {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		b.mu.Lock()
		i, ok := b.findLocked(s)
		var rng Range
		if ok {
			rng = b.queue[i].rng
		}
		b.mu.Unlock()
		if !ok {
			continue
		}
		if _, err := b.commitRepair(Repair{Range: rng, Reason: damaged[s]}, []uint64{s}); err != nil {
			return err
		}
	}
	return nil
}

// Release returns leased batches to pending, ahead of every later batch (the
// FIFO order is by seq). Unknown or unleased seqs are ignored.
func (b *Buffer) Release(seqs ...uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	released := false
	for _, s := range seqs {
		if i, ok := b.findLocked(s); ok && b.queue[i].leased {
			b.queue[i].leased = false
			released = true
		}
	}
	if released {
		b.wakeLocked()
	}
}

// Ack deletes batches for good, after the remote side acknowledged them. It
// is idempotent: unknown or already acked seqs are ignored. Each chunk of
// up to 512 seqs is one fsynced transaction.
func (b *Buffer) Ack(ctx context.Context, seqs ...uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ack batches: %w", err)
	}
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return ErrClosed
	}
	b.mu.Lock()
	known := make([]uint64, 0, len(seqs))
	for _, s := range seqs {
		if _, ok := b.findLocked(s); ok {
			known = append(known, s)
		}
	}
	b.mu.Unlock()
	slices.Sort(known)
	known = slices.Compact(known)
	if err := b.deleteBatches(known); err != nil {
		return fmt.Errorf("ack batches: %w", err)
	}
	b.wrote()
	return nil
}

// deleteBatches deletes batches from the database and then from the index,
// one chunk per transaction. The caller holds b.life for reading.
func (b *Buffer) deleteBatches(seqs []uint64) error {
	for chunk := range slices.Chunk(seqs, ackChunk) {
		b.ackMu.Lock()
		b.mu.Lock()
		acked := map[uint64]Range{}
		for _, s := range chunk {
			if i, ok := b.findLocked(s); ok && b.queue[i].rng != (Range{}) {
				acked[s] = b.queue[i].rng
			}
		}
		b.mu.Unlock()
		var dropped []uint64
		err := b.db.Update(func(txn *badger.Txn) error {
			for _, s := range chunk {
				if err := txn.Delete(seqKey(prefixMeta, s)); err != nil {
					return err
				}
				if err := txn.Delete(seqKey(prefixData, s)); err != nil {
					return err
				}
			}
			var err error
			dropped, err = b.writeAckedLocked(txn, acked)
			return err
		})
		if err != nil {
			b.ackMu.Unlock()
			return fmt.Errorf("delete batches %d..%d: %w", chunk[0], chunk[len(chunk)-1], err)
		}
		b.mu.Lock()
		for _, s := range chunk {
			b.removeLocked(s)
		}
		b.noteAckedLocked(acked, dropped)
		b.mu.Unlock()
		b.ackMu.Unlock()
	}
	return nil
}

func (b *Buffer) findLocked(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(b.queue, seq, func(e *entry, s uint64) int {
		switch {
		case e.seq < s:
			return -1
		case e.seq > s:
			return 1
		}
		return 0
	})
}

func (b *Buffer) removeLocked(seq uint64) {
	i, ok := b.findLocked(seq)
	if !ok {
		return
	}
	e := b.queue[i]
	b.pendingBytes -= e.size
	b.pendingRecords -= int64(e.records)
	b.queue[i] = nil
	if i == 0 {
		b.queue = b.queue[1:] // the usual case: acks come from the head
		return
	}
	b.queue = slices.Delete(b.queue, i, i+1)
}

// wakeLocked wakes every Lease waiting for a batch.
func (b *Buffer) wakeLocked() {
	close(b.wake)
	b.wake = make(chan struct{})
}

func seqsOf(es []*entry) []uint64 {
	seqs := make([]uint64, len(es))
	for i, e := range es {
		seqs[i] = e.seq
	}
	return seqs
}
