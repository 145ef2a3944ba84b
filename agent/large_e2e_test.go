package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// noiseText is n bytes of hex noise: it compresses to about half, so a
// 5 MB value makes a batch several times larger than one message.
func noiseText(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, 11))
	b := make([]byte, n/2)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b)
}

// TestEndToEndLargeRecords: records far larger than one message (a 5 MB
// close_notes, and the sys_audit rows holding it as old and new value) go
// from the simulator through the agent's buffer and forwarder to the relay's
// store, whole; then a page made only of such records does too. Before part
// sets, the agent failed the page at every poll and the cursor never moved.
func TestEndToEndLargeRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	ctx := context.Background()
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := relay.enroll(t, "acme", "servicenow", "edge-e2e")
	env := newAgentEnv(t, block, 300)
	rows := env.sim.Records("incident")
	want := map[string]string{}
	update := func(id string, seed uint64) {
		t.Helper()
		v := noiseText(seed, 5<<20)
		if err := env.sim.Update("incident", id, map[string]string{"close_notes": v}); err != nil {
			t.Fatal(err)
		}
		want[id] = v
	}
	check := func(round string) {
		t.Helper()
		relay.waitDrained(t)
		got := waitRelayHolds(t, relay, env.sim, "incident")
		for id, v := range want {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(got["incident/"+id].Fields, &fields); err != nil {
				t.Fatalf("%s: fields of incident %s: %v", round, id, err)
			}
			var notes string
			if err := json.Unmarshal(fields["close_notes"], &notes); err != nil || notes != v {
				t.Errorf("%s: incident %s close_notes is %d bytes (%v), want the %d bytes sent", round, id, len(notes), err, len(v))
			}
		}
	}
	sync := func(round string) {
		t.Helper()
		if code, out, errOut := agentCmd(ctx, "sync", "-c", env.cfgPath); code != 0 {
			t.Fatalf("%s: sync exited %d: %s\n%s", round, code, out, errOut)
		}
	}

	// One 5 MB record in the backfill.
	update(rows[7]["sys_id"].(string), 1)
	sync("backfill")
	check("backfill")

	// A page made only of large records: the next incident page holds
	// these three and nothing else.
	for i, row := range rows[20:23] {
		update(row["sys_id"].(string), uint64(10+i))
	}
	sync("incremental")
	check("incremental")

	// Syncing again doubles nothing.
	before, _ := relay.records(t, "acme")
	sync("again")
	relay.waitDrained(t)
	after, _ := relay.records(t, "acme")
	if len(after) != len(before) {
		t.Errorf("re-sync changed the relay from %d to %d records", len(before), len(after))
	}
}
