package badgerstore

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/sei-edge/servicenow-edge/relay/pageout"
	"github.com/sei-edge/servicenow-edge/relay/store"
)

// fakeWork counts what a maintainer ran.
type fakeWork struct {
	due                 atomic.Bool
	checks, compactions atomic.Int32
	pageOuts            atomic.Int32
}

func (f *fakeWork) maintainer(delay time.Duration) *maintainer {
	return newMaintainer(
		func() bool { f.checks.Add(1); return f.due.Load() },
		func() { f.compactions.Add(1); f.due.Store(false) },
		func() { f.pageOuts.Add(1) },
		delay)
}

func TestMaintainerSleepsWithoutTimerWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakeWork
		m := f.maintainer(time.Second)
		go m.run()
		defer m.close()
		// No activity: an hour passes without the goroutine doing anything
		// (a ticker would have woken it, and Sleep returns only once every
		// goroutine of the bubble is blocked).
		time.Sleep(time.Hour)
		synctest.Wait()
		if c, p := f.checks.Load(), f.pageOuts.Load(); c != 0 || p != 0 {
			t.Fatalf("idle maintainer ran: %d compaction checks, %d page-outs", c, p)
		}
	})
}

func TestMaintainerPagesOutOnceAfterActivity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakeWork
		m := f.maintainer(time.Second)
		go m.run()
		defer m.close()

		m.touch()
		synctest.Wait()
		if got := f.checks.Load(); got != 1 {
			t.Fatalf("after one touch: %d compaction checks, want 1", got)
		}
		if got := f.pageOuts.Load(); got != 0 {
			t.Fatalf("page-out ran at once, want it after the delay")
		}
		// Activity within the delay: still one page-out, at the delay.
		time.Sleep(500 * time.Millisecond)
		m.touch()
		synctest.Wait()
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if got := f.pageOuts.Load(); got != 1 {
			t.Fatalf("after 1 s of activity: %d page-outs, want 1", got)
		}
		// Then idle: nothing more, however long.
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := f.pageOuts.Load(); got != 1 {
			t.Fatalf("after an idle hour: %d page-outs, want still 1", got)
		}
		// New activity schedules one more.
		m.touch()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := f.pageOuts.Load(); got != 2 {
			t.Fatalf("after new activity: %d page-outs, want 2", got)
		}
	})
}

func TestMaintainerCompactsOnlyWhenDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakeWork
		m := f.maintainer(time.Second)
		go m.run()
		defer m.close()
		m.touch()
		synctest.Wait()
		if got := f.compactions.Load(); got != 0 {
			t.Fatalf("compacted %d times with nothing due", got)
		}
		f.due.Store(true)
		m.touch()
		synctest.Wait()
		if got := f.compactions.Load(); got != 1 {
			t.Fatalf("compacted %d times with a compaction due, want 1", got)
		}
	})
}

func TestMaintainerCloseStopsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fakeWork
		m := f.maintainer(time.Second)
		go m.run()
		m.touch()
		m.close()
		m.close() // idempotent
		time.Sleep(time.Hour)
		if got := f.pageOuts.Load(); got != 0 {
			t.Fatalf("page-out ran after close")
		}
	})
}

// TestWritesDoNotStallWithoutBadgerCompactors writes many memtables' worth
// of records into a store with 1 MiB memtables. Badger runs no compactors
// of its own, and stalls writes once level 0 holds 15 tables: only the
// store's own compaction lets this finish.
func TestWritesDoNotStallWithoutBadgerCompactors(t *testing.T) {
	if testing.Short() {
		t.Skip("writes about 30 MiB")
	}
	s, err := openWith(t.TempDir(), testLogger(t), func(o badger.Options) badger.Options {
		return o.WithMemTableSize(1 << 20).WithBaseTableSize(256 << 10)
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	fields := []byte(fmt.Sprintf(`{"short_description":%q}`, strings.Repeat("x", 200)))
	for b := range 120 {
		recs := make([]store.Record, 500)
		for i := range recs {
			recs[i] = store.Record{Tenant: "acme", Integration: "sn", Table: "incident",
				SysID: fmt.Sprintf("%08x", (b*500+i)*2654435761%(1<<32)), SysUpdatedOn: "2026-01-01 00:00:00", Fields: fields}
		}
		if _, err := s.Apply(t.Context(), recs); err != nil {
			t.Fatalf("Apply batch %d: %v", b, err)
		}
	}
	deeper := false
	for _, l := range s.db.Levels() {
		if l.Level > 0 && l.NumTables > 0 {
			deeper = true
		}
		if l.Level == 0 && l.NumTables >= 15 {
			t.Errorf("level 0 holds %d tables: compaction did not keep up", l.NumTables)
		}
	}
	if !deeper {
		t.Errorf("no table below level 0: nothing was compacted\n%s", s.db.LevelsToString())
	}
}

func TestPageOutFindsTheStoreMappings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MADV_PAGEOUT is Linux's")
	}
	s := openTest(t)
	r := store.Record{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "a", SysUpdatedOn: "2026-01-01 00:00:00", Fields: []byte(`{"a":1}`)}
	if _, err := s.Apply(t.Context(), []store.Record{r}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	n, err := pageout.Dir(s.mapDir, nil)
	if err != nil {
		t.Fatalf("pageOut: %v", err)
	}
	if n == 0 {
		t.Fatalf("pageOut advised no mapping under %s (value log and memtable are mapped)", s.mapDir)
	}
	got, _, err := s.List(t.Context(), store.Query{Tenant: "acme"})
	if err != nil || len(got) != 1 || string(got[0].Fields) != `{"a":1}` {
		t.Fatalf("after page-out: List = %+v, %v; want the record back", got, err)
	}
}
