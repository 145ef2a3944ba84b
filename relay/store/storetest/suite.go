package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Run runs the shared suite against stores made by open. open must return a
// new, empty store on every call, and may register its own cleanup; the
// suite closes each store too (Close is idempotent). Subtests run in
// parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Insert", testInsert},
		{"NewerReplaces", testNewerReplaces},
		{"OlderAndEqualIgnored", testOlderAndEqualIgnored},
		{"RepairReplacesEqualVersion", testRepairReplacesEqualVersion},
		{"SameKeyTwiceInBatch", testSameKeyTwiceInBatch},
		{"Tombstones", testTombstones},
		{"RecreateAfterDelete", testRecreateAfterDelete},
		{"TenantIsolation", testTenantIsolation},
		{"Paging", testPaging},
		{"PagingStableWhileWriting", testPagingStableWhileWriting},
		{"BadCursor", testBadCursor},
		{"Limits", testLimits},
		{"InvalidRecord", testInvalidRecord},
		{"Agents", testAgents},
		{"Quarantine", testQuarantine},
		{"QuarantineLimits", testQuarantineLimits},
		{"Close", testClose},
		{"Concurrent", func(t *testing.T, s store.Store) { ApplyConcurrently(t, s) }},
		{"LargeBatch", testLargeBatch},
		{"Parts", testParts},
	}
	tests = append(tests, feedTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

const tenant = "acme"

// ts returns the ServiceNow time sec seconds after a fixed base.
func ts(sec int) string {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second).Format(wire.TimeLayout)
}

func rec(integration, table, id string, sec int, mod int64, fields string) store.Record {
	r := store.Record{Tenant: tenant, Integration: integration, Table: table, SysID: id, SysUpdatedOn: ts(sec), SysModCount: mod}
	if fields != "" {
		r.Fields = []byte(fields)
	}
	return r
}

func del(integration, table, id string, sec int, mod int64) store.Record {
	r := rec(integration, table, id, sec, mod, "")
	r.Deleted = true
	return r
}

func apply(t testing.TB, s store.Store, recs ...store.Record) store.Result {
	t.Helper()
	res, err := s.Apply(t.Context(), recs)
	if err != nil {
		t.Fatalf("Apply(%d records): %v", len(recs), err)
	}
	return res
}

func wantResult(t testing.TB, got store.Result, applied, ignored int) {
	t.Helper()
	if want := (store.Result{Applied: applied, Ignored: ignored}); got != want {
		t.Errorf("Apply = %+v, want %+v", got, want)
	}
}

// listAll pages through q (its Limit as page size) and checks the paging
// invariants: no page over the limit, a cursor exactly when more follow.
func listAll(t testing.TB, s store.Store, q store.Query) []store.Record {
	t.Helper()
	var all []store.Record
	for pages := 0; ; pages++ {
		if pages > 100000 {
			t.Fatalf("List %+v: no end after %d pages", q, pages)
		}
		recs, next, err := s.List(t.Context(), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		limit := q.Limit
		if limit == 0 {
			limit = store.DefaultLimit
		}
		if len(recs) > limit {
			t.Fatalf("List(%+v) returned %d records, over the limit", q, len(recs))
		}
		if next != "" && len(recs) != limit {
			t.Fatalf("List(%+v) returned a short page (%d) with a next cursor", q, len(recs))
		}
		all = append(all, recs...)
		if next == "" {
			if len(recs) == 0 && pages > 0 {
				t.Errorf("List %+v: a cursor led to an empty last page", q)
			}
			return all
		}
		q.After = next
	}
}

// get returns the stored record with the key of r.
func get(t testing.TB, s store.Store, r store.Record) (store.Record, bool) {
	t.Helper()
	for _, got := range listAll(t, s, store.Query{Tenant: r.Tenant, Integration: r.Integration, Table: r.Table, Limit: store.MaxLimit}) {
		if got.SysID == r.SysID {
			return got, true
		}
	}
	return store.Record{}, false
}

func wantStored(t testing.TB, s store.Store, want store.Record) {
	t.Helper()
	got, ok := get(t, s, want)
	if !ok {
		t.Fatalf("record %s/%s/%s not stored", want.Integration, want.Table, want.SysID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored record (-want +got):\n%s", diff)
	}
}

func sorted(recs []store.Record) []store.Record {
	out := slices.Clone(recs)
	slices.SortFunc(out, func(a, b store.Record) int { return store.CompareKeys(&a, &b) })
	return out
}
