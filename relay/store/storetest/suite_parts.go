package storetest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// testParts: parts are kept per (tenant, integration, set, index), stored
// again idempotently, listed in index order, deleted per set and expired
// per set; bad parts are refused.
func testParts(t *testing.T, s store.Store) {
	ctx := t.Context()
	at := func(h int) time.Time { return time.Date(2026, 3, 1, h, 0, 0, 0, time.UTC) }
	set := strings.Repeat("ab", 32)
	other := strings.Repeat("cd", 32)
	big := bytes.Repeat([]byte{0xfe}, wire.MaxPayload) // a full part survives byte for byte
	part := func(tenant, integration, set string, i, n int, data []byte, h int) store.Part {
		return store.Part{Tenant: tenant, Integration: integration, Table: "incident", Set: set, Index: i, Count: n, Data: data, Time: at(h)}
	}
	put := func(p store.Part) {
		t.Helper()
		if err := s.PutPart(ctx, p); err != nil {
			t.Fatalf("PutPart(%s %d/%d): %v", p.Set, p.Index, p.Count, err)
		}
	}
	parts := func(tenant, integration, set string) []store.Part {
		t.Helper()
		ps, err := s.Parts(ctx, tenant, integration, set)
		if err != nil {
			t.Fatalf("Parts(%s): %v", set, err)
		}
		return ps
	}
	// Out of order, twice: one part per index, ordered by index.
	put(part(tenant, "sn", set, 3, 3, []byte("three"), 1))
	put(part(tenant, "sn", set, 1, 3, big, 1))
	put(part(tenant, "sn", set, 3, 3, []byte("three"), 2))
	// The same set id under another integration and tenant is another set.
	put(part(tenant, "sn2", set, 2, 3, []byte("elsewhere"), 1))
	put(part("other", "sn", set, 2, 3, []byte("theirs"), 1))
	put(part(tenant, "sn", other, 1, 2, []byte("recent"), 10))
	got := parts(tenant, "sn", set)
	if len(got) != 2 || got[0].Index != 1 || got[1].Index != 3 {
		t.Fatalf("Parts = %+v, want indexes 1 and 3", got)
	}
	if !bytes.Equal(got[0].Data, big) || string(got[1].Data) != "three" || got[1].Count != 3 || got[1].Table != "incident" ||
		got[1].Tenant != tenant || got[1].Integration != "sn" || got[1].Set != set || !got[1].Time.Equal(at(2)) {
		t.Errorf("Parts = %+v (data elided), want the stored parts, the second stored again at %v", got[1], at(2))
	}
	put(part(tenant, "sn", set, 2, 3, []byte("two"), 2))
	if got := parts(tenant, "sn", set); len(got) != 3 || string(got[1].Data) != "two" {
		t.Fatalf("Parts after the last = %d parts, want 3", len(got))
	}
	// Deleting is per set, and idempotent.
	for range 2 {
		if err := s.DeleteParts(ctx, tenant, "sn", set); err != nil {
			t.Fatalf("DeleteParts: %v", err)
		}
	}
	if got := parts(tenant, "sn", set); len(got) != 0 {
		t.Errorf("Parts after DeleteParts = %d parts, want none", len(got))
	}
	if got := parts(tenant, "sn2", set); len(got) != 1 {
		t.Errorf("Parts of another integration after DeleteParts = %d parts, want 1", len(got))
	}
	if got := parts("other", "sn", set); len(got) != 1 {
		t.Errorf("Parts of another tenant after DeleteParts = %d parts, want 1", len(got))
	}
	// A finished set keeps no part and takes none until it expires.
	put(part(tenant, "sn", set, 1, 3, []byte("one"), 3))
	for range 2 {
		if err := s.FinishParts(ctx, tenant, "sn", set, at(3)); err != nil {
			t.Fatalf("FinishParts: %v", err)
		}
	}
	if got := parts(tenant, "sn", set); len(got) != 0 {
		t.Errorf("Parts after FinishParts = %d parts, want none", len(got))
	}
	if err := s.PutPart(ctx, part(tenant, "sn", set, 2, 3, []byte("late"), 4)); !errors.Is(err, store.ErrPartSetDone) {
		t.Errorf("PutPart of a finished set = %v, want ErrPartSetDone", err)
	}
	if got := parts(tenant, "sn", set); len(got) != 0 {
		t.Errorf("a late part of a finished set was kept")
	}
	// Expiry removes whole sets with an old part: two sets stored at 01:00,
	// not the one stored at 10:00.
	n, err := s.ExpireParts(ctx, at(5))
	if err != nil || n != 2 {
		t.Errorf("ExpireParts = %d, %v, want 2 sets", n, err)
	}
	if got := parts(tenant, "sn2", set); len(got) != 0 {
		t.Errorf("expired set still holds %d parts", len(got))
	}
	if got := parts(tenant, "sn", other); len(got) != 1 {
		t.Errorf("recent set holds %d parts after expiry, want 1", len(got))
	}
	// The finished set (at 03:00) is forgotten: its parts are taken again.
	put(part(tenant, "sn", set, 2, 3, []byte("again"), 6))
	if err := s.DeleteParts(ctx, tenant, "sn", set); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireParts(ctx, at(5)); err != nil || n != 0 {
		t.Errorf("ExpireParts again = %d, %v, want 0", n, err)
	}
	// Bad parts are refused with an error naming the problem.
	for _, bad := range []store.Part{
		part(tenant, "sn", "not-hex", 1, 2, []byte("x"), 1),
		part(tenant, "sn", set, 0, 2, []byte("x"), 1),
		part(tenant, "sn", set, 3, 2, []byte("x"), 1),
		part(tenant, "sn", set, 1, 1, []byte("x"), 1),
		part(tenant, "sn", set, 1, wire.MaxParts+1, []byte("x"), 1),
		part(tenant, "sn", set, 1, 2, make([]byte, wire.MaxPayload+1), 1),
		part("Bad Tenant", "sn", set, 1, 2, []byte("x"), 1),
	} {
		if err := s.PutPart(ctx, bad); err == nil || !strings.Contains(err.Error(), "part") {
			t.Errorf("PutPart(%q %s %d/%d, %d bytes) = %v, want an error", bad.Tenant, bad.Set, bad.Index, bad.Count, len(bad.Data), err)
		}
	}
}
