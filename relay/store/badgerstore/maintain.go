package badgerstore

import (
	"sync"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/pageout"
)

// pageOutDelay is how long after activity the store pages its mapped files
// out (see relay/pageout): at most once per pageOutDelay while calls keep
// coming, and once more pageOutDelay after the last one.
const pageOutDelay = time.Second

// compactionPageOut is how often a running compaction's pages are paged
// out: it reads and writes the last level at disk speed, so a second's
// worth was up to 170 MiB resident at 1,000,000 records.
const compactionPageOut = 100 * time.Millisecond

// maintainer is the store's own upkeep goroutine, started by Open and
// stopped by Close. It runs only after activity and sleeps without a timer
// otherwise:
//
//   - Compaction. Badger's compactors (NumCompactors) wake every 50 ms
//     whether or not anything was written (levels.go runCompactor, a fixed
//     ticker): two of them were most of an idle relay's CPU. The store runs
//     Badger with none; after each call that may have written, the goroutine
//     compacts when a level's score is over 1 (level 0: more than
//     NumLevelZeroTables tables, the trigger Badger's own compactors use).
//   - Page-out: pageOutDelay after activity, the resident pages of the
//     store's memory-mapped files are handed back to the kernel (pageOut).
//
// The work itself is in the functions given to newMaintainer, so the
// scheduling can be tested on its own.
type maintainer struct {
	signal chan struct{} // capacity 1: there was activity since the last look
	stop   chan struct{} // closed by close
	exited chan struct{} // closed when run returns
	once   sync.Once

	compactionDue func() bool
	compact       func()
	pageOut       func()
	delay         time.Duration
}

func newMaintainer(compactionDue func() bool, compact, pageOut func(), delay time.Duration) *maintainer {
	return &maintainer{
		signal: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{}),
		compactionDue: compactionDue, compact: compact, pageOut: pageOut, delay: delay,
	}
}

// touch tells the goroutine there was activity. It never blocks.
func (m *maintainer) touch() {
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

// close stops the goroutine and waits for it, letting a compaction or
// page-out in progress finish. It is safe to call more than once.
func (m *maintainer) close() {
	m.once.Do(func() { close(m.stop) })
	<-m.exited
}

// run is the goroutine: it compacts when due after each activity, and
// pages out delay after the first activity since the last page-out.
func (m *maintainer) run() {
	defer close(m.exited)
	var pending <-chan time.Time // armed while a page-out is scheduled
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-m.stop:
			return
		case <-m.signal:
			if m.compactionDue() {
				m.compact()
			}
			if pending == nil {
				if timer == nil {
					timer = time.NewTimer(m.delay)
				} else {
					timer.Reset(m.delay)
				}
				pending = timer.C
			}
		case <-pending:
			pending = nil
			m.pageOut()
		}
	}
}

// compactionDue reports whether a level's score is over 1: level 0 holds
// more than NumLevelZeroTables tables, or another level is over its target
// size. Flatten's own loop stops at the same score.
func (s *Store) compactionDue() bool {
	for _, l := range s.db.Levels() {
		if l.Score > 1 {
			return true
		}
	}
	return false
}

// compact runs Badger's compaction until the data sits in one level
// (Flatten, Badger's only public way to compact). Level 0 goes into the
// base level and the base level into the last. With the relay's random
// keys that rewrites the last level's tables, which hold keys and value
// pointers only (values live in the value log): about 100 bytes per record.
// Compacting only when level 0 is over its count keeps that to once per six
// memtable flushes. An error is logged; the next write tries again.
//
// A compaction reads the last level's tables and writes new ones through
// their mappings, for seconds on a large store: pageout.While pages out
// every compactionPageOut meanwhile, or those pages would all be resident
// until it ends (RSS peaks of 400 MiB at 1,000,000 records without it).
func (s *Store) compact() {
	if err := pageout.While(compactionPageOut, s.pageOut, func() error { return s.db.Flatten(1) }); err != nil {
		s.log.Warn().Err(err).Msg("badger store: compaction")
	}
}

// pageOut hands the resident pages of the store's mapped files back to the
// kernel (relay/pageout). A failure (a kernel before 5.4) is
// logged once and stops further attempts: the kernel still reclaims the
// pages under memory pressure.
func (s *Store) pageOut() {
	if s.pageOutOff {
		return
	}
	if _, err := pageout.Dir(s.mapDir, nil); err != nil {
		s.pageOutOff = true
		s.log.Warn().Err(err).Msg("badger store: cannot page out mapped files; RSS will include the store's file cache")
	}
}
