package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// expected returns the newest version of each record, as the store must hold it.
func expected(t *testing.T, tenant, integration string, recs []wire.Record) map[string]store.Record {
	t.Helper()
	out := map[string]store.Record{}
	for i := range recs {
		r, err := toStore(tenant, integration, &recs[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		if old, ok := out[key(r)]; ok && !r.Version().Newer(old.Version()) {
			continue
		}
		out[key(r)] = r
	}
	return out
}

// waitRecords waits until st holds exactly want.
func waitRecords(t *testing.T, st *memStore, want map[string]store.Record) {
	t.Helper()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if d := cmp.Diff(want, st.snapshot()); d != "" {
			return fmt.Errorf("store (-want +got):\n%.2000s", d)
		}
		return nil
	})
}

// publishHistory publishes n batches of size records over two tables, with
// later batches updating and deleting earlier records, and returns every
// record published.
func publishHistory(t *testing.T, e *env, prefix string, n, size int) []wire.Record {
	t.Helper()
	var all []wire.Record
	for b := range n {
		table := []string{"incident", "sys_user"}[b%2]
		var recs []wire.Record
		for i := range size {
			// ids repeat every 4 batches of a table: later batches carry newer versions.
			id := fmt.Sprintf("%s%03d", table[:3], (b/2%2)*size+i)
			r := rec(table, id, b, b*10+i)
			if b >= n-2 && i%7 == 0 {
				r.Op, r.Fields = wire.OpDelete, nil
			}
			recs = append(recs, r)
		}
		all = append(all, recs...)
		e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", table), fmt.Sprintf("%s-%d", prefix, b), "a1", recs))
	}
	return all
}

func TestConsumerAppliesBatches(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	r := start(t, e.testConfig(t, st))
	all := publishHistory(t, e, "b", 20, 25)
	// Different integration and tenant for the same sys_ids: separate records.
	other := []wire.Record{rec("incident", "inc000", 59, 1)}
	e.publish(t, batchMsg(t, wire.IngestSubject("t2", "snow9", "incident"), "other", "a2", other))

	want := expected(t, "t1", "snow1", all)
	for k, v := range expected(t, "t2", "snow9", other) {
		want[k] = v
	}
	waitRecords(t, st, want)
	e.waitDrained(t)

	deleted := 0
	for _, r := range want {
		if r.Deleted {
			deleted++
			if r.Fields != nil {
				t.Errorf("tombstone %s has fields %s", key(r), r.Fields)
			}
		}
	}
	if deleted == 0 {
		t.Error("no tombstone stored")
	}
	applied, ignored, _ := st.counts()
	if got := metric(t, r.reg, "sei_relay_ingest_batches_applied_total"); got != 21 {
		t.Errorf("batches_applied_total = %v, want 21", got)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_records_applied_total"); got != float64(applied) {
		t.Errorf("records_applied_total = %v, want %d", got, applied)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_records_ignored_total"); got != float64(ignored) {
		t.Errorf("records_ignored_total = %v, want %d", got, ignored)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_store_apply_seconds"); got < 1 {
		t.Errorf("store_apply_seconds count = %v, want > 0", got)
	}
}

func TestConsumerDuplicatesAreNoOps(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	// The first commit "loses its reply": stored, but Apply reports an error,
	// so the batch is redelivered.
	st.failAfterCommit = func(call int) error {
		if call == 1 {
			return errors.New("connection reset after commit")
		}
		return nil
	}
	cfg := e.testConfig(t, st)
	cfg.Batch = 1 // one batch per transaction: the counts below depend on it
	r := start(t, cfg)
	recs := []wire.Record{rec("incident", "i1", 1, 1), rec("incident", "i2", 1, 1), rec("incident", "i3", 1, 1)}
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "first", "a1", recs))
	// The same batch again under another id (past the dedup window), and an
	// older version of i1 delivered late.
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "again", "a1", recs))
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "late", "a1", []wire.Record{rec("incident", "i1", 0, 9)}))

	waitRecords(t, st, expected(t, "t1", "snow1", recs))
	e.waitDrained(t)
	applied, ignored, _ := st.counts()
	if applied != 3 || ignored != 7 {
		t.Errorf("applied %d, ignored %d; want 3 and 7 (redelivery 3, duplicate 3, late 1)", applied, ignored)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_batches_retried_total"); got != 1 {
		t.Errorf("batches_retried_total = %v, want 1", got)
	}
	if got := len(st.quarantinedIDs()); got != 0 {
		t.Errorf("%d batches quarantined, want 0", got)
	}
}

