package buffer

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// maxAcked is how many acked batches' ranges the buffer remembers, so a
// batch the relay turns out unable to decode can still be read again after
// it left the queue. At one batch per page, that is hours of a busy
// instance.
const maxAcked = 4096

// ackedIndex maps the seqs of recently acked batches to their ranges;
// changed only with Buffer.ackMu and Buffer.mu held, read with either.
type ackedIndex struct {
	seqs   []uint64 // ascending
	ranges map[uint64]Range
}

func encodeRange(r Range) []byte {
	p := []byte{1}
	for _, s := range []string{r.Table, r.From, r.To} {
		p = appendString(p, s)
	}
	return binary.BigEndian.AppendUint32(p, checksum(p))
}

func decodeRange(p []byte) (Range, bool) {
	if len(p) < 5 || p[0] != 1 || binary.BigEndian.Uint32(p[len(p)-4:]) != checksum(p[:len(p)-4]) {
		return Range{}, false
	}
	d := decoder{p: p[1 : len(p)-4]}
	r := Range{Table: d.string("table"), From: d.string("from"), To: d.string("to")}
	return r, d.err == nil
}

func (b *Buffer) loadAcked(txn *badger.Txn) error {
	b.acked.ranges = map[uint64]Range{}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefixAcked})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		seq, ok := seqFromKey(prefixAcked, it.Item().Key())
		if !ok {
			continue
		}
		// A damaged record only loses a shortcut: an unknown batch is
		// re-read whole.
		_ = it.Item().Value(func(v []byte) error {
			if r, ok := decodeRange(v); ok {
				b.acked.seqs = append(b.acked.seqs, seq)
				b.acked.ranges[seq] = r
			}
			return nil
		})
	}
	return nil
}

// writeAcked records the ranges of the batches being acked and drops the
// oldest records past maxAcked, in the ack's transaction. It returns the
// seqs dropped. The caller holds b.ackMu, which guards every change of
// b.acked.
func (b *Buffer) writeAckedLocked(txn *badger.Txn, acked map[uint64]Range) ([]uint64, error) {
	for seq, r := range acked {
		if err := txn.Set(seqKey(prefixAcked, seq), encodeRange(r)); err != nil {
			return nil, err
		}
	}
	over := len(b.acked.seqs) + len(acked) - maxAcked
	if over <= 0 {
		return nil, nil
	}
	drop := b.acked.seqs[:min(over, len(b.acked.seqs))]
	for _, s := range drop {
		if err := txn.Delete(seqKey(prefixAcked, s)); err != nil {
			return nil, err
		}
	}
	return drop, nil
}

func (b *Buffer) noteAckedLocked(acked map[uint64]Range, dropped []uint64) {
	for _, s := range dropped {
		delete(b.acked.ranges, s)
	}
	b.acked.seqs = b.acked.seqs[len(dropped):]
	for seq, r := range acked {
		b.acked.ranges[seq] = r
		b.acked.seqs = append(b.acked.seqs, seq)
	}
	slices.Sort(b.acked.seqs)
}

// AckedRange returns the range of a batch acked recently, by its ID, for
// a batch the relay could not decode. ok is false for an id of another
// buffer instance or a batch it no longer remembers.
func (b *Buffer) AckedRange(id string) (r Range, seq uint64, ok bool) {
	seq, ok = b.seqOfID(id)
	if !ok {
		return Range{}, 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok = b.acked.ranges[seq]
	return r, seq, ok
}

// seqOfID parses a batch ID of this buffer.
func (b *Buffer) seqOfID(id string) (uint64, bool) {
	inst, hex, found := strings.Cut(id, "-")
	if !found || inst != b.instance || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil
}

// OwnsID reports whether id names a batch of this buffer instance.
func (b *Buffer) OwnsID(id string) bool {
	_, ok := b.seqOfID(id)
	return ok
}
