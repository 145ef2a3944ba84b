package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Batch is one unit of the FIFO: an opaque payload with the facts the
// forwarder and the status need.
type Batch struct {
	Seq     uint64    // position in the FIFO, assigned by Append, strictly increasing, never reused
	ID      string    // "<instance>-<seq as 16 hex>": stable and globally unique, fit for Nats-Msg-Id
	Label   string    // the caller's routing label (the agent puts the table name); opaque here
	Records int       // how many records Data holds (for stats)
	Created time.Time // when Append committed it
	Data    []byte    // opaque payload
}

// Key spaces; see the package documentation.
var (
	prefixMeta  = []byte("q/m/")
	prefixData  = []byte("q/d/")
	prefixState = []byte("s/")
	keyInstance = []byte("x/instance")
	keyLastSeq  = []byte("x/seq")
)

// entry is the in-memory index record of one pending batch.
type entry struct {
	seq     uint64
	label   string
	records int
	size    int64
	created time.Time
	leased  bool
}

func seqKey(prefix []byte, seq uint64) []byte {
	k := make([]byte, len(prefix)+8)
	copy(k, prefix)
	binary.BigEndian.PutUint64(k[len(prefix):], seq)
	return k
}

func seqFromKey(prefix, key []byte) (uint64, bool) {
	if len(key) != len(prefix)+8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[len(prefix):]), true
}

func stateKey(key string) []byte {
	return append(append([]byte(nil), prefixState...), key...)
}

// metaVersion is the first byte of every encoded metadata value.
const metaVersion = 1

// encodeMeta encodes e's metadata (not its seq, which is in the key) as
// version, created (unix ns, varint), records, size (uvarints), label.
func encodeMeta(e *entry) []byte {
	p := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(e.label))
	p = append(p, metaVersion)
	p = binary.AppendVarint(p, e.created.UnixNano())
	p = binary.AppendUvarint(p, uint64(e.records))
	p = binary.AppendUvarint(p, uint64(e.size))
	return append(p, e.label...)
}

var errBadMeta = errors.New("bad batch metadata")

// decodeMeta is the inverse of encodeMeta. It rejects anything encodeMeta
// cannot produce.
func decodeMeta(seq uint64, p []byte) (*entry, error) {
	if len(p) == 0 || p[0] != metaVersion {
		return nil, fmt.Errorf("%w: unknown version", errBadMeta)
	}
	p = p[1:]
	created, n := binary.Varint(p)
	if n <= 0 {
		return nil, fmt.Errorf("%w: created", errBadMeta)
	}
	p = p[n:]
	records, n := binary.Uvarint(p)
	if n <= 0 || records > math.MaxInt {
		return nil, fmt.Errorf("%w: records", errBadMeta)
	}
	p = p[n:]
	size, n := binary.Uvarint(p)
	if n <= 0 || size > MaxBatchBytes {
		return nil, fmt.Errorf("%w: size", errBadMeta)
	}
	p = p[n:]
	if len(p) > maxKeyBytes {
		return nil, fmt.Errorf("%w: label too long", errBadMeta)
	}
	return &entry{
		seq:     seq,
		label:   string(p),
		records: int(records),
		size:    int64(size),
		created: time.Unix(0, created),
	}, nil
}