func TestConsumerRejectsBadBatches(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	r := start(t, e.testConfig(t, st))
	good := []wire.Record{rec("incident", "i1", 1, 1)}
	subj := wire.IngestSubject("t1", "snow1", "incident")
	tests := []struct {
		name   string
		reason string
		msg    func() *nats.Msg
	}{
		{"payload table differs from subject", ReasonTableMismatch, func() *nats.Msg {
			return batchMsg(t, subj, "mismatch", "a1", []wire.Record{rec("incident", "i2", 1, 1), rec("sys_user", "u1", 1, 1)})
		}},
		{"undecodable body", ReasonDecode, func() *nats.Msg {
			m := batchMsg(t, subj, "garbage", "a1", good)
			m.Data = []byte("this is not zstd")
			return m
		}},
		{"invalid record", ReasonDecode, func() *nats.Msg {
			bad := rec("incident", "i3", 1, 1)
			bad.SysUpdatedOn = "yesterday"
			raw, _ := json.Marshal(bad)
			m := batchMsg(t, subj, "invalid", "a1", good)
			m.Data = zstdOf(t, raw)
			return m
		}},
		{"wrong schema", ReasonSchema, func() *nats.Msg {
			m := batchMsg(t, subj, "schema", "a1", good)
			m.Header.Set(wire.HeaderSchema, "2")
			return m
		}},
		{"no encoding header", ReasonEncoding, func() *nats.Msg {
			m := batchMsg(t, subj, "encoding", "a1", good)
			m.Header.Del(wire.HeaderEncoding)
			return m
		}},
		{"record count header differs", ReasonRecordCount, func() *nats.Msg {
			m := batchMsg(t, subj, "count", "a1", good)
			m.Header.Set(wire.HeaderRecords, "2")
			return m
		}},
		{"invalid tenant in subject", ReasonSubject, func() *nats.Msg {
			return batchMsg(t, "sei.ingest.T1.snow1.incident", "subject", "a1", good)
		}},
		{"subject too long", ReasonSubject, func() *nats.Msg {
			return batchMsg(t, subj+".extra", "subject-long", "a1", good)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.msg()
			id := m.Header.Get(wire.HeaderMsgID)
			before := metric(t, r.reg, "sei_relay_ingest_batches_rejected_total", "reason", tc.reason)
			e.publish(t, m)
			natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				reason, ok := st.quarantinedIDs()[id]
				if !ok {
					return fmt.Errorf("batch %s not quarantined", id)
				}
				if !strings.HasPrefix(reason, tc.reason+":") {
					return fmt.Errorf("quarantine reason %q, want prefix %q", reason, tc.reason)
				}
				return nil
			})
			e.waitDrained(t)
			if got := metric(t, r.reg, "sei_relay_ingest_batches_rejected_total", "reason", tc.reason); got != before+1 {
				t.Errorf("batches_rejected_total{reason=%s} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
	if got := st.snapshot(); len(got) != 0 {
		t.Errorf("rejected batches applied records: %v", got)
	}
	qs, _ := quarantinedAll(t, st)
	for _, q := range qs {
		if len(q.Data) == 0 || q.Subject == "" || q.Header[wire.HeaderSchema] == "" && q.ID != "schema" {
			t.Errorf("quarantined %s lacks data, subject or headers: %+v", q.ID, q)
		}
	}
}

func TestConsumerRetriesTransientStoreErrors(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	st.failApply = func(call int, _ []store.Record) error {
		if call <= 2 {
			return errors.New("database is restarting")
		}
		return nil
	}
	r := start(t, e.testConfig(t, st))
	recs := []wire.Record{rec("incident", "i1", 1, 1), rec("incident", "i2", 2, 1)}
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "b1", "a1", recs))
	waitRecords(t, st, expected(t, "t1", "snow1", recs))
	e.waitDrained(t)
	if got := metric(t, r.reg, "sei_relay_ingest_batches_retried_total"); got != 2 {
		t.Errorf("batches_retried_total = %v, want 2", got)
	}
	if got := len(st.quarantinedIDs()); got != 0 {
		t.Errorf("%d batches quarantined, want 0", got)
	}
}

func TestConsumerQuarantinesAfterMaxDeliverAndReplays(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	healed := make(chan struct{})
	// The store refuses every write holding "poison" until healed.
	st.failApply = func(_ int, recs []store.Record) error {
		select {
		case <-healed:
			return nil
		default:
		}
		for _, r := range recs {
			if r.SysID == "poison" {
				return errors.New("value too long for column")
			}
		}
		return nil
	}
	cfg := e.testConfig(t, st)
	r := start(t, cfg)
	subj := wire.IngestSubject("t1", "snow1", "incident")
	poison := []wire.Record{rec("incident", "poison", 1, 1)}
	fine := []wire.Record{rec("incident", "fine", 1, 1)}
	// Published together, so they are likely fetched into one group: the
	// poison batch must not hold back the fine one.
	e.publish(t, batchMsg(t, subj, "poison-batch", "a1", poison))
	e.publish(t, batchMsg(t, subj, "fine-batch", "a1", fine))

	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		reason, ok := st.quarantinedIDs()["poison-batch"]
		if !ok {
			return errors.New("poison batch not quarantined")
		}
		if !strings.HasPrefix(reason, "delivered 3 times") {
			return fmt.Errorf("reason %q", reason)
		}
		return nil
	})
	waitRecords(t, st, expected(t, "t1", "snow1", fine))
	e.waitDrained(t)
	if got := metric(t, r.reg, "sei_relay_ingest_batches_quarantined_total", "reason", ReasonMaxDeliver); got != 1 {
		t.Errorf("batches_quarantined_total{reason=max_deliver} = %v, want 1", got)
	}

	// The operator fixes the store and replays the batch.
	close(healed)
	qs, err := quarantinedAll(t, st)
	if err != nil || len(qs) != 1 {
		t.Fatalf("Quarantined = %v, %v; want one", qs, err)
	}
	if err := Replay(t.Context(), e.js, qs[0]); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if err := st.Release(t.Context(), qs[0].Tenant, qs[0].ID); err != nil {
		t.Fatal(err)
	}
	waitRecords(t, st, expected(t, "t1", "snow1", append(poison, fine...)))
	e.waitDrained(t)
}

