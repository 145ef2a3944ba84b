package buffer

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/rs/zerolog"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxBytes     int64  = 1 << 30
	DefaultMinFreeBytes uint64 = 256 << 20
	DefaultGCInterval          = 5 * time.Minute
)

// MaxBatchBytes is the largest Data one batch may carry.
const MaxBatchBytes = 4 << 20

// maxKeyBytes bounds state keys and batch labels.
const maxKeyBytes = 1024

// Errors returned by Buffer. They are permanent for the call that got them;
// ErrFull and ErrDiskFull clear once batches are acked or disk is freed.
var (
	// ErrFull means the batch would take pending data past Options.MaxBytes.
	// Nothing was written: the caller pauses and keeps its cursor.
	ErrFull = errors.New("buffer full")
	// ErrDiskFull means the filesystem holding the buffer has less free space
	// than Options.MinFreeBytes. Nothing was written.
	ErrDiskFull = errors.New("disk almost full")
	// ErrNotFound is returned by Get for an absent key.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("buffer closed")
	// ErrInUse: Open found another process using the buffer (its directory
	// lock is held): a command reading it, or another agent.
	ErrInUse = errors.New("another process is using the buffer")
	// ErrTooBig means a batch (with its state updates) does not fit one
	// transaction; see MaxBatchBytes. Nothing was written.
	ErrTooBig = errors.New("batch too big")
)

// Options configures Open. Only Dir is required.
type Options struct {
	Dir          string           // badger directory, created 0700 when missing
	MaxBytes     int64            // bound on pending batch bytes; 0 means DefaultMaxBytes
	MinFreeBytes uint64           // Append fails with ErrDiskFull below this much free disk; 0 means DefaultMinFreeBytes
	Logger       zerolog.Logger   // Badger logs here: errors and warnings as such, the rest at debug level
	GCInterval   time.Duration    // value-log GC period for Run; 0 means DefaultGCInterval
	Now          func() time.Time // clock for Created and LastGC; nil means time.Now
	// Mirror is a prefix of state keys whose Set also keeps them in
	// <Dir>.mirror.json, so a new buffer made in Dir (after a damaged one
	// was moved aside) starts with them; "" mirrors nothing.
	Mirror string
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = DefaultMinFreeBytes
	}
	if o.GCInterval <= 0 {
		o.GCInterval = DefaultGCInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Buffer is an open outbox. All methods are safe for concurrent use.
type Buffer struct {
	db       *badger.DB
	opts     Options
	log      zerolog.Logger
	instance string
	statfs   func(dir string) (uint64, error) // free bytes for Append's guard; a field so tests can fake it
	done     chan struct{}                    // closed by Close
	compact  compaction                       // the goroutine that compacts after writes

	appendMu sync.Mutex // serialises Append: seq assignment and the MaxBytes check
	repairMu sync.Mutex // serialises repair id assignment
	onRepair atomic.Pointer[func()]
	ackMu    sync.Mutex // serialises the deletes of acked batches and the acked-range records

	// life guards db against Close: every use of db holds it for reading.
	life   sync.RWMutex
	closed bool // guarded by life

	// mu guards the fields below.
	mu             sync.Mutex
	queue          []*entry // pending (unacked) batches in seq order
	lastSeq        uint64   // highest seq ever assigned
	pendingBytes   int64
	pendingRecords int64
	lastGC         time.Time
	wake           chan struct{} // closed and replaced when a batch becomes leasable
	repairs        repairIndex
	acked          ackedIndex

	mirrorMu sync.Mutex        // serialises mirror updates
	mirror   map[string]string // mirrored state; guarded by mirrorMu
}

// Open opens (creating it if needed) the buffer in opts.Dir and rebuilds the
// in-memory index of pending batches. Every batch not acked is pending, leased
// or not before. The directory is locked: a second Open of it fails until
// Close.
//
// A format 1 buffer is migrated in place; a newer one is refused with
// ErrNewerFormat. A buffer Badger cannot open because its files are damaged
// (a table, the MANIFEST, the key registry) fails with an error wrapping
// ErrDamaged: the caller may move it aside (MoveAside) and start afresh.
// Damage Open can pin to a batch or a repair record is repaired there.
func Open(opts Options) (*Buffer, error) {
	if opts.Dir == "" {
		return nil, errors.New("open buffer: no directory given")
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", opts.Dir, err)
	}
	db, err := openBadger(opts)
	if err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", opts.Dir, err)
	}
	b := &Buffer{
		db:     db,
		opts:   opts,
		log:    opts.Logger,
		statfs: diskFree,
		done:   make(chan struct{}),
		wake:   make(chan struct{}),
	}
	if err := b.start(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open buffer %s: %w", opts.Dir, err)
	}
	b.startCompactor()
	return b, nil
}

