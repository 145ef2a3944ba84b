package buffer

import (
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/pageout"
)

// blockSize is the block size of the buffer's Badger tables: 1 MiB, not
// Badger's 4 KiB. A batch (up to wire.MaxPayload, typically 100–300 KiB) is
// one value; with 4 KiB blocks Badger's table builder grows each block by
// doubling and copying (4 KiB, then the value, then twice that to append the
// block trailer), so building an 8 MiB level-0 table took 28 MiB of heap
// (4+8+16 MiB allocator pages). With 1 MiB blocks a block holds several
// batches in the space it starts with, and the same table takes 12 MiB.
// Reads are unaffected: blocks are read in place from the mapped file.
const blockSize = 1 << 20

// compaction is the buffer's own compaction goroutine. Badger's compactors
// (NumCompactors) wake every 50 ms whether or not anything was written: two
// of them were most of an idle agent's CPU (0.85% of a core, against 0.07%
// without them). The buffer runs Badger with none and compacts here instead,
// only after writes: Append and Ack signal, the goroutine compacts when
// level 0 has grown enough (compactionDue), and otherwise sleeps without a
// timer.
//
// Flatten is Badger's only public way to compact: it compacts until the data
// sits in one level, rewriting every table of that level that level 0
// overlaps. The queue's keys only grow, but the forwarded index
// (agent/poll's "rx/" state rows) adds one random key per record, so every
// level-0 table overlaps the whole index: flattening after each memtable
// flush rewrote the whole index every 8 MiB written, which grows with the
// square of the records (205 MiB written for a 300k-record backfill, and
// every table written is mapped into the process). Level 0 is therefore
// flattened only once it holds as many bytes as lie below it (or
// maxLevelZeroTables tables), so the level below at least doubles between
// rewrites and each byte is rewritten a bounded number of times, at the
// cost of keeping up to maxLevelZeroTables memtables' worth of acked
// batches on disk until then; Run's periodic tick (settle) flattens
// whatever level 0 holds.
type compaction struct {
	signal chan struct{} // capacity 1: something was written since the last check
	settle chan struct{} // capacity 1: Run's tick; compact any level-0 table
	stop   chan struct{} // closed by stopCompactor
	exited chan struct{} // closed when the goroutine returns
	once   sync.Once
	// dir is the buffer's directory as the kernel names its mappings, and
	// tables the level-0 table count when the goroutine last released the
	// tables' pages (releaseTables): after each flush and compaction.
	dir    string
	tables int
}

const (
	// maxLevelZeroTables flattens level 0 at this many tables whatever
	// their size, well before Badger stalls writes (NumLevelZeroTablesStall,
	// 15).
	maxLevelZeroTables = 8
)

// startCompactor starts the compaction goroutine; Close stops it.
func (b *Buffer) startCompactor() {
	dir, err := filepath.Abs(b.opts.Dir)
	if err == nil {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
	}
	b.compact = compaction{
		dir:    dir,
		signal: make(chan struct{}, 1),
		settle: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go b.runCompactor()
}

// stopCompactor stops the compaction goroutine and waits for it, letting a
// compaction in progress finish. It is safe to call more than once.
func (b *Buffer) stopCompactor() {
	if b.compact.stop == nil {
		return
	}
	b.compact.once.Do(func() { close(b.compact.stop) })
	<-b.compact.exited
}

// wrote tells the compaction goroutine that something was written. It never
// blocks.
func (b *Buffer) wrote() {
	select {
	case b.compact.signal <- struct{}{}:
	default:
	}
}

// settled asks the compaction goroutine to flatten any level-0 table, as
// Run does every GCInterval. It never blocks.
func (b *Buffer) settled() {
	select {
	case b.compact.settle <- struct{}{}:
	default:
	}
}

func (b *Buffer) runCompactor() {
	defer close(b.compact.exited)
	for {
		var all bool
		select {
		case <-b.compact.stop:
			return
		case <-b.compact.signal:
			all = false
		case <-b.compact.settle:
			all = true
		}
		compacted := b.compactionDue(all)
		if compacted {
			b.compactNow()
		}
		if n := b.levelZeroTables(); compacted || n != b.compact.tables {
			b.compact.tables = n // a flush added a table, or a compaction rewrote them
			releaseTables(b.compact.dir)
		}
	}
}

// compactionDue reports whether a level below 0 is over its target size,
// or level 0 holds a table and all is true, or level 0 holds
// maxLevelZeroTables tables or as many bytes as lie below it.
func (b *Buffer) compactionDue(all bool) bool {
	var tables int
	var l0, below int64
	for _, l := range b.db.Levels() {
		if l.Level == 0 {
			tables, l0 = l.NumTables, l.Size
			continue
		}
		if l.Score > 1 {
			return true
		}
		below += l.Size
	}
	return tables > 0 && (all || tables >= maxLevelZeroTables || l0 >= below)
}

// levelZeroTables is the number of tables in level 0.
func (b *Buffer) levelZeroTables() int {
	for _, l := range b.db.Levels() {
		if l.Level == 0 {
			return l.NumTables
		}
	}
	return 0
}

// compactNow runs one round of Badger's compaction (Flatten: level 0 into the
// base level, and any level over its target down, until the data sits in one
// level). This rewrites the index rows and what is left of the queue's
// batches: the acked ones are dropped, which is what frees their space. An
// error is logged; the next write tries again.
//
// While it runs, the tables it writes are paged out every releaseEvery
// (releaseTables): a compaction rewrites the whole index, tens of MiB after
// a large backfill, and each new table would stay resident until the end.
func (b *Buffer) compactNow() {
	release := func() { releaseTables(b.compact.dir) }
	if err := pageout.While(releaseEvery, release, func() error { return b.db.Flatten(1) }); err != nil {
		b.log.Warn().Err(err).Msg("buffer: compaction")
	}
}

// releaseEvery is how often a running compaction's tables are paged out.
const releaseEvery = 100 * time.Millisecond

// releaseTables pages out the process's mappings of the buffer's table
// files (relay/pageout). Badger writes every table it makes through a
// shared mapping and keeps it mapped, so each table a flush or a
// compaction wrote stayed in the agent's resident set: with the forwarded
// index, that grew with the records ever synced (a 1,000,000-record
// backfill leaves about 70 MiB of tables). The pages are clean (Badger
// msyncs a table before using it) and are read back from the file when a
// read needs them. Errors are ignored: this only saves memory, and
// kernels before 5.4 refuse the advice.
func releaseTables(dir string) {
	_, _ = pageout.Dir(dir, func(path string) bool {
		return strings.HasSuffix(path, ".sst") && filepath.Dir(path) == dir
	})
}