func TestConsumerQuarantinesInvalidRecordAtOnce(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	// The store finds a record invalid that checkBatch let through.
	st.failApply = func(_ int, recs []store.Record) error {
		for _, r := range recs {
			if r.SysID == "refused" {
				return fmt.Errorf("check record %s/%s: %w", r.Table, r.SysID, store.ErrInvalidRecord)
			}
		}
		return nil
	}
	subj := wire.IngestSubject("t1", "snow1", "incident")
	fine := []wire.Record{rec("incident", "fine", 1, 1)}
	// Published before the consumer starts, so they are fetched together.
	e.publish(t, batchMsg(t, subj, "refused-batch", "a1", []wire.Record{rec("incident", "refused", 1, 1)}))
	e.publish(t, batchMsg(t, subj, "fine-batch", "a1", fine))
	r := start(t, e.testConfig(t, st))
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		reason, ok := st.quarantinedIDs()["refused-batch"]
		if !ok {
			return errors.New("refused batch not quarantined")
		}
		if !strings.HasPrefix(reason, ReasonDecode+":") {
			return fmt.Errorf("reason %q, want prefix %q", reason, ReasonDecode+":")
		}
		return nil
	})
	waitRecords(t, st, expected(t, "t1", "snow1", fine))
	e.waitDrained(t)
	if got := metric(t, r.reg, "sei_relay_ingest_batches_retried_total"); got != 0 {
		t.Errorf("batches_retried_total = %v, want 0", got)
	}
}

func TestConsumerKeepsBatchWhenQuarantineFails(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	st.failQuarantine = errors.New("disk full")
	start(t, e.testConfig(t, st))
	m := batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "garbage", "a1", nil)
	m.Data = []byte("not zstd")
	e.publish(t, m)
	// The batch keeps coming back while the quarantine fails...
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		c, err := e.js.Consumer(t.Context(), wire.StreamName, DefaultDurable)
		if err != nil {
			return err
		}
		info, err := c.Info(t.Context())
		if err != nil {
			return err
		}
		if info.NumRedelivered == 0 {
			return errors.New("not redelivered yet")
		}
		return nil
	})
	// ...and is quarantined once the store works again.
	st.mu.Lock()
	st.failQuarantine = nil
	st.mu.Unlock()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, ok := st.quarantinedIDs()["garbage"]; !ok {
			return errors.New("not quarantined")
		}
		return nil
	})
	e.waitDrained(t)
}

