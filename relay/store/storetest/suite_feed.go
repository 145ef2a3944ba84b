package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// feedTests are the shared suite's tests of store.Feed; Run runs them.
var feedTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"FeedPositions", testFeedPositions},
	{"FeedTombstoneReason", testFeedTombstoneReason},
	{"FeedPagingAndFilters", testFeedPagingAndFilters},
	{"FeedBadPositions", testFeedBadPositions},
	{"FeedSignal", testFeedSignal},
	{"FeedMarks", testFeedMarks},
	{"FeedFollowWhileWriting", func(t *testing.T, s store.Store) { FollowWhileWriting(t, s) }},
}

// changes reads the whole feed of q's tenant after q.Since in pages of
// q.Limit and returns it with the last next position.
func changes(t testing.TB, s store.Store, q store.ChangeQuery) ([]store.Change, string) {
	t.Helper()
	var all []store.Change
	for pages := 0; ; pages++ {
		page, next, err := s.Changes(t.Context(), q)
		if err != nil {
			t.Fatalf("Changes(%+v): %v", q, err)
		}
		all = append(all, page...)
		if next.String() == q.Since && len(page) > 0 {
			t.Fatalf("Changes(%+v): next position did not move after %d changes", q, len(page))
		}
		if len(page) == 0 || pages > 100000 {
			return all, next.String()
		}
		q.Since = next.String()
	}
}

func seqOf(t testing.TB, c store.Change) uint64 {
	t.Helper()
	p, err := store.ParseFeedPosition(c.Position)
	if err != nil {
		t.Fatalf("position of %s: %v", c.SysID, err)
	}
	return p.Seq
}

func ids(cs []store.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.SysID
	}
	return out
}

func testFeedPositions(t *testing.T, s store.Store) {
	apply(t, s, rec("sn", "incident", "a", 1, 0, `{"v":1}`), rec("sn", "incident", "b", 1, 0, `{"v":1}`))
	apply(t, s, rec("sn", "incident", "c", 1, 0, `{"v":1}`))
	all, end := changes(t, s, store.ChangeQuery{Tenant: tenant})
	if got := ids(all); !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("feed = %v, want a, b, c", got)
	}
	for i := 1; i < len(all); i++ {
		if seqOf(t, all[i]) <= seqOf(t, all[i-1]) {
			t.Errorf("positions do not grow: %s then %s", all[i-1].Position, all[i].Position)
		}
	}
	// Redeliveries and stale versions get no position.
	wantResult(t, apply(t, s, rec("sn", "incident", "a", 1, 0, `{"v":1}`), rec("sn", "incident", "b", 0, 9, `{"v":0}`)), 0, 2)
	if got, _ := changes(t, s, store.ChangeQuery{Tenant: tenant, Since: end}); len(got) != 0 {
		t.Errorf("after ignored writes the feed grew by %v", ids(got))
	}
	head, err := s.FeedHead(t.Context(), tenant)
	if err != nil || head.String() != end {
		t.Errorf("FeedHead = %v, %v; want the end of the feed %v", head, err, end)
	}
	// A newer version moves the key to the end: its old position is gone.
	apply(t, s, rec("sn", "incident", "a", 2, 0, `{"v":2}`))
	tail, _ := changes(t, s, store.ChangeQuery{Tenant: tenant, Since: end})
	if len(tail) != 1 || tail[0].SysID != "a" || string(tail[0].Fields) != `{"v":2}` || seqOf(t, tail[0]) <= seqOf(t, all[2]) {
		t.Fatalf("feed after updating a = %+v, want a at v2 beyond c", tail)
	}
	all, _ = changes(t, s, store.ChangeQuery{Tenant: tenant})
	if got := ids(all); !cmp.Equal(got, []string{"b", "c", "a"}) {
		t.Errorf("compacted feed = %v, want b, c, a", got)
	}
	// Other tenants have their own feeds.
	other := rec("sn", "incident", "z", 1, 0, `{}`)
	other.Tenant = "other"
	apply(t, s, other)
	if got, _ := changes(t, s, store.ChangeQuery{Tenant: "other"}); len(got) != 1 || got[0].Tenant != "other" {
		t.Errorf("feed of tenant other = %+v", got)
	}
	if got, _ := changes(t, s, store.ChangeQuery{Tenant: tenant}); len(got) != 3 {
		t.Errorf("feed of %s holds %d changes after a write of another tenant, want 3", tenant, len(got))
	}
	tenants, err := s.FeedTenants(t.Context())
	if err != nil || !cmp.Equal(tenants, []string{tenant, "other"}) {
		t.Errorf("FeedTenants = %v, %v", tenants, err)
	}
}

