package badgerstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// TestPutAgents writes 20,000 heartbeats of ~400 bytes in one call, more
// than one Badger transaction takes (it splits them), and lists them all;
// an invalid agent fails the call before anything is written.
func TestPutAgents(t *testing.T) {
	s := openTest(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pad := strings.Repeat("x", 400)
	var as []store.Agent
	for i := range 20000 {
		as = append(as, store.Agent{Tenant: fmt.Sprintf("t%03d", i%100), Agent: fmt.Sprintf("a%05d", i), Seen: now,
			Heartbeat: []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad))})
	}
	if err := s.PutAgents(t.Context(), as); err != nil {
		t.Fatalf("PutAgents: %v", err)
	}
	got, err := s.Agents(t.Context(), "")
	if err != nil || len(got) != len(as) {
		t.Fatalf("Agents = %d, %v; want %d", len(got), err, len(as))
	}
	bad := []store.Agent{{Tenant: "t1", Agent: "new", Seen: now, Heartbeat: []byte(`{}`)}, {Tenant: "Bad.Tenant", Agent: "a", Seen: now}}
	if err := s.PutAgents(t.Context(), bad); err == nil {
		t.Fatal("PutAgents with an invalid tenant succeeded")
	}
	if got, _ := s.Agents(t.Context(), "t1"); len(got) != 0 {
		t.Errorf("PutAgents wrote %d agents of a refused call", len(got))
	}
}
