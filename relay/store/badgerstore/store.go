package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// valueThreshold is the size from which a value goes to the value log
// rather than the LSM tree; Badger requires at most 15% of the memtable.
const valueThreshold = 512

// DefaultGCInterval is how often Run collects the value log.
const DefaultGCInterval = 10 * time.Minute

// errClosed is returned by every method called after Close.
var errClosed = errors.New("badger store closed")

// Store is the Badger implementation of store.Store. Create it with Open;
// run Run beside it to reclaim disk; Close it once done.
type Store struct {
	db    *badger.DB
	log   zerolog.Logger
	epoch string // the feed epoch, read at Open

	store.Signal // closed after each Apply that wrote

	maint      *maintainer // compaction and page-out after activity
	mapDir     string      // the store's directory as /proc/self/maps names it
	pageOutOff bool        // a page-out failed (logged); used by the maintainer goroutine (and its compaction's pager) only

	// GCInterval is how often Run collects the value log. Set it before
	// calling Run; Open sets DefaultGCInterval.
	GCInterval time.Duration

	// applyMu serialises Apply: the version check and the write of a key
	// must not interleave with another Apply's. Badger's own conflict
	// detection would catch it too, but as retries; one writer is simpler
	// and, with fsync per transaction, no slower.
	applyMu sync.Mutex

	// closeMu guards the fields below; every method holds it shared, Close
	// exclusively, so Close waits for calls in flight.
	closeMu  sync.RWMutex
	closed   bool
	closeErr error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir. Badger holds a lock on
// dir: a second Open of the same dir fails until Close, even in one process.
func Open(dir string, log zerolog.Logger) (*Store, error) {
	return openWith(dir, log, nil)
}

// openWith is Open with tune, when not nil, changing Badger's options (tests
// use small memtables).
func openWith(dir string, log zerolog.Logger, tune func(badger.Options) badger.Options) (*Store, error) {
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log: log}).
		WithSyncWrites(true).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		// Record values (a few KiB each) go to the value log, so the
		// LSM tree holds keys and pointers only: memtables fill 10x
		// slower and flushes and compactions build small tables.
		// Inline, every record's bytes went through the table builders
		// (the relay's largest heap consumer, growing with volume).
		WithValueThreshold(valueThreshold).
		// No Badger compactors: they poll every 50 ms even when idle.
		// The store compacts itself after writes (see maintainer).
		WithNumCompactors(0)
	if tune != nil {
		opts = tune(opts)
	}
	db, err := badger.Open(opts)
	if err != nil && strings.HasSuffix(err.Error(), z.NewFile.Error()) { // wrapped with %+v, not %w
		// Badger 4.9.6 fails the first Open after a kill that left an
		// empty memtable file, and repairs it doing so: the second Open
		// succeeds (dgraph-io/badger#2207; TestKilledRelayLosesNothing in
		// relay/feedpub hit it about once in ten runs).
		db, err = badger.Open(opts)
	}
	if err != nil {
		return nil, fmt.Errorf("open badger store %s: %w", dir, err)
	}
	s := &Store{db: db, log: log, GCInterval: DefaultGCInterval}
	s.mapDir, err = filepath.Abs(dir)
	if err == nil {
		s.mapDir, err = filepath.EvalSymlinks(s.mapDir) // /proc/self/maps shows the real path
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open badger store %s: %w", dir, err)
	}
	s.maint = newMaintainer(s.compactionDue, s.compact, s.pageOut, pageOutDelay)
	go s.maint.run()
	if err := s.migrate(); err != nil {
		s.maint.close()
		_ = db.Close()
		return nil, fmt.Errorf("open badger store %s: %w", dir, err)
	}
	return s, nil
}