func testFeedTombstoneReason(t *testing.T, s store.Store) {
	apply(t, s, rec("sn", "incident", "a", 1, 0, `{"v":1}`), rec("sn", "incident", "b", 1, 0, `{"v":1}`))
	d := del("sn", "incident", "a", 2, 0)
	d.Reason = "audit"
	r := del("sn", "incident", "c", 2, 0)
	r.Reason = "reconcile"
	apply(t, s, d, r, del("sn", "incident", "b", 2, 0))
	all, _ := changes(t, s, store.ChangeQuery{Tenant: tenant})
	got := map[string]store.Record{}
	for _, c := range all {
		got[c.SysID] = c.Record
	}
	want := map[string]store.Record{"a": d, "b": del("sn", "incident", "b", 2, 0), "c": r}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tombstones in the feed (-want +got):\n%s", diff)
	}
	wantStored(t, s, d)
	bad := rec("sn", "incident", "x", 1, 0, `{}`)
	bad.Reason = "audit"
	if _, err := s.Apply(t.Context(), []store.Record{bad}); !errors.Is(err, store.ErrInvalidRecord) {
		t.Errorf("Apply of an upsert with a delete reason: err = %v, want ErrInvalidRecord", err)
	}
}

func testFeedPagingAndFilters(t *testing.T, s store.Store) {
	var want []string
	for i := range 25 {
		table := []string{"incident", "change_request"}[i%2]
		integ := []string{"sn1", "sn2", "sn1"}[i%3]
		apply(t, s, rec(integ, table, fmt.Sprintf("k%02d", i), 1, 0, `{}`))
		if table == "incident" && integ == "sn1" {
			want = append(want, fmt.Sprintf("k%02d", i))
		}
	}
	all, end := changes(t, s, store.ChangeQuery{Tenant: tenant, Limit: 4})
	if len(all) != 25 {
		t.Errorf("paged feed holds %d changes, want 25", len(all))
	}
	got, fend := changes(t, s, store.ChangeQuery{Tenant: tenant, Integration: "sn1", Table: "incident", Limit: 2})
	if !cmp.Equal(ids(got), want) {
		t.Errorf("filtered feed = %v, want %v", ids(got), want)
	}
	// A filtered reader still advances to the head: it does not rescan.
	if fend != end {
		t.Errorf("filtered feed ends at %s, unfiltered at %s", fend, end)
	}
	// An empty page keeps the position.
	page, next, err := s.Changes(t.Context(), store.ChangeQuery{Tenant: tenant, Since: end})
	if err != nil || len(page) != 0 || next.String() != end {
		t.Errorf("Changes at the end = %d changes, %v, %v; want none, the same position", len(page), next, err)
	}
	if _, _, err := s.Changes(t.Context(), store.ChangeQuery{Tenant: tenant, Limit: store.MaxLimit + 1}); !errors.Is(err, store.ErrBadQuery) {
		t.Errorf("Changes over MaxLimit: err = %v, want ErrBadQuery", err)
	}
}

