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

func testAgents(t *testing.T, s store.Store) {
	at := func(sec int) time.Time { return time.Date(2026, 2, 1, 10, 0, sec, 123456000, time.UTC) }
	a1 := store.Agent{Tenant: "acme", Agent: "dc1", Seen: at(1), Heartbeat: []byte(`{"agent":"dc1","verdict":"OK"}`)}
	a2 := store.Agent{Tenant: "acme", Agent: "dc0", Seen: at(2), Heartbeat: []byte(`{"agent":"dc0","verdict":"DEGRADED"}`)}
	g1 := store.Agent{Tenant: "globex", Agent: "dc1", Seen: at(3), Heartbeat: []byte(`{"agent":"dc1"}`)}
	g2 := store.Agent{Tenant: "globex", Agent: "dc2", Seen: at(4).In(time.FixedZone("X", 3600)).Add(999)} // no heartbeat body; nanoseconds dropped
	for _, a := range []store.Agent{a1, a2, g1, g2} {
		if err := s.PutAgent(t.Context(), a); err != nil {
			t.Fatalf("PutAgent(%s/%s): %v", a.Tenant, a.Agent, err)
		}
	}
	g2.Seen = at(4)
	a1.Seen, a1.Heartbeat = at(9), []byte(`{"agent":"dc1","verdict":"FAILING"}`)
	if err := s.PutAgent(t.Context(), a1); err != nil {
		t.Fatalf("PutAgent replace: %v", err)
	}
	for _, tc := range []struct {
		tenant string
		want   []store.Agent
	}{
		{"acme", []store.Agent{a2, a1}},
		{"globex", []store.Agent{g1, g2}},
		{"", []store.Agent{a2, a1, g1, g2}},
		{"acm", nil},
	} {
		got, err := s.Agents(t.Context(), tc.tenant)
		if err != nil {
			t.Fatalf("Agents(%q): %v", tc.tenant, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Agents(%q) (-want +got):\n%s", tc.tenant, diff)
		}
	}
	if err := s.PutAgent(t.Context(), store.Agent{Tenant: "acme", Agent: "bad name", Seen: at(1)}); err == nil {
		t.Errorf("PutAgent with an invalid agent name succeeded")
	}
}

func testQuarantine(t *testing.T, s store.Store) {
	ctx := t.Context()
	at := func(sec int) time.Time { return time.Date(2026, 3, 1, 0, 0, sec, 5000, time.UTC) }
	none := store.QuarantineLimits{}
	q1 := store.Quarantined{Tenant: "acme", ID: "batch-1", Subject: "sei.ingest.acme.sn.incident", Header: map[string]string{"Sei-Schema": "1"}, Data: []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0xff}, Reason: "decode: bad", Time: at(5)}
	q2 := store.Quarantined{Tenant: "acme", ID: "batch-2", Subject: "sei.ingest.acme.sn.incident", Data: []byte("x"), Reason: "max deliveries", Time: at(1)}
	q3 := store.Quarantined{Tenant: "acme", ID: "7", Subject: "sei.ingest.acme.sn.sys_user", Header: map[string]string{}, Reason: "subject mismatch", Time: at(5)}
	// The same id in another tenant is another entry.
	o1 := store.Quarantined{Tenant: "other", ID: "batch-1", Subject: "sei.ingest.other.sn.incident", Data: []byte("theirs"), Reason: "decode: x", Time: at(2)}
	for _, q := range []store.Quarantined{q1, q2, q3, o1} {
		if err := s.Quarantine(ctx, q, none); err != nil {
			t.Fatalf("Quarantine(%s/%s): %v", q.Tenant, q.ID, err)
		}
	}
	// Never replaced on conflict.
	evil := q1
	evil.Reason, evil.Data = "replaced", []byte("evil")
	if err := s.Quarantine(ctx, evil, none); !errors.Is(err, store.ErrQuarantineExists) {
		t.Fatalf("Quarantine over an entry = %v, want ErrQuarantineExists", err)
	}
	meta := func(qs ...store.Quarantined) []store.Quarantined {
		var out []store.Quarantined
		for _, q := range qs {
			q.Size, q.Data = len(q.Data), nil
			out = append(out, q)
		}
		return out
	}
	eqHeader := cmp.Comparer(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })
	want := func(tenant string, want ...store.Quarantined) {
		t.Helper()
		var got []store.Quarantined
		after := ""
		for pages := 0; ; pages++ {
			page, next, err := s.QuarantineList(ctx, store.QuarantineQuery{Tenant: tenant, After: after, Limit: 1})
			if err != nil {
				t.Fatalf("QuarantineList: %v", err)
			}
			got = append(got, page...)
			if next == "" || pages > 10 {
				break
			}
			after = next
		}
		if diff := cmp.Diff(meta(want...), got, eqHeader); diff != "" {
			t.Errorf("QuarantineList(%q) (-want +got):\n%s", tenant, diff)
		}
	}
	want("acme", q3, q1, q2)
	want("", q3, q1, q2, o1)
	want("other", o1)
	got, err := s.QuarantinedBatch(ctx, "acme", "batch-1")
	q1.Size = len(q1.Data)
	if err != nil || !cmp.Equal(q1, got, eqHeader) {
		t.Errorf("QuarantinedBatch = %+v, %v; want %+v", got, err, q1)
	}
	if _, err := s.QuarantinedBatch(ctx, "acme", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("QuarantinedBatch(unknown) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.QuarantineList(ctx, store.QuarantineQuery{Tenant: "acme", After: "zz"}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("QuarantineList with a bad cursor = %v", err)
	}
	if err := s.Release(ctx, "acme", "batch-2"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	want("acme", q3, q1)
	want("other", o1) // releasing acme's does not touch other's batch-1
	if err := s.Release(ctx, "acme", "batch-2"); err != nil {
		t.Errorf("Release of a released batch: %v", err)
	}
	if err := s.Release(ctx, "acme", "no-such-batch"); err != nil {
		t.Errorf("Release of an unknown batch: %v", err)
	}
	for _, id := range []string{"", strings.Repeat("x", 256), "a\x00b"} {
		if err := s.Quarantine(ctx, store.Quarantined{Tenant: "acme", ID: id, Subject: q1.Subject, Time: at(9)}, none); err == nil {
			t.Errorf("Quarantine with id %.20q succeeded", id)
		}
		if err := s.Release(ctx, "acme", id); err == nil {
			t.Errorf("Release of id %.20q succeeded", id)
		}
	}
	if err := s.Quarantine(ctx, store.Quarantined{Tenant: "Bad.T", ID: "x", Subject: q1.Subject, Time: at(9)}, none); err == nil {
		t.Error("Quarantine with an invalid tenant succeeded")
	}
	want("acme", q3, q1)
}

// testQuarantineLimits: a tenant at its limit is refused, other tenants are
// not, and a release makes room.
func testQuarantineLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	lim := store.QuarantineLimits{MaxBatches: 3, MaxBytes: 100}
	add := func(tenant, id string, size int) error {
		return s.Quarantine(ctx, store.Quarantined{Tenant: tenant, ID: id, Subject: "sei.ingest." + tenant + ".sn.incident",
			Data: make([]byte, size), Reason: "decode: x", Time: time.Unix(1, 0)}, lim)
	}
	for i := range 3 {
		if err := add("flood", fmt.Sprint(i), 10); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	if err := add("flood", "3", 10); !errors.Is(err, store.ErrQuarantineFull) {
		t.Errorf("fourth batch = %v, want ErrQuarantineFull", err)
	}
	if err := add("calm", "0", 90); err != nil {
		t.Errorf("another tenant refused: %v", err)
	}
	if err := add("calm", "1", 20); !errors.Is(err, store.ErrQuarantineFull) {
		t.Errorf("batch past MaxBytes = %v, want ErrQuarantineFull", err)
	}
	if err := s.Release(ctx, "flood", "0"); err != nil {
		t.Fatal(err)
	}
	if err := add("flood", "3", 10); err != nil {
		t.Errorf("after a release: %v", err)
	}
}

func testClose(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	apply(t, s, rec("sn", "incident", "a", 1, 0, `{}`))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Errorf("Ping after Close succeeded")
	}
	if _, err := s.Apply(t.Context(), []store.Record{rec("sn", "incident", "b", 1, 0, `{}`)}); err == nil {
		t.Errorf("Apply after Close succeeded")
	}
	if _, _, err := s.List(t.Context(), store.Query{Tenant: tenant}); err == nil {
		t.Errorf("List after Close succeeded")
	}
}
