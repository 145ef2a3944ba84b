package storetest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// pagingData is 3 integrations x 3 tables x 7 ids for tenant, with names
// that are prefixes of each other, plus the same keys in another tenant.
func pagingData() (mine, theirs []store.Record) {
	for _, in := range []string{"sn", "sn-b", "sn2"} {
		for _, tb := range []string{"incident", "incident_task", "change_request"} {
			for i := range 7 {
				r := rec(in, tb, fmt.Sprintf("id%02d", i), i, int64(i), fmt.Sprintf(`{"i":%d}`, i))
				mine = append(mine, r)
				r.Tenant = "globex"
				theirs = append(theirs, r)
			}
		}
	}
	return mine, theirs
}

func testPaging(t *testing.T, s store.Store) {
	mine, theirs := pagingData()
	wantResult(t, apply(t, s, append(slices.Clone(theirs), mine...)...), len(mine)+len(theirs), 0)
	filter := func(in, tb string) []store.Record {
		var out []store.Record
		for _, r := range sorted(mine) {
			if (in == "" || r.Integration == in) && (tb == "" || r.Table == tb) {
				out = append(out, r)
			}
		}
		return out
	}
	for _, f := range []struct{ integration, table string }{
		{"", ""}, {"sn", ""}, {"sn-b", ""}, {"", "incident"}, {"", "incident_task"},
		{"sn2", "change_request"}, {"nope", ""}, {"", "sys_user"},
	} {
		want := filter(f.integration, f.table)
		for _, limit := range []int{1, 4, 7, 21, len(mine), 100} {
			t.Run(fmt.Sprintf("integration=%s,table=%s,limit=%d", f.integration, f.table, limit), func(t *testing.T) {
				got := listAll(t, s, store.Query{Tenant: tenant, Integration: f.integration, Table: f.table, Limit: limit})
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("pages (-want +got):\n%s", diff)
				}
			})
		}
	}
	t.Run("cursor outside the filter", func(t *testing.T) {
		// A cursor from an unfiltered listing, in integration sn, used with
		// a filter on sn2 starts at sn2's first record; one in sn2 used
		// with a filter on sn finds nothing after it.
		recs, next, err := s.List(t.Context(), store.Query{Tenant: tenant, Limit: 3})
		if err != nil || next == "" || recs[2].Integration != "sn" {
			t.Fatalf("List = %d records, next %q, %v", len(recs), next, err)
		}
		got := listAll(t, s, store.Query{Tenant: tenant, Integration: "sn2", After: next, Limit: 5})
		if diff := cmp.Diff(filter("sn2", ""), got); diff != "" {
			t.Errorf("sn2 after a cursor in sn (-want +got):\n%s", diff)
		}
		last := filter("sn2", "")
		cur := store.EncodeCursor(store.Cursor{Tenant: tenant, Integration: "sn2", Table: last[0].Table, SysID: last[0].SysID})
		if got := listAll(t, s, store.Query{Tenant: tenant, Integration: "sn", After: cur, Limit: 5}); len(got) != 0 {
			t.Errorf("sn after a cursor in sn2 = %d records, want none", len(got))
		}
	})
}