func testFeedBadPositions(t *testing.T, s store.Store) {
	apply(t, s, rec("sn", "incident", "a", 1, 0, `{}`))
	head, err := s.FeedHead(t.Context(), tenant)
	if err != nil {
		t.Fatalf("FeedHead: %v", err)
	}
	foreign := head
	foreign.Tenant = "other"
	otherEpoch := head
	otherEpoch.Epoch = "0000000000000000"
	ahead := head
	ahead.Seq += 1000
	tests := []struct {
		name  string
		since string
		want  error
	}{
		{"another tenant", foreign.String(), store.ErrBadPosition},
		{"garbage", "p1.!!!", store.ErrBadPosition},
		{"a records cursor", store.EncodeCursor(store.Cursor{Tenant: tenant, Integration: "sn", Table: "incident", SysID: "a"}), store.ErrBadPosition},
		{"another store", otherEpoch.String(), store.ErrPositionGone},
		{"ahead of the feed", ahead.String(), store.ErrPositionGone},
	}
	for _, tc := range tests {
		if _, _, err := s.Changes(t.Context(), store.ChangeQuery{Tenant: tenant, Since: tc.since}); !errors.Is(err, tc.want) {
			t.Errorf("%s: Changes err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func testFeedSignal(t *testing.T, s store.Store) {
	ch := s.Changed()
	apply(t, s, rec("sn", "incident", "a", 1, 0, `{}`))
	select {
	case <-ch:
	default:
		t.Errorf("Changed not closed after an Apply that wrote")
	}
	ch = s.Changed()
	apply(t, s, rec("sn", "incident", "a", 1, 0, `{}`))
	select {
	case <-ch:
		t.Errorf("Changed closed after an Apply that wrote nothing")
	default:
	}
}

func testFeedMarks(t *testing.T, s store.Store) {
	if m, err := s.FeedMark(t.Context(), "nats", tenant); err != nil || m != "" {
		t.Errorf("FeedMark of a new store = %q, %v", m, err)
	}
	for _, m := range []string{"p1.first", "p1.second"} {
		if err := s.SetFeedMark(t.Context(), "nats", tenant, m); err != nil {
			t.Fatalf("SetFeedMark: %v", err)
		}
		if got, err := s.FeedMark(t.Context(), "nats", tenant); err != nil || got != m {
			t.Errorf("FeedMark = %q, %v; want %q", got, err, m)
		}
	}
	if got, _ := s.FeedMark(t.Context(), "nats", "other"); got != "" {
		t.Errorf("mark of another tenant = %q", got)
	}
	if err := s.SetFeedMark(t.Context(), "Bad Name", tenant, "x"); err == nil {
		t.Errorf("SetFeedMark with a bad name succeeded")
	}
}

// FollowWhileWriting has writers apply random versions of a few keys
// through stores (which must share their data, like relays on one
// database) while a reader follows the feed in small pages from the first
// store. Once the writers are done and the reader caught up, the reader's
// view (each key's newest change) must equal what the store lists.
func FollowWhileWriting(t *testing.T, stores ...store.Store) {
	t.Helper()
	const (
		keys    = 60
		writers = 4
		batches = 40
	)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for b := range batches {
				var recs []store.Record
				for range 1 + rng.IntN(8) {
					k := fmt.Sprintf("k%03d", rng.IntN(keys))
					v := 1 + rng.IntN(1000)
					if rng.IntN(6) == 0 {
						recs = append(recs, del("sn", "incident", k, v, int64(w)))
					} else {
						recs = append(recs, rec("sn", "incident", k, v, int64(w), fmt.Sprintf(`{"w":%d,"b":%d}`, w, b)))
					}
				}
				if _, err := s.Apply(t.Context(), recs); err != nil {
					t.Errorf("writer %d: Apply: %v", w, err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	view := map[string]store.Change{}
	since := ""
	follow := func() int {
		page, next, err := stores[0].Changes(t.Context(), store.ChangeQuery{Tenant: tenant, Since: since, Limit: 3})
		if err != nil {
			t.Fatalf("Changes since %q: %v", since, err)
		}
		for _, c := range page {
			if old, ok := view[c.SysID]; ok && seqOf(t, old) >= seqOf(t, c) {
				t.Fatalf("%s: position %s after %s", c.SysID, c.Position, old.Position)
			}
			view[c.SysID] = c
		}
		since = next.String()
		return len(page)
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			follow()
		}
	}
	for follow() > 0 {
	}
	if t.Failed() {
		return
	}
	want := listAll(t, stores[0], store.Query{Tenant: tenant, Limit: store.MaxLimit})
	got := make([]store.Record, 0, len(view))
	for _, c := range view {
		got = append(got, c.Record)
	}
	if diff := cmp.Diff(want, sorted(got)); diff != "" {
		t.Errorf("reader's view after following the feed (-store +reader):\n%s", diff)
	}
}
