package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// ApplyConcurrently has several goroutines apply overlapping batches, every
// version of every key in a different order and batching each, spread over
// stores (which must share their data, like two relays on one database).
// It then checks that exactly the newest version of each key is stored.
func ApplyConcurrently(t *testing.T, stores ...store.Store) {
	t.Helper()
	const (
		keys     = 40
		versions = 12
		workers  = 6
	)
	newest := func(k int) store.Record {
		id := fmt.Sprintf("k%03d", k)
		if k%5 == 0 { // some keys end deleted
			return del("sn", "incident", id, versions, versions)
		}
		return rec("sn", "incident", id, versions, versions, fmt.Sprintf(`{"k":%d,"v":%d}`, k, versions))
	}
	var all []store.Record
	for k := range keys {
		for v := 1; v < versions; v++ {
			all = append(all, rec("sn", "incident", fmt.Sprintf("k%03d", k), v, int64(v), fmt.Sprintf(`{"k":%d,"v":%d}`, k, v)))
		}
		all = append(all, newest(k))
	}

	var applied, ignored atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			mine := append([]store.Record(nil), all...)
			rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for len(mine) > 0 {
				n := min(len(mine), 1+rng.IntN(60))
				res, err := s.Apply(t.Context(), mine[:n])
				if err != nil {
					t.Errorf("worker %d: Apply: %v", w, err)
					return
				}
				applied.Add(int64(res.Applied))
				ignored.Add(int64(res.Ignored))
				mine = mine[n:]
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if total := applied.Load() + ignored.Load(); total != int64(workers*len(all)) {
		t.Errorf("Applied+Ignored = %d, want %d", total, workers*len(all))
	}
	if applied.Load() < keys || applied.Load() > keys*versions {
		t.Errorf("Applied = %d, want between %d and %d", applied.Load(), keys, keys*versions)
	}
	var want []store.Record
	for k := range keys {
		want = append(want, newest(k))
	}
	for i, s := range stores {
		got := listAll(t, s, store.Query{Tenant: tenant, Limit: 7})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("store %d after concurrent applies (-want +got):\n%s", i, diff)
		}
	}
}
