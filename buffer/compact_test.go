package buffer

import (
	"fmt"
	"testing"
	"time"
)

// TestCompactionWithoutBadgerCompactors: Badger runs with no compactors of
// its own, so without the buffer's compaction goroutine every flushed
// memtable would stay a level-0 table for good (and writes would stall at
// 15). Appending and acking 60 MiB must leave the tables small: the acked
// batches' values compacted away.
func TestCompactionWithoutBadgerCompactors(t *testing.T) {
	b := openTest(t, Options{})
	if n := b.db.Opts().NumCompactors; n != 0 {
		t.Fatalf("NumCompactors = %d; this test is about the buffer compacting on its own", n)
	}
	const batches, size = 96, 640 << 10
	for i := range batches {
		got, err := b.Append(t.Context(), Batch{Label: "t", Records: 1, Data: payload(byte(i), size)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Ack(t.Context(), got.Seq); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		b.settled() // as Run does every GCInterval: level 0 keeps tables until it has grown enough
		var tables, l0 int
		var bytes int64
		for _, l := range b.db.Levels() {
			tables += l.NumTables
			bytes += l.Size
			if l.Level == 0 {
				l0 = l.NumTables
			}
		}
		if l0 > 0 || bytes > 3*b.db.Opts().MemTableSize {
			return fmt.Errorf("%d tables (%d in level 0) hold %d bytes after %d MiB written and acked",
				tables, l0, bytes, batches*size>>20)
		}
		return nil
	})
	if !b.Empty() {
		t.Error("buffer not empty after acking everything")
	}
}

// TestCloseStopsCompactor: Close waits for the compaction goroutine (goleak
// in TestMain checks nothing is left) and a second Close is harmless.
func TestCloseStopsCompactor(t *testing.T) {
	b, err := Open(Options{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	b.statfs = plentyFree
	if _, err := b.Append(t.Context(), Batch{Label: "t", Data: payload(1, 1000)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.compact.exited:
	default:
		t.Error("compaction goroutine still running after Close")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