func TestTwoConsumersShareTheStream(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	// Two relays: own connections, one durable, one store.
	cfg1 := e.testConfig(t, st)
	cfg1.Batch = 4
	nc2 := connect(t, e.srv)
	cfg2 := cfg1
	cfg2.Conn = nc2
	js2, err := jetstream.New(nc2)
	if err != nil {
		t.Fatal(err)
	}
	cfg2.JS = js2
	r1 := start(t, cfg1)
	r2 := start(t, cfg2)

	var all []wire.Record
	for b := range 200 {
		recs := []wire.Record{rec("incident", fmt.Sprintf("i%03d", b), 1, 1), rec("sys_user", fmt.Sprintf("u%03d", b), 1, 1)}
		all = append(all, recs...)
		for _, table := range []string{"incident", "sys_user"} {
			var part []wire.Record
			for _, r := range recs {
				if r.Table == table {
					part = append(part, r)
				}
			}
			e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", table), fmt.Sprintf("%s-%d", table, b), "a1", part))
		}
	}
	waitRecords(t, st, expected(t, "t1", "snow1", all))
	e.waitDrained(t)
	applied, ignored, _ := st.counts()
	if applied != len(all) || ignored != 0 {
		t.Errorf("applied %d, ignored %d; want %d and 0: a batch was applied twice", applied, ignored, len(all))
	}
	b1 := metric(t, r1.reg, "sei_relay_ingest_batches_applied_total")
	b2 := metric(t, r2.reg, "sei_relay_ingest_batches_applied_total")
	if b1+b2 != 400 {
		t.Errorf("batches applied %v + %v, want 400", b1, b2)
	}
	t.Logf("relay 1 applied %v batches, relay 2 %v", b1, b2)
}

func TestConsumerStoresHeartbeats(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cfg := e.testConfig(t, st)
	cfg.Now = func() time.Time { return now }
	r := start(t, cfg)

	// The payload claims another agent: the subject wins.
	hb := wire.Heartbeat{Agent: "someone-else", Version: "1.2.3", Time: now.Add(-time.Second), Verdict: "OK", Backlog: 42}
	body, _ := json.Marshal(hb)
	// The subscription may not be live yet when Run just started: repeat.
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if err := e.nc.Publish(wire.HeartbeatSubject("t1", "a1"), body); err != nil {
			return err
		}
		_ = e.nc.Publish(wire.HeartbeatSubject("t1", "a2"), []byte("not json"))
		_ = e.nc.Publish(wire.HeartbeatSubject("t1", "a3"), []byte("null"))
		got, err := st.Agents(t.Context(), "t1")
		if err != nil {
			return err
		}
		want := []store.Agent{{Tenant: "t1", Agent: "a1", Seen: now, Heartbeat: body}}
		if d := cmp.Diff(want, got); d != "" {
			return fmt.Errorf("agents (-want +got):\n%s", d)
		}
		return nil
	})
	if got := metric(t, r.reg, "sei_relay_ingest_heartbeats_total"); got < 1 {
		t.Errorf("heartbeats_total = %v", got)
	}
}

