package api

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/pgstore"
	"github.com/sei-edge/servicenow-edge/relay/store/storetest"
)

// replica is one relay on the shared PostgreSQL schema: its store and its
// HTTP API.
type replica struct {
	st *pgstore.Store
	ts *httptest.Server
}

func newReplicas(t *testing.T, n int) []replica {
	t.Helper()
	dsn := storetest.PostgresSchema(t)
	out := make([]replica, n)
	for i := range out {
		st, err := pgstore.Open(t.Context(), dsn, zerolog.Nop())
		if err != nil {
			t.Fatalf("open replica %d: %v", i, err)
		}
		t.Cleanup(func() { _ = st.Close() })
		srv, err := New(Config{Token: adminToken, Store: st, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), FeedPoll: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = replica{st: st, ts: httptest.NewServer(srv.Handler())}
		t.Cleanup(out[i].ts.Close)
	}
	return out
}

// writeRandomly applies batches of random versions of keys of tenant t1
// (and some of t2) through every replica at once, deletes included, and
// returns when all are done.
func writeRandomly(t *testing.T, reps []replica, batches int) {
	var wg sync.WaitGroup
	for w := range 2 * len(reps) {
		st := reps[w%len(reps)].st
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for b := range batches {
				var recs []store.Record
				for range 1 + rng.IntN(10) {
					r := store.Record{Tenant: "t1", Integration: "snow1", Table: "incident", SysID: fmt.Sprintf("k%03d", rng.IntN(80)),
						SysUpdatedOn: fmt.Sprintf("2026-01-01 00:%02d:%02d", rng.IntN(60), rng.IntN(60)), SysModCount: int64(w),
						Fields: []byte(fmt.Sprintf(`{"w":%d,"b":%d}`, w, b))}
					if rng.IntN(7) == 0 {
						r.Deleted, r.Fields, r.Reason = true, nil, "reconcile"
					}
					if rng.IntN(5) == 0 {
						r.Tenant = "t2"
					}
					recs = append(recs, r)
				}
				if _, err := st.Apply(t.Context(), recs); err != nil {
					t.Errorf("writer %d: Apply: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// storeView lists tenant t1 as the store holds it.
func storeView(t *testing.T, st store.Store) []store.Record {
	t.Helper()
	var all []store.Record
	q := store.Query{Tenant: "t1", Limit: store.MaxLimit}
	for {
		recs, next, err := st.List(t.Context(), q)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		all = append(all, recs...)
		if next == "" {
			return all
		}
		q.After = next
	}
}

// TestTwoReplicasFollowChanges: two relays write to one PostgreSQL schema
// while a reader follows /v1/changes in small pages with wait, alternating
// between the replicas' APIs. Once the writers are done and the reader
// caught up, its view equals the store.
func TestTwoReplicasFollowChanges(t *testing.T) {
	reps := newReplicas(t, 2)
	done := make(chan struct{})
	go func() { defer close(done); writeRandomly(t, reps, 60) }()
	v := view{}
	since := ""
	read := func(i int) int {
		rep := reps[i%len(reps)]
		page, next := getChanges(t, rep.ts.Client(), rep.ts.URL, "tenant=t1&limit=4&wait=100ms", since)
		for _, c := range page {
			v.apply(c.Record)
		}
		since = next
		return len(page)
	}
	i := 0
	for running := true; running; i++ {
		select {
		case <-done:
			running = false
		default:
			read(i)
		}
	}
	for ; read(i) > 0; i++ {
	}
	if t.Failed() {
		return
	}
	if diff := cmp.Diff(storeView(t, reps[0].st), v.records()); diff != "" {
		t.Errorf("reader's view (-store +reader):\n%s", diff)
	}
	t.Logf("reader made %d requests", i)
}

// TestTwoReplicasSnapshotThenFollow: the snapshot is paged from one
// replica and followed from the other while both write.
func TestTwoReplicasSnapshotThenFollow(t *testing.T) {
	reps := newReplicas(t, 2)
	writeRandomly(t, reps, 5) // something to snapshot
	done := make(chan struct{})
	started := false
	between := func(int) {
		if !started {
			started = true
			go func() { defer close(done); writeRandomly(t, reps, 40) }()
		}
	}
	stop := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	v, noops := snapshotThenFollow(t, reps[0].ts.Client(), reps[0].ts.URL, reps[1].ts.URL, between, stop)
	if !started {
		t.Fatal("the snapshot had a single page: no writes during it")
	}
	<-done
	if diff := cmp.Diff(storeView(t, reps[1].st), v.records()); diff != "" {
		t.Errorf("consumer (-store +consumer):\n%s", diff)
	}
	t.Logf("%d feed changes the snapshot already held", noops)
}