// start checks the format and loads the indexes, turning a panic of Badger
// on damaged data into ErrDamaged.
func (b *Buffer) start() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: badger panicked reading it: %v", ErrDamaged, p)
		}
	}()
	if err := b.checkFormat(); err != nil {
		return err
	}
	if err := b.load(); err != nil {
		if !errors.Is(err, ErrDamaged) {
			err = fmt.Errorf("%w: %w", ErrDamaged, err)
		}
		return err
	}
	return nil
}

// badgerOptions is the low-memory, fsync-every-commit profile described in
// the package documentation.
func badgerOptions(o Options) badger.Options {
	return badger.DefaultOptions(o.Dir).
		WithLogger(badgerLogger{log: o.Logger}).
		WithSyncWrites(true).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithValueThreshold(1 << 20).
		WithBlockSize(blockSize).
		WithNumCompactors(0).      // compactions run from compactor (compact.go), not on 50 ms tickers
		WithNumLevelZeroTables(1). // compact level 0 once it holds two tables (compact.go)
		WithCompression(options.None).
		WithChecksumVerificationMode(options.OnBlockRead). // tables: verifyTables, before Open
		WithVerifyValueChecksum(true).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
}

// load reads (or makes) the instance id and last seq and indexes the pending
// batches.
func (b *Buffer) load() error {
	err := b.db.Update(func(txn *badger.Txn) error {
		id, err := getValue(txn, keyInstance)
		if errors.Is(err, badger.ErrKeyNotFound) {
			if id, err = newInstanceID(); err != nil {
				return err
			}
			err = txn.Set(keyInstance, id)
		}
		b.instance = string(id)
		return err
	})
	if err != nil {
		return fmt.Errorf("load instance id: %w", err)
	}
	var badMeta, badRepairs []uint64
	err = b.db.View(func(txn *badger.Txn) error {
		var err error
		if badMeta, err = b.loadQueue(txn); err != nil {
			return err
		}
		if badRepairs, err = b.loadRepairs(txn); err != nil {
			return err
		}
		return b.loadAcked(txn)
	})
	if err != nil {
		return err
	}
	return b.repairUnreadable(badMeta, badRepairs)
}

// repairUnreadable removes batches whose metadata and repair records that
// do not decode. Their range is unknown, so one repair of every table takes
// their place.
func (b *Buffer) repairUnreadable(badMeta, badRepairs []uint64) error {
	if len(badMeta) == 0 && len(badRepairs) == 0 {
		return nil
	}
	err := b.db.Update(func(txn *badger.Txn) error {
		for _, id := range badRepairs {
			if err := txn.Delete(seqKey(prefixRepair, id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop damaged repair records: %w", err)
	}
	reason := fmt.Sprintf("%d batch metadata and %d repair records failed their checks at open", len(badMeta), len(badRepairs))
	_, err = b.commitRepair(Repair{Reason: reason}, badMeta)
	return err
}

// loadQueue indexes the pending batches and returns the seqs whose
// metadata is damaged.
func (b *Buffer) loadQueue(txn *badger.Txn) (damaged []uint64, err error) {
	v, err := getValue(txn, keyLastSeq)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return nil, fmt.Errorf("load last seq: %w", err)
	case len(v) != 8:
		return nil, fmt.Errorf("%w: last seq of %d bytes", ErrDamaged, len(v))
	default:
		b.lastSeq = binary.BigEndian.Uint64(v)
	}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Prefix: prefixMeta})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		seq, ok := seqFromKey(prefixMeta, item.Key())
		if !ok {
			return nil, fmt.Errorf("%w: batch index key %q", ErrDamaged, item.Key())
		}
		var e *entry
		if err := item.Value(func(v []byte) error {
			e, _, err = decodeMeta(seq, v)
			return err
		}); err != nil {
			b.log.Error().Err(err).Uint64("batch", seq).Msg("buffer: batch metadata damaged")
			damaged = append(damaged, seq)
			b.lastSeq = max(b.lastSeq, seq)
			continue
		}
		b.queue = append(b.queue, e)
		b.pendingBytes += e.size
		b.pendingRecords += int64(e.records)
		// Never reuse a seq, even if the last-seq key were somehow behind.
		b.lastSeq = max(b.lastSeq, seq)
	}
	return damaged, nil
}

// Close closes the database. It is idempotent and safe on a nil Buffer (what
// a failed Open returns). Blocked Lease calls return ErrClosed.
func (b *Buffer) Close() error {
	if b == nil {
		return nil
	}
	b.stopCompactor()
	b.life.Lock()
	defer b.life.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.done)
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("close buffer %s: %w", b.opts.Dir, err)
	}
	return nil
}

// batchID is the stable, globally unique id of the batch with this seq.
func (b *Buffer) batchID(seq uint64) string {
	return fmt.Sprintf("%s-%016x", b.instance, seq)
}

func newInstanceID() ([]byte, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("make instance id: %w", err)
	}
	return []byte(hex.EncodeToString(r[:])), nil
}

// getValue returns a copy of key's value.
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}
