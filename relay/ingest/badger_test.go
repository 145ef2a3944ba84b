package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestConsumerIntoBadger runs the whole path into the real embedded store.
func TestConsumerIntoBadger(t *testing.T) {
	e := startNATS(t)
	bs, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	start(t, e.testConfig(t, bs))
	all := publishHistory(t, e, "b", 12, 40)
	want := expected(t, "t1", "snow1", all)
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		got := map[string]store.Record{}
		after := ""
		for {
			recs, next, err := bs.List(t.Context(), store.Query{Tenant: "t1", After: after, Limit: 100})
			if err != nil {
				return err
			}
			for _, r := range recs {
				got[key(r)] = r
			}
			if next == "" {
				break
			}
			after = next
		}
		if d := cmp.Diff(want, got); d != "" {
			return fmt.Errorf("store (-want +got):\n%.2000s", d)
		}
		return nil
	})
	e.waitDrained(t)
	// A rejected batch lands in Badger's quarantine.
	bad := batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "bad", "a1", []wire.Record{rec("sys_user", "u1", 1, 1)})
	e.publish(t, bad)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		qs, err := quarantinedAll(t, bs)
		if err != nil {
			return err
		}
		if len(qs) != 1 || qs[0].ID != "bad" {
			return fmt.Errorf("quarantined %v", qs)
		}
		return nil
	})
}

// TestConsumerQuarantinesRecordsTheStoreRefuses checks that a batch whose
// record passes the wire's checks but not the store's (an impossible date, a
// field that is not UTF-8) is quarantined on its first delivery, not retried
// MaxDeliver times, while the batches fetched with it are applied.
func TestConsumerQuarantinesRecordsTheStoreRefuses(t *testing.T) {
	e := startNATS(t)
	bs, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	subj := wire.IngestSubject("t1", "snow1", "incident")
	raw := func(id, line string) *nats.Msg {
		m := batchMsg(t, subj, id, "a1", nil)
		m.Header.Set(wire.HeaderRecords, "1")
		m.Data = zstdOf(t, []byte(line+"\n"))
		return m
	}
	good := []wire.Record{rec("incident", "i1", 1, 1), rec("incident", "i2", 1, 1)}
	// Published before the consumer starts, so they are fetched together.
	e.publish(t, batchMsg(t, subj, "good-1", "a1", good[:1]))
	e.publish(t, raw("bad-time", `{"op":"upsert","table":"incident","sys_id":"x1","sys_updated_on":"2024-13-45 99:00:00","sys_mod_count":1}`))
	e.publish(t, raw("bad-utf8", `{"op":"upsert","table":"incident","sys_id":"x2","sys_updated_on":"2026-01-01 10:00:00","sys_mod_count":1,"fields":{"short_description":"caf`+"\xe9"+`"}}`))
	e.publish(t, batchMsg(t, subj, "good-2", "a1", good[1:]))
	r := start(t, e.testConfig(t, bs))

	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		qs, err := quarantinedAll(t, bs)
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, q := range qs {
			got[q.ID] = q.Reason
		}
		for _, id := range []string{"bad-time", "bad-utf8"} {
			if !strings.HasPrefix(got[id], ReasonDecode+":") {
				return fmt.Errorf("batch %s: quarantine reason %q, want prefix %q", id, got[id], ReasonDecode+":")
			}
		}
		if len(got) != 2 {
			return fmt.Errorf("quarantined %v, want bad-time and bad-utf8", got)
		}
		return nil
	})
	e.waitDrained(t)
	recs, _, err := bs.List(t.Context(), store.Query{Tenant: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	want := expected(t, "t1", "snow1", good)
	got := map[string]store.Record{}
	for _, r := range recs {
		got[key(r)] = r
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("store (-want +got):\n%s", d)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_batches_retried_total"); got != 0 {
		t.Errorf("batches_retried_total = %v, want 0", got)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_batches_rejected_total", "reason", ReasonDecode); got != 2 {
		t.Errorf("batches_rejected_total{reason=decode} = %v, want 2", got)
	}
}
