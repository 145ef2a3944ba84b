package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

func testInsert(t *testing.T, s store.Store) {
	recs := []store.Record{
		rec("sn1", "incident", "b", 1, 0, `{"number":"INC2","short_description":"Ünïcode \"quoted\""}`),
		rec("sn1", "incident", "a", 2, 3, `{"number":"INC1"}`),
		rec("sn1", "change_request", "c", 3, 1, `{}`),
		rec("sn0", "sys_user", "d", 4, 7, `{"user_name":"x","active":true,"n":1.50}`),
	}
	empty := rec("sn1", "incident", "e", 5, 0, "")
	empty.Fields = []byte{}
	wantResult(t, apply(t, s, append(recs, empty)...), 5, 0)
	recs = append(recs, rec("sn1", "incident", "e", 5, 0, "")) // empty Fields come back nil
	got := listAll(t, s, store.Query{Tenant: tenant})
	if diff := cmp.Diff(sorted(recs), got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func testNewerReplaces(t *testing.T, s store.Store) {
	tests := []struct {
		name     string
		old, new store.Record
	}{
		{"later sys_updated_on", rec("sn", "incident", "a", 10, 5, `{"v":1}`), rec("sn", "incident", "a", 11, 5, `{"v":2}`)},
		{"same time, higher mod count", rec("sn", "incident", "b", 10, 5, `{"v":1}`), rec("sn", "incident", "b", 10, 6, `{"v":2}`)},
		{"later time wins over lower mod count", rec("sn", "incident", "c", 10, 9, `{"v":1}`), rec("sn", "incident", "c", 20, 1, `{"v":2}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantResult(t, apply(t, s, tc.old), 1, 0)
			wantResult(t, apply(t, s, tc.new), 1, 0)
			wantStored(t, s, tc.new)
		})
	}
}

func testOlderAndEqualIgnored(t *testing.T, s store.Store) {
	stored := rec("sn", "incident", "a", 10, 5, `{"v":"stored"}`)
	wantResult(t, apply(t, s, stored), 1, 0)
	tests := []struct {
		name string
		r    store.Record
	}{
		{"older time", rec("sn", "incident", "a", 9, 50, `{"v":"older"}`)},
		{"same time, lower mod count", rec("sn", "incident", "a", 10, 4, `{"v":"older"}`)},
		{"equal version", rec("sn", "incident", "a", 10, 5, `{"v":"equal"}`)},
		{"exact duplicate", stored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantResult(t, apply(t, s, tc.r), 0, 1)
			wantStored(t, s, stored)
		})
	}
}

func testSameKeyTwiceInBatch(t *testing.T, s store.Store) {
	v1 := rec("sn", "incident", "a", 1, 0, `{"v":1}`)
	v2 := rec("sn", "incident", "a", 2, 0, `{"v":2}`)
	v3 := rec("sn", "incident", "a", 3, 0, `{"v":3}`)
	other := rec("sn", "incident", "b", 1, 0, `{"v":"b"}`)
	wantResult(t, apply(t, s, v2, v3, other, v1), 2, 2)
	wantStored(t, s, v3)
	wantStored(t, s, other)

	// Already stored v3 beats every copy in the batch.
	wantResult(t, apply(t, s, v1, v2, v1), 0, 3)
	wantStored(t, s, v3)

	// Equal versions in one batch: the first listed is kept.
	first := rec("sn", "incident", "c", 5, 5, `{"v":"first"}`)
	second := rec("sn", "incident", "c", 5, 5, `{"v":"second"}`)
	wantResult(t, apply(t, s, first, second), 1, 1)
	wantStored(t, s, first)

	// A delete and an upsert of one key in one batch: the newer wins.
	d := del("sn", "incident", "d", 7, 0)
	wantResult(t, apply(t, s, d, rec("sn", "incident", "d", 6, 0, `{"v":6}`)), 1, 1)
	wantStored(t, s, d)
}

func testTombstones(t *testing.T, s store.Store) {
	v1 := rec("sn", "incident", "a", 1, 0, `{"v":1}`)
	wantResult(t, apply(t, s, v1), 1, 0)
	d2 := del("sn", "incident", "a", 2, 0)
	wantResult(t, apply(t, s, d2), 1, 0)
	wantStored(t, s, d2)

	t.Run("late older upsert does not resurrect", func(t *testing.T) {
		wantResult(t, apply(t, s, v1), 0, 1)
		wantResult(t, apply(t, s, rec("sn", "incident", "a", 1, 99, `{"v":"late"}`)), 0, 1)
		wantResult(t, apply(t, s, rec("sn", "incident", "a", 2, 0, `{"v":"same version as delete"}`)), 0, 1)
		wantStored(t, s, d2)
	})
	t.Run("redelivered delete is a no-op", func(t *testing.T) {
		wantResult(t, apply(t, s, d2), 0, 1)
		wantStored(t, s, d2)
	})
	t.Run("delete of an unknown key leaves a tombstone", func(t *testing.T) {
		d := del("sn", "incident", "never-seen", 5, 1)
		wantResult(t, apply(t, s, d), 1, 0)
		wantStored(t, s, d)
		wantResult(t, apply(t, s, rec("sn", "incident", "never-seen", 4, 0, `{"v":"older"}`)), 0, 1)
		wantStored(t, s, d)
	})
	t.Run("fields of a delete are dropped", func(t *testing.T) {
		d := del("sn", "incident", "with-fields", 5, 1)
		d.Fields = []byte(`{"secret":"x"}`)
		wantResult(t, apply(t, s, d), 1, 0)
		d.Fields = nil
		wantStored(t, s, d)
	})
}

func testRecreateAfterDelete(t *testing.T, s store.Store) {
	wantResult(t, apply(t, s, rec("sn", "incident", "a", 1, 0, `{"v":1}`)), 1, 0)
	wantResult(t, apply(t, s, del("sn", "incident", "a", 2, 0)), 1, 0)
	v3 := rec("sn", "incident", "a", 3, 0, `{"v":3}`)
	wantResult(t, apply(t, s, v3), 1, 0)
	wantStored(t, s, v3)
	// Same time as the delete, higher mod count: also newer.
	wantResult(t, apply(t, s, del("sn", "incident", "b", 2, 4)), 1, 0)
	b := rec("sn", "incident", "b", 2, 5, `{"v":"back"}`)
	wantResult(t, apply(t, s, b), 1, 0)
	wantStored(t, s, b)
}

func testTenantIsolation(t *testing.T, s store.Store) {
	a := rec("sn", "incident", "same", 5, 0, `{"tenant":"acme"}`)
	b := a
	b.Tenant, b.Fields = "globex", []byte(`{"tenant":"globex"}`)
	wantResult(t, apply(t, s, a, b), 2, 0)

	// An older version for globex must not be compared against acme's.
	bNew := b
	bNew.SysUpdatedOn, bNew.Fields = ts(6), []byte(`{"tenant":"globex","v":2}`)
	wantResult(t, apply(t, s, bNew), 1, 0)
	bOld := b
	bOld.SysUpdatedOn = ts(1)
	wantResult(t, apply(t, s, bOld), 0, 1)

	// A tenant whose name is a prefix of another's.
	c := a
	c.Tenant, c.Fields = "acme-2", []byte(`{"tenant":"acme-2"}`)
	wantResult(t, apply(t, s, c), 1, 0)

	for _, tc := range []struct {
		tenant string
		want   []store.Record
	}{
		{"acme", []store.Record{a}},
		{"globex", []store.Record{bNew}},
		{"acme-2", []store.Record{c}},
		{"initech", nil},
	} {
		got := listAll(t, s, store.Query{Tenant: tc.tenant, Limit: 10})
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("List tenant %s (-want +got):\n%s", tc.tenant, diff)
		}
	}
}

func testInvalidRecord(t *testing.T, s store.Store) {
	good := rec("sn", "incident", "good", 1, 0, `{}`)
	tests := []struct {
		name string
		edit func(r *store.Record)
	}{
		{"no tenant", func(r *store.Record) { r.Tenant = "" }},
		{"bad integration", func(r *store.Record) { r.Integration = "Has Space" }},
		{"bad table", func(r *store.Record) { r.Table = "inc.ident" }},
		{"empty sys_id", func(r *store.Record) { r.SysID = "" }},
		{"NUL in sys_id", func(r *store.Record) { r.SysID = "a\x00b" }},
		{"bad time", func(r *store.Record) { r.SysUpdatedOn = "2026-01-01T00:00:00Z" }},
		{"negative mod count", func(r *store.Record) { r.SysModCount = -1 }},
		{"fields not JSON", func(r *store.Record) { r.Fields = []byte(`{"a":`) }},
		{"fields not UTF-8", func(r *store.Record) { r.Fields = []byte("{\"a\":\"\xff\"}") }},
		{"sys_id not UTF-8", func(r *store.Record) { r.SysID = "a\xffb" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := rec("sn", "incident", "bad", 1, 0, `{}`)
			tc.edit(&bad)
			_, err := s.Apply(t.Context(), []store.Record{good, bad})
			if !errors.Is(err, store.ErrInvalidRecord) {
				t.Fatalf("Apply: err = %v, want ErrInvalidRecord", err)
			}
			if _, ok := get(t, s, good); ok {
				t.Errorf("the valid record of a refused batch was stored")
			}
		})
	}
}

func testLargeBatch(t *testing.T, s store.Store) {
	const n = 20000
	pad := strings.Repeat("x", 400)
	recs := make([]store.Record, n)
	for i := range recs {
		recs[i] = rec("sn", "incident", fmt.Sprintf("%032x", i), i%3600, int64(i%7), fmt.Sprintf(`{"number":"INC%07d","description":%q}`, i, pad))
	}
	start := time.Now()
	wantResult(t, apply(t, s, recs...), n, 0)
	t.Logf("applied %d records (%d KiB of fields) in %v", n, n*len(recs[0].Fields)/1024, time.Since(start))
	wantResult(t, apply(t, s, recs...), 0, n)

	got := listAll(t, s, store.Query{Tenant: tenant, Limit: store.MaxLimit})
	if len(got) != n {
		t.Fatalf("listed %d records, want %d", len(got), n)
	}
	want := sorted(recs)
	for _, i := range []int{0, 1, n / 2, n - 1} {
		if diff := cmp.Diff(want[i], got[i]); diff != "" {
			t.Errorf("record %d (-want +got):\n%s", i, diff)
		}
	}
}
