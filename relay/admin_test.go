package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
)

// TestAdminListRepliesStaySmall: however large the entries' metadata (here
// stored directly, past what the consumer keeps), every list reply fits
// under the NATS max payload and the pages cover the whole quarantine; a
// show reply carries one chunk of data.
func TestAdminListRepliesStaySmall(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 150 {
		q := store.Quarantined{Tenant: "acme", ID: fmt.Sprintf("b%03d", i), Subject: "sei.ingest.acme.sn.incident",
			Data: make([]byte, 600<<10), Reason: strings.Repeat("r", 20<<10), Time: time.Unix(1, 0)}
		if err := st.Quarantine(t.Context(), q, store.QuarantineLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	a := &adminService{store: st, log: zerolog.Nop()}
	seen, after := 0, ""
	for pages := 0; pages < 100; pages++ {
		body, _ := json.Marshal(quarantineRequest{After: after})
		r := a.list(t.Context(), &nats.Msg{Data: body})
		raw, _ := json.Marshal(r)
		if r.Error != "" || len(raw) > 1<<20 {
			t.Fatalf("list page %d: %d bytes, error %q", pages, len(raw), r.Error)
		}
		seen += len(r.Batches)
		if after = r.Next; after == "" {
			break
		}
	}
	if seen != 150 {
		t.Errorf("pages listed %d batches, want 150", seen)
	}
	body, _ := json.Marshal(quarantineRequest{ID: "b007"})
	r := a.show(t.Context(), &nats.Msg{Data: body})
	if raw, _ := json.Marshal(r); r.Error != "" || len(r.Data) != showChunk || r.NextOffset != showChunk || len(raw) > 1<<20 {
		t.Errorf("show: %d bytes of data, next %d, reply %d bytes, error %q", len(r.Data), r.NextOffset, len(raw), r.Error)
	}
}