func TestConsumerConfirmsDeliveries(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	start(t, e.testConfig(t, st))
	sub, err := e.nc.SubscribeSync(wire.ConfirmSubject("t1", "a1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	other, err := e.nc.SubscribeSync(wire.ConfirmSubject("t1", "a2"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Unsubscribe()

	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "b1", "a1",
		[]wire.Record{rec("incident", "i1", 5, 1), rec("incident", "i2", 7, 3), rec("incident", "i3", 7, 2)}))
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "sys_user"), "b2", "a1",
		[]wire.Record{rec("sys_user", "u1", 3, 0)}))
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "b3", "a1",
		[]wire.Record{rec("incident", "i1", 6, 0)})) // older than b1's newest
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "b4", "a2",
		[]wire.Record{rec("incident", "x1", 1, 0)}))

	want := map[string]wire.Version{
		"incident": {UpdatedOn: "2026-01-01 10:07:00", ModCount: 3},
		"sys_user": {UpdatedOn: "2026-01-01 10:03:00", ModCount: 0},
	}
	var last wire.Confirmation
	natstest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		m, err := sub.NextMsg(time.Second)
		if err != nil {
			return fmt.Errorf("no confirmation matching %v (last %v): %w", want, last, err)
		}
		last = wire.Confirmation{}
		if err := json.Unmarshal(m.Data, &last); err != nil {
			t.Fatalf("decode confirmation: %v", err)
		}
		if d := cmp.Diff(want, last.Tables); d != "" {
			return fmt.Errorf("tables (-want +got):\n%s", d)
		}
		return nil
	})
	if last.Time.IsZero() {
		t.Error("confirmation without time")
	}
	m, err := other.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("agent a2: %v", err)
	}
	var c wire.Confirmation
	if err := json.Unmarshal(m.Data, &c); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]wire.Version{"incident": {UpdatedOn: "2026-01-01 10:01:00"}}, c.Tables); d != "" {
		t.Errorf("agent a2 confirmation (-want +got):\n%s", d)
	}
	// An agent that restarts missed what was sent: its next heartbeat
	// brings the confirmation again.
	if err := e.nc.Publish(wire.HeartbeatSubject("t1", "a2"), []byte(`{"agent":"a2"}`)); err != nil {
		t.Fatal(err)
	}
	m, err = other.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("agent a2, after its heartbeat: %v", err)
	}
	c = wire.Confirmation{}
	if err := json.Unmarshal(m.Data, &c); err != nil || c.Tables["incident"].UpdatedOn != "2026-01-01 10:01:00" {
		t.Errorf("confirmation after heartbeat: %s (%v)", m.Data, err)
	}
}

func TestConsumerReportsLagAndSendsInProgress(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	release := make(chan struct{})
	st.failApply = func(call int, recs []store.Record) error {
		if call == 1 {
			<-release // a slow write, longer than AckWait
		}
		t.Logf("apply call %d at %s: %v", call, time.Now().Format("05.000"), recs[0].SysID)
		return nil
	}
	cfg := e.testConfig(t, st)
	cfg.Batch = 1
	cfg.AckWait = 300 * time.Millisecond
	subj := wire.IngestSubject("t1", "snow1", "incident")
	var all []wire.Record
	for b := range 5 {
		recs := []wire.Record{rec("incident", fmt.Sprintf("i%d", b), 1, 1)}
		all = append(all, recs...)
		e.publish(t, batchMsg(t, subj, fmt.Sprintf("b%d", b), "a1", recs))
	}
	r := start(t, cfg)
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := metric(t, r.reg, "sei_relay_ingest_consumer_pending_messages"); got != 4 {
			return fmt.Errorf("consumer_pending_messages = %v, want 4", got)
		}
		return nil
	})
	// Hold the write for several AckWaits: InProgress keeps the batch ours.
	held := time.Now()
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if time.Since(held) < 4*cfg.AckWait {
			return errors.New("still holding")
		}
		return nil
	})
	close(release)
	waitRecords(t, st, expected(t, "t1", "snow1", all))
	e.waitDrained(t)
	if applied, ignored, _ := st.counts(); applied != 5 || ignored != 0 {
		t.Errorf("applied %d, ignored %d; want 5 and 0 (a slow batch was redelivered)", applied, ignored)
	}
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := metric(t, r.reg, "sei_relay_ingest_consumer_pending_messages"); got != 0 {
			return fmt.Errorf("consumer_pending_messages = %v, want 0", got)
		}
		return nil
	})
}

