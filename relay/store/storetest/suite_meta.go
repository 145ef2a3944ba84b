package storetest

import (
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
	at := func(sec int) time.Time { return time.Date(2026, 3, 1, 0, 0, sec, 5000, time.UTC) }
	q1 := store.Quarantined{ID: "batch-1", Subject: "sei.ingest.acme.sn.incident", Header: map[string]string{"Sei-Schema": "1"}, Data: []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0xff}, Reason: "decode: bad", Time: at(5)}
	q2 := store.Quarantined{ID: "batch-2", Subject: "sei.ingest.acme.sn.incident", Data: []byte("x"), Reason: "max deliveries", Time: at(1)}
	q3 := store.Quarantined{ID: "7", Subject: "sei.ingest.acme.sn.sys_user", Header: map[string]string{}, Reason: "subject mismatch", Time: at(5)}
	for _, q := range []store.Quarantined{q1, q2, q3} {
		if err := s.Quarantine(t.Context(), q); err != nil {
			t.Fatalf("Quarantine(%s): %v", q.ID, err)
		}
	}
	q1.Reason, q1.Time = "decode: still bad", at(7)
	if err := s.Quarantine(t.Context(), q1); err != nil {
		t.Fatalf("Quarantine replace: %v", err)
	}
	want := func(want ...store.Quarantined) {
		t.Helper()
		got, err := s.Quarantined(t.Context())
		if err != nil {
			t.Fatalf("Quarantined: %v", err)
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); diff != "" {
			t.Errorf("Quarantined (-want +got):\n%s", diff)
		}
	}
	want(q2, q3, q1)
	if err := s.Release(t.Context(), "batch-2"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	want(q3, q1)
	if err := s.Release(t.Context(), "batch-2"); err != nil {
		t.Errorf("Release of a released batch: %v", err)
	}
	if err := s.Release(t.Context(), "no-such-batch"); err != nil {
		t.Errorf("Release of an unknown batch: %v", err)
	}
	want(q3, q1)
	for _, id := range []string{"", strings.Repeat("x", 256)} {
		if err := s.Quarantine(t.Context(), store.Quarantined{ID: id, Subject: q1.Subject, Time: at(9)}); err == nil {
			t.Errorf("Quarantine with id %.20q succeeded", id)
		}
		if err := s.Release(t.Context(), id); err == nil {
			t.Errorf("Release of id %.20q succeeded", id)
		}
	}
	want(q3, q1)
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
