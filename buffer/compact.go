package buffer

import (
	"sync"
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
// only after writes: Append and Ack signal, the goroutine compacts when a
// memtable flush left a level-0 table or a level is over its target, and
// otherwise sleeps without a timer.
//
// Flatten is Badger's only public way to compact: it compacts until the data
// sits in one level. For the queue's keys, which only grow, that rewrites
// little more than the tables of acked batches. It does not suit a store with
// random keys (the relay's), where it would rewrite the whole last level
// after every memtable flush.
type compaction struct {
	signal chan struct{} // capacity 1: something was written since the last check
	stop   chan struct{} // closed by stopCompactor
	exited chan struct{} // closed when the goroutine returns
	once   sync.Once
}

// startCompactor starts the compaction goroutine; Close stops it.
func (b *Buffer) startCompactor() {
	b.compact = compaction{
		signal: make(chan struct{}, 1),
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

func (b *Buffer) runCompactor() {
	defer close(b.compact.exited)
	for {
		select {
		case <-b.compact.stop:
			return
		case <-b.compact.signal:
			if b.compactionDue() {
				b.compactNow()
			}
		}
	}
}

// compactionDue reports whether a memtable flush left a table in level 0 or
// a level is over its target size.
func (b *Buffer) compactionDue() bool {
	for _, l := range b.db.Levels() {
		if (l.Level == 0 && l.NumTables > 0) || l.Score > 1 {
			return true
		}
	}
	return false
}

// compactNow runs one round of Badger's compaction (Flatten: level 0 into the
// base level, and any level over its target down, until the data sits in one
// level). The queue's keys only grow, so this rewrites little besides the
// tables whose batches were acked, which is what frees their space. An error
// is logged; the next write tries again.
func (b *Buffer) compactNow() {
	if err := b.db.Flatten(1); err != nil {
		b.log.Warn().Err(err).Msg("buffer: compaction")
	}
}