func TestEnsureStreamIsIdempotentAndUpdates(t *testing.T) {
	e := startNATS(t) // created it once with defaults
	s, err := EnsureStream(t.Context(), e.js, StreamConfig{MaxBytes: 64 << 20, Duplicates: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxBytes != 64<<20 || info.Config.Duplicates != 5*time.Minute || info.Config.Subjects[0] != wire.IngestWildcard {
		t.Errorf("stream config %+v", info.Config)
	}
	if _, err := EnsureStream(t.Context(), e.js, StreamConfig{MaxBytes: 64 << 20, Duplicates: 5 * time.Minute}); err != nil {
		t.Errorf("second EnsureStream: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{Durable: "a.b", MaxDeliver: -1})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"JS is required", "Conn is required", "Store is required", "Durable", "MaxDeliver"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRunStopsWhileWaitingForStream(t *testing.T) {
	e := startNATS(t)
	if err := e.js.DeleteStream(t.Context(), wire.StreamName); err != nil {
		t.Fatal(err)
	}
	c, err := New(e.testConfig(t, newMemStore()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil after ctx ended", err)
	}
}

func TestConsumerRecreatesDeletedDurable(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	start(t, e.testConfig(t, st))
	first := []wire.Record{rec("incident", "i1", 1, 1)}
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "b1", "a1", first))
	waitRecords(t, st, expected(t, "t1", "snow1", first))
	e.waitDrained(t)
	if err := e.js.DeleteConsumer(t.Context(), wire.StreamName, DefaultDurable); err != nil {
		t.Fatal(err)
	}
	second := []wire.Record{rec("incident", "i2", 1, 1)}
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "b2", "a1", second))
	waitRecords(t, st, expected(t, "t1", "snow1", append(first, second...)))
}

func TestConsumerSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir,
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20, NoSigs: true, NoLog: true}
	run := func() *server.Server {
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats server not ready")
		}
		return srv
	}
	srv := run()
	opts.Port = srv.Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, nc: nc, js: js}
	st := newMemStore()
	cfg := e.testConfig(t, st)
	cfg.Stream = &StreamConfig{}
	r := start(t, cfg)
	first := []wire.Record{rec("incident", "i1", 1, 1)}
	e.publish(t, batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "b1", "a1", first))
	waitRecords(t, st, expected(t, "t1", "snow1", first))

	srv.Shutdown()
	srv.WaitForShutdown()
	e.srv = run()
	defer func() {
		r.stop() // before the server goes
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}()
	second := []wire.Record{rec("incident", "i2", 1, 1)}
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, err := js.PublishMsg(t.Context(), batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "b2", "a1", second))
		return err
	})
	waitRecords(t, st, expected(t, "t1", "snow1", append(first, second...)))
}

// TestTemporarySetupErrors: consumer set-up errors the server gives while
// a durable is being deleted or recreated are retried, not fatal to Run.
// "error creating store for consumer" (10012) was seen in CI right after a
// DeleteConsumer, and stopped the consumer for good.
func TestTemporarySetupErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&jetstream.APIError{Code: 500, ErrorCode: jetstream.JSErrCodeConsumerCreate}, true},
		{&jetstream.APIError{Code: 404, ErrorCode: jetstream.JSErrCodeConsumerNotFound}, true},
		{&jetstream.APIError{Code: 503}, true},
		{jetstream.ErrStreamNotFound, true},
		{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeBadRequest}, false},
		{errors.New("boom"), false},
	} {
		if got := temporary(fmt.Errorf("set up: %w", tc.err)); got != tc.want {
			t.Errorf("temporary(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestHeartbeatFloodLogsAFew floods the relay with refused heartbeats, as
// anyone holding one agent's credentials could: every one is counted, but
// the log grows by a few lines, not by one a message.
func TestHeartbeatFloodLogsAFew(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	var logs lockedBuffer
	cfg := e.testConfig(t, st)
	cfg.Logger = zerolog.New(&logs)
	r := start(t, cfg)
	const flood = 500
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if err := e.nc.Publish(wire.HeartbeatSubject("t1", "a1"), []byte("not json")); err != nil {
			return err
		}
		if metric(t, r.reg, "sei_relay_ingest_heartbeats_rejected_total") < 1 {
			return fmt.Errorf("no heartbeat refused yet")
		}
		return nil
	})
	before := metric(t, r.reg, "sei_relay_ingest_heartbeats_rejected_total")
	for range flood {
		if err := e.nc.Publish(wire.HeartbeatSubject("t1", "a1"), []byte("not json")); err != nil {
			t.Fatal(err)
		}
	}
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if got := metric(t, r.reg, "sei_relay_ingest_heartbeats_rejected_total") - before; got < flood {
			return fmt.Errorf("%v of %d refused so far", got, flood)
		}
		return nil
	})
	if n := strings.Count(logs.String(), "drop heartbeat"); n < 1 || n > dropLogBurst {
		t.Errorf("%d 'drop heartbeat' log lines for %d refused heartbeats, want 1..%d", n, flood, dropLogBurst)
	}
}

// lockedBuffer is a bytes.Buffer the consumer's goroutines may log to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
