package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
	// Range is the part of the source Data was read from. The buffer
	// never interprets it: when the batch is found damaged, the batch is
	// removed and Range becomes a pending Repair, so the caller reads that
	// part of its source again.
	Range Range
}

// Range is the part of a replayable source a batch covers, in the caller's
// terms: the agent puts the scanned table and its cursors before and after
// the page. The zero Range means "unknown": a repair of it re-reads every
// table from its last confirmed point.
type Range struct {
	Table string `json:"table,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

// Key spaces; see the package documentation.
var (
	prefixMeta   = []byte("q/m/")
	prefixData   = []byte("q/d/")
	prefixState  = []byte("s/")
	prefixRepair = []byte("r/")
	prefixAcked  = []byte("a/")
	keyInstance  = []byte("x/instance")
	keyLastSeq   = []byte("x/seq")
	keyFormat    = []byte("x/format")
	keyRepairs   = []byte("x/repairs")
)

// entry is the in-memory index record of one pending batch.
type entry struct {
	seq     uint64
	label   string
	records int
	size    int64
	created time.Time
	sum     uint32 // CRC-32C of the data
	rng     Range
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

// castagnoli is the CRC-32C table: hardware-accelerated on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// Versions of the encoded metadata, the first byte of its value. Format 1
// buffers hold metaV1 (no checksum, no range); Open migrates them to metaV2.
const (
	metaV1 = 1
	metaV2 = 2
)

// encodeMeta encodes e's metadata (not its seq, which is in the key) as
// version 2: created (unix ns, varint), records, size (uvarints), the data's
// CRC-32C, then label, range table, from and to (each a uvarint length and
// the bytes), and last the CRC-32C of everything before it.
func encodeMeta(e *entry) []byte {
	p := make([]byte, 0, 64+len(e.label)+len(e.rng.Table)+len(e.rng.From)+len(e.rng.To))
	p = append(p, metaV2)
	p = binary.AppendVarint(p, e.created.UnixNano())
	p = binary.AppendUvarint(p, uint64(e.records))
	p = binary.AppendUvarint(p, uint64(e.size))
	p = binary.BigEndian.AppendUint32(p, e.sum)
	for _, s := range []string{e.label, e.rng.Table, e.rng.From, e.rng.To} {
		p = appendString(p, s)
	}
	return binary.BigEndian.AppendUint32(p, checksum(p))
}

func appendString(p []byte, s string) []byte {
	return append(binary.AppendUvarint(p, uint64(len(s))), s...)
}

// ErrDamaged marks data that failed its checksum or could not be decoded:
// a damaged batch, state value or buffer. Nothing damaged is ever returned
// as if it were good.
var ErrDamaged = errors.New("buffer damaged")

var errBadMeta = fmt.Errorf("%w: bad batch metadata", ErrDamaged)

// decodeMeta is the inverse of encodeMeta; it also reads version 1
// metadata (for the migration), whose sum is unknown (hasSum false). It
// rejects anything encodeMeta cannot produce.
func decodeMeta(seq uint64, p []byte) (e *entry, hasSum bool, err error) {
	if len(p) == 0 || (p[0] != metaV1 && p[0] != metaV2) {
		return nil, false, fmt.Errorf("%w: unknown version", errBadMeta)
	}
	version := p[0]
	if version == metaV2 {
		if len(p) < 5 || binary.BigEndian.Uint32(p[len(p)-4:]) != checksum(p[:len(p)-4]) {
			return nil, false, fmt.Errorf("%w: checksum mismatch", errBadMeta)
		}
		p = p[:len(p)-4]
	}
	d := decoder{p: p[1:]}
	created := d.varint("created")
	records := d.uvarint("records", math.MaxInt)
	size := d.uvarint("size", MaxBatchBytes)
	e = &entry{seq: seq, records: int(records), size: int64(size), created: time.Unix(0, created)}
	if version == metaV1 {
		if len(d.p) > maxKeyBytes {
			d.fail("label too long")
		}
		e.label = string(d.p)
		return e, false, d.err
	}
	e.sum = d.uint32("sum")
	e.label = d.string("label")
	e.rng = Range{Table: d.string("range table"), From: d.string("range from"), To: d.string("range to")}
	if d.err == nil && len(d.p) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, false, d.err
	}
	return e, true, nil
}

// decoder reads the fields of an encoded value; the first failure sticks.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errBadMeta, what)
	}
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) uvarint(what string, limit uint64) uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 || v > limit {
		d.fail(what)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) uint32(what string) uint32 {
	if len(d.p) < 4 {
		d.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint32(d.p)
	d.p = d.p[4:]
	return v
}

func (d *decoder) string(what string) string {
	n := d.uvarint(what, maxKeyBytes)
	if d.err != nil || uint64(len(d.p)) < n {
		d.fail(what)
		return ""
	}
	s := string(d.p[:n])
	d.p = d.p[n:]
	return s
}