// testPagingStableWhileWriting pages through a tenant while records are
// updated and inserted, in between pages and concurrently: every record
// that existed at the start is returned exactly once, in key order.
func testPagingStableWhileWriting(t *testing.T, s store.Store) {
	var seed []store.Record
	for i := range 200 {
		seed = append(seed, rec("sn", "incident", fmt.Sprintf("m%04d", i), 1, 0, `{"v":0}`))
	}
	apply(t, s, seed...)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		// Bounded, so that inserts ahead of the cursor cannot outrun paging.
		for n := 0; n < 150 && ctx.Err() == nil; n++ {
			up := seed[(n*37)%len(seed)]
			up.SysUpdatedOn, up.Fields = ts(2+n), []byte(fmt.Sprintf(`{"v":%d}`, n))
			ins := rec("sn", "incident", fmt.Sprintf("m%04d-w%d", (n*53)%len(seed), n), 1, 0, `{}`)
			if _, err := s.Apply(ctx, []store.Record{up, ins}); err != nil && ctx.Err() == nil {
				t.Errorf("concurrent Apply: %v", err)
				return
			}
		}
	})
	defer wg.Wait()
	defer cancel()

	seen := map[string]int{}
	var last string
	q := store.Query{Tenant: tenant, Limit: 13}
	for page := 0; ; page++ {
		recs, next, err := s.List(t.Context(), q)
		if err != nil {
			t.Fatalf("List page %d: %v", page, err)
		}
		for _, r := range recs {
			if r.SysID <= last {
				t.Fatalf("page %d: %s after %s: order broken", page, r.SysID, last)
			}
			last = r.SysID
			seen[r.SysID]++
		}
		if next == "" {
			break
		}
		// Writes behind and ahead of the cursor, between pages.
		apply(t, s,
			rec("sn", "incident", "a-before-"+fmt.Sprint(page), 1, 0, `{}`),
			rec("sn", "incident", last+"-after", 1, 0, `{}`),
			rec("sn", "incident", last, 100+page, 0, `{"updated":"at the cursor"}`),
		)
		q.After = next
	}
	for _, r := range seed {
		if seen[r.SysID] != 1 {
			t.Errorf("record %s seen %d times, want once", r.SysID, seen[r.SysID])
		}
	}
}

func testBadCursor(t *testing.T, s store.Store) {
	apply(t, s, rec("sn", "incident", "a", 1, 0, `{}`))
	enc := func(raw string) string { return "c1." + base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	for _, c := range []string{
		"garbage",
		"c1.",
		"c1.!!!",
		"c2." + strings.TrimPrefix(store.EncodeCursor(store.Cursor{Tenant: tenant, Integration: "sn", Table: "incident", SysID: "a"}), "c1."),
		enc(`[1,2,3,4]`),
		enc(`["acme","sn","incident"]`),
		enc(`["acme","","incident","a"]`),
		enc(`["acme","sn","Bad Table","a"]`),
		enc(`["acme","sn","incident","a\u0000b"]`),
		store.EncodeCursor(store.Cursor{Tenant: "globex", Integration: "sn", Table: "incident", SysID: "a"}),
		"c1." + strings.Repeat("A", 5000),
	} {
		_, _, err := s.List(t.Context(), store.Query{Tenant: tenant, After: c})
		if !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("List after %.40q: err = %v, want ErrBadCursor", c, err)
		}
	}
}

func testLimits(t *testing.T, s store.Store) {
	var recs []store.Record
	for i := range store.DefaultLimit + 500 {
		recs = append(recs, rec("sn", "sys_user", fmt.Sprintf("u%05d", i), 1, 0, `{}`))
	}
	apply(t, s, recs...)
	got, next, err := s.List(t.Context(), store.Query{Tenant: tenant})
	if err != nil || len(got) != store.DefaultLimit || next == "" {
		t.Errorf("List with Limit 0 = %d records, next %q, %v; want DefaultLimit (%d) and a cursor", len(got), next, err, store.DefaultLimit)
	}
	got, next, err = s.List(t.Context(), store.Query{Tenant: tenant, Limit: store.MaxLimit})
	if err != nil || len(got) != len(recs) || next != "" {
		t.Errorf("List with MaxLimit = %d records, next %q, %v; want all %d and no cursor", len(got), next, err, len(recs))
	}
	for _, q := range []store.Query{
		{Tenant: tenant, Limit: -1},
		{Tenant: tenant, Limit: store.MaxLimit + 1},
		{Tenant: ""},
		{Tenant: "Not A Tenant"},
		{Tenant: tenant, Integration: "BAD!"},
		{Tenant: tenant, Table: "no spaces"},
	} {
		if _, _, err := s.List(t.Context(), q); !errors.Is(err, store.ErrBadQuery) {
			t.Errorf("List(%+v): err = %v, want ErrBadQuery", q, err)
		}
	}
}