// migrate records the layout version in a new store, brings an older
// layout up to date (1 -> 2: the feed; 2 -> 3: the quarantine by tenant),
// refuses a store written by a newer relay, and loads the feed epoch.
func (s *Store) migrate() error {
	var current uint64
	err := s.db.Update(func(txn *badger.Txn) error {
		var err error
		if s.epoch, err = loadEpoch(txn); err != nil {
			return err
		}
		item, err := txn.Get(schemaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			current = schemaVersion
			return txn.Set(schemaKey, binary.AppendUvarint(nil, schemaVersion))
		}
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		got, n := binary.Uvarint(v)
		switch {
		case n <= 0:
			return fmt.Errorf("read schema version: corrupt value %x", v)
		case got > schemaVersion:
			return fmt.Errorf("check schema version: store has layout %d, this relay knows up to %d (upgrade the relay)", got, schemaVersion)
		}
		current = got
		return nil
	})
	if err != nil || current == schemaVersion {
		return err
	}
	if current < 2 {
		if err := s.migrateFeed(); err != nil {
			return err
		}
	}
	if current < 3 {
		if err := s.migrateQuarantine1(); err != nil {
			return fmt.Errorf("migrate quarantine to layout 3: %w", err)
		}
	}
	s.log.Info().Uint64("version", schemaVersion).Msg("migrated badger store layout")
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(schemaKey, binary.AppendUvarint(nil, schemaVersion))
	})
}

// migrateQuarantine1 re-keys layout 1's quarantine ('q' + id, data inside
// the value) by tenant, taken from each batch's subject, one batch per
// transaction (a layout 1 quarantine was unbounded). Layout 3 keys hold a
// NUL, older keys none, so a migration cut short resumes where it was.
func (s *Store) migrateQuarantine1() error {
	var old [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = []byte{prefixQuarantine}, false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if k := it.Item().Key(); bytes.IndexByte(k, 0) < 0 {
				old = append(old, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		err := s.db.Update(func(txn *badger.Txn) error {
			item, err := txn.Get(k)
			if err != nil {
				return err
			}
			var q store.Quarantined
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &q) }); err != nil {
				return fmt.Errorf("read %q: %w", k, err)
			}
			q.Tenant = store.QuarantineTenant(q.Subject)
			if err := txn.Delete(k); err != nil {
				return err
			}
			return putQuarantined(txn, q)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// acquire holds off Close until release is called; it fails after Close.
func (s *Store) acquire() (release func(), err error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, errClosed
	}
	s.maint.touch()
	return s.closeMu.RUnlock, nil
}

// Ping reports whether the store is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	release, err := s.acquire()
	if err != nil {
		return fmt.Errorf("ping badger store: %w", err)
	}
	defer release()
	err = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(schemaKey)
		return err
	})
	if err != nil {
		return fmt.Errorf("ping badger store: %w", err)
	}
	return nil
}

// Close waits for calls in flight and closes Badger. It is idempotent: later
// calls return the first call's result.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	s.maint.close()
	if err := s.db.Close(); err != nil {
		s.closeErr = fmt.Errorf("close badger store: %w", err)
	}
	return s.closeErr
}

// Run collects Badger's value log every GCInterval until ctx ends, then
// returns nil. It starts no goroutines. Close the store only after Run
// returned (Close waits for a collection in progress anyway).
func (s *Store) Run(ctx context.Context) error {
	interval := s.GCInterval
	if interval <= 0 {
		interval = DefaultGCInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.CollectGarbage(ctx); err != nil {
				return err
			}
		}
	}
}

// CollectGarbage rewrites value log files until none is worth rewriting (at
// least half garbage) or ctx ends. Run calls it; it returns an error only
// when the store is closed.
func (s *Store) CollectGarbage(ctx context.Context) error {
	release, err := s.acquire()
	if err != nil {
		return fmt.Errorf("collect badger value log: %w", err)
	}
	defer release()
	for n := 0; ctx.Err() == nil; n++ {
		err := s.db.RunValueLogGC(0.5)
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			if n > 0 {
				s.log.Info().Int("files", n).Msg("badger value log collected")
			}
		default:
			s.log.Warn().Err(err).Msg("collect badger value log")
		}
		return nil
	}
	return nil
}
