package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// badBatch is a batch on tenant's subject that fails decoding.
func badBatch(t *testing.T, tenant, id string) *nats.Msg {
	t.Helper()
	m := batchMsg(t, wire.IngestSubject(tenant, "snow1", "incident"), id, "a1", []wire.Record{rec("incident", "x", 1, 1)})
	m.Data = zstdOf(t, []byte("not json\n"))
	return m
}

// TestQuarantineBoundedPerTenant: a tenant flooding the quarantine fills
// only its own share; each refusal is counted; another tenant's bad batch is
// still kept.
func TestQuarantineBoundedPerTenant(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	cfg := e.testConfig(t, st)
	cfg.Quarantine = store.QuarantineLimits{MaxBatches: 2, MaxBytes: 1 << 20}
	r := start(t, cfg)
	for i := range 5 {
		e.publish(t, badBatch(t, "flood", fmt.Sprintf("flood:%d", i)))
	}
	e.publish(t, badBatch(t, "calm", "calm:1"))
	e.waitDrained(t)
	// Three of flood's batches refused means all five were handled; the
	// stream can read drained a moment before the last write is visible,
	// so wait for calm's entry rather than read once.
	waitMetric(t, r.reg, "sei_relay_ingest_quarantine_refused_total", "reason", "full", 3)
	n := map[string]int{}
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		n = map[string]int{}
		for _, q := range mustQuarantine(t, st) {
			n[q.Tenant]++
		}
		if n["calm"] != 1 {
			return fmt.Errorf("quarantine per tenant = %v, calm's batch not there yet", n)
		}
		return nil
	})
	if n["flood"] != 2 || n["calm"] != 1 {
		t.Errorf("quarantine per tenant = %v, want flood 2 and calm 1", n)
	}
}

// TestQuarantineNeverReplaced: a second bad batch with a (tenant, id) that is
// quarantined already leaves the first entry as it was, and is counted.
// Before, it replaced the entry: an agent could overwrite evidence.
func TestQuarantineNeverReplaced(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	first := store.Quarantined{Tenant: "t1", ID: "t1:dup", Subject: wire.IngestSubject("t1", "snow1", "incident"), Data: []byte("first"), Reason: "decode: first", Time: time.Unix(1, 0)}
	if err := st.Quarantine(t.Context(), first, store.QuarantineLimits{}); err != nil {
		t.Fatal(err)
	}
	r := start(t, e.testConfig(t, st))
	e.publish(t, badBatch(t, "t1", "t1:dup"))
	e.waitDrained(t)
	got, err := st.QuarantinedBatch(t.Context(), "t1", "t1:dup")
	if err != nil || string(got.Data) != "first" || got.Reason != "decode: first" {
		t.Errorf("entry after a conflict = %+v, %v; want the first kept", got, err)
	}
	waitMetric(t, r.reg, "sei_relay_ingest_quarantine_refused_total", "reason", "exists", 1)
}

// TestForeignScopedMsgIDRejected: a batch on tenant t2's subject whose
// Nats-Msg-Id is scoped to t1 is rejected (msg_id), not applied. Before,
// nothing looked at the id's scope.
func TestForeignScopedMsgIDRejected(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	r := start(t, e.testConfig(t, st))
	good := []wire.Record{rec("incident", "g1", 1, 1)}
	e.publish(t, batchMsg(t, wire.IngestSubject("t2", "snow1", "incident"), wire.ScopedMsgID("t1", "abc-1"), "a2", good))
	e.publish(t, batchMsg(t, wire.IngestSubject("t2", "snow1", "incident"), wire.ScopedMsgID("t2", "abc-2"), "a2", good))
	waitRecords(t, st, expected(t, "t2", "snow1", good))
	e.waitDrained(t)
	q := st.quarantinedIDs()
	if !strings.HasPrefix(q["t1:abc-1"], ReasonMsgID) || len(q) != 1 {
		t.Errorf("quarantine = %v, want t1:abc-1 as msg_id", q)
	}
	waitMetric(t, r.reg, "sei_relay_ingest_batches_rejected_total", "reason", ReasonMsgID, 1)
	if n := metric(t, r.reg, "sei_relay_ingest_batches_rejected_total", "reason", ReasonMsgID); n != 1 {
		t.Errorf("rejected msg_id = %v", n)
	}
}

func mustQuarantine(t *testing.T, st store.Store) []store.Quarantined {
	t.Helper()
	qs, err := quarantinedAll(t, st)
	if err != nil {
		t.Fatal(err)
	}
	return qs
}

// TestQuarantineBoundsMetadata: a bad batch with huge headers and a huge
// invalid sys_id is quarantined with its data whole but its headers and
// reason cut, so listing the quarantine's metadata stays small.
func TestQuarantineBoundsMetadata(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	start(t, e.testConfig(t, st))
	m := badBatch(t, "t1", "t1:huge")
	raw := `{"op":"upsert","table":"incident","sys_id":"` + strings.Repeat("z", 200<<10) + `","sys_updated_on":"2026-01-01 10:00:00","sys_mod_count":1}` + "\n"
	m.Data = zstdOf(t, []byte(raw))
	for i := range 5 { // JetStream caps a message's headers at 64 KiB
		m.Header.Set(fmt.Sprintf("A-Big-%d", i), strings.Repeat("p", 10<<10))
	}
	for i := range 40 {
		m.Header.Set(fmt.Sprintf("A-Pad-%02d", i), "x")
	}
	e.publish(t, m)
	e.waitDrained(t)
	// The stream may read drained a moment before the quarantine write
	// is visible: wait for it rather than read once.
	var q store.Quarantined
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		var err error
		q, err = st.QuarantinedBatch(t.Context(), "t1", "t1:huge")
		return err
	})
	meta := len(q.Reason)
	for k, v := range q.Header {
		meta += len(k) + len(v)
	}
	if meta > 8<<10 || len(q.Header) > maxQuarantineHeaders {
		t.Errorf("quarantine metadata is %d bytes in %d headers, want bounded", meta, len(q.Header))
	}
	if string(q.Data) != string(m.Data) {
		t.Error("quarantined data is not the message's")
	}
	if q.Header[wire.HeaderSchema] != wire.SchemaVersion {
		t.Errorf("the headers a replay needs are lost: %v", q.Header[wire.HeaderSchema])
	}
}

// waitMetric waits until the counter name{label=value} reads want: the
// consumer counts a batch around its ack, so a drained stream can be seen a
// moment before the count.
func waitMetric(t *testing.T, reg *prometheus.Registry, name, label, value string, want float64) {
	t.Helper()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := metric(t, reg, name, label, value); got != want {
			return fmt.Errorf("%s{%s=%q} = %v, want %v", name, label, value, got, want)
		}
		return nil
	})
}
