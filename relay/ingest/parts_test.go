package ingest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// bigRec is an incident whose description is size bytes of hex noise: its
// batch body is far larger than one message.
func bigRec(id string, minute, mod, size int, seed uint64) wire.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	noise := make([]byte, size/2)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	r := rec("incident", id, minute, mod)
	r.Fields["description"] = json.RawMessage(strconv.Quote(hex.EncodeToString(noise)))
	return r
}

// partMsgs builds the part messages of a batch of recs, as an agent sends
// them: one message per part, each with its own id.
func partMsgs(t testing.TB, subject, id, agent string, recs []wire.Record) []*nats.Msg {
	t.Helper()
	body, err := wire.Encode(recs)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	set, parts, err := wire.Split(body)
	if err != nil {
		t.Fatalf("split: %v", err)
	}
	var out []*nats.Msg
	for i, d := range parts {
		p := wire.Part{Set: set, Index: i + 1, Count: len(parts)}
		m := batchMsg(t, subject, fmt.Sprintf("%s-p%d", id, p.Index), agent, nil)
		m.Header.Set(wire.HeaderPart, p.Header())
		m.Header.Set(wire.HeaderPartSet, p.Set)
		m.Header.Set(wire.HeaderRecords, "0")
		if p.Index == p.Count {
			m.Header.Set(wire.HeaderRecords, strconv.Itoa(len(recs)))
		}
		m.Data = d
		out = append(out, m)
	}
	return out
}

// storeRecords lists every record of tenant t1.
func storeRecords(t testing.TB, s store.Store) (map[string]store.Record, error) {
	got := map[string]store.Record{}
	after := ""
	for {
		recs, next, err := s.List(t.Context(), store.Query{Tenant: "t1", After: after, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			got[key(r)] = r
		}
		if next == "" {
			return got, nil
		}
		after = next
	}
}

// sameStore reports how got differs from want (without cmp: a diff of
// megabyte fields is slow).
func sameStore(want, got map[string]store.Record) error {
	if len(got) != len(want) {
		return fmt.Errorf("store holds %d records, want %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return fmt.Errorf("store lacks %s", k)
		}
		if string(g.Fields) != string(w.Fields) {
			return fmt.Errorf("%s has %d bytes of fields, want %d", k, len(g.Fields), len(w.Fields))
		}
		g.Fields, w.Fields = nil, nil
		if !reflect.DeepEqual(g, w) {
			return fmt.Errorf("%s is %+v, want %+v", k, g, w)
		}
	}
	return nil
}

// TestConsumerReassemblesLargeRecord: a 5 MB record, in parts delivered
// out of order, lands in Badger whole, and its parts are deleted. Before
// part sets, no message could carry it (and each part alone is refused).
func TestConsumerReassemblesLargeRecord(t *testing.T) {
	e := startNATS(t)
	bs, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	r := start(t, e.testConfig(t, bs))
	subject := wire.IngestSubject("t1", "snow1", "incident")
	big := bigRec("inc-big", 5, 3, 5<<20, 1)
	small := rec("incident", "inc-small", 5, 1)
	msgs := partMsgs(t, subject, "big", "a1", []wire.Record{big})
	if len(msgs) < 3 {
		t.Fatalf("a 5 MB record makes %d parts, want several", len(msgs))
	}
	// Last part first, a whole batch in between.
	e.publish(t, msgs[len(msgs)-1])
	e.publish(t, batchMsg(t, subject, "small", "a1", []wire.Record{small}))
	for _, m := range msgs[:len(msgs)-1] {
		e.publish(t, m)
	}
	want := expected(t, "t1", "snow1", []wire.Record{big, small})
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		got, err := storeRecords(t, bs)
		if err != nil {
			return err
		}
		return sameStore(want, got)
	})
	e.waitDrained(t)
	// A part delivered again after its set was applied (its ack was lost)
	// is acknowledged, not kept as the start of a new set.
	late := partMsgs(t, subject, "late", "a1", []wire.Record{big})[0]
	e.publish(t, late)
	e.waitDrained(t)
	set := msgs[0].Header.Get(wire.HeaderPartSet)
	if ps, err := bs.Parts(t.Context(), "t1", "snow1", set); err != nil || len(ps) != 0 {
		t.Errorf("parts left after the set was applied: %d (%v)", len(ps), err)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_part_sets_applied_total"); got != 1 {
		t.Errorf("part_sets_applied_total = %v, want 1", got)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_parts_stored_total"); got != float64(len(msgs)) {
		t.Errorf("parts_stored_total = %v, want %d", got, len(msgs))
	}
	if qs, err := quarantinedAll(t, bs); err != nil || len(qs) != 0 {
		t.Errorf("quarantined %v (%v), want none", qs, err)
	}
}

// TestConsumerPartsSurviveCrashes: one relay stores some parts and stops;
// another (same store, same durable) gets the rest, parts come twice and out
// of order, and the relay "crashes" after applying a set but before deleting
// its parts. The record is stored once, whole; no part is left.
func TestConsumerPartsSurviveCrashes(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	st.failDeleteParts = 1
	subject := wire.IngestSubject("t1", "snow1", "incident")
	big := bigRec("inc-big", 5, 3, 5<<20, 2)
	msgs := partMsgs(t, subject, "big", "a1", []wire.Record{big})
	n := len(msgs)
	if n < 3 {
		t.Fatalf("%d parts, want at least 3", n)
	}
	first := start(t, e.testConfig(t, st))
	e.publish(t, msgs[1])
	e.publish(t, msgs[0])
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if got := st.partCount(); got != 2 {
			return fmt.Errorf("%d parts stored, want 2", got)
		}
		return nil
	})
	e.waitDrained(t)
	first.stop()
	if got := st.snapshot(); len(got) != 0 {
		t.Fatalf("record stored from 2 of %d parts: %v", n, got)
	}
	// The second relay gets part 1 again (the agent re-read its page), then
	// the rest.
	dup := msgs[0].Header.Get(wire.HeaderPart)
	again := partMsgs(t, subject, "reread", "a1", []wire.Record{big})[0]
	if again.Header.Get(wire.HeaderPart) != dup {
		t.Fatal("re-read part differs")
	}
	second := start(t, e.testConfig(t, st))
	e.publish(t, again)
	for _, m := range msgs[2:] {
		e.publish(t, m)
	}
	want := expected(t, "t1", "snow1", []wire.Record{big})
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error { return sameStore(want, st.snapshot()) })
	e.waitDrained(t)
	if got := st.partCount(); got != 0 {
		t.Errorf("%d parts left, want none", got)
	}
	applied, _, _ := st.counts()
	if applied != 1 {
		t.Errorf("record applied %d times, want once (redeliveries are ignored)", applied)
	}
	if got := metric(t, second.reg, "sei_relay_ingest_batches_retried_total"); got < 1 {
		t.Errorf("batches_retried_total = %v, want the failed delete retried", got)
	}
	if q := st.quarantinedIDs(); len(q) != 0 {
		t.Errorf("quarantined %v", q)
	}
}

// TestConsumerRefusesBadParts: bad part headers and a set whose parts do
// not hash to its id are quarantined, with a reason, and a bad set's parts
// are deleted.
func TestConsumerRefusesBadParts(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	start(t, e.testConfig(t, st))
	subject := wire.IngestSubject("t1", "snow1", "incident")
	msgs := partMsgs(t, subject, "big", "a1", []wire.Record{bigRec("inc-big", 5, 3, 5<<20, 3)})
	bad := func(id, part, set string) *nats.Msg {
		m := batchMsg(t, subject, id, "a1", nil)
		m.Header.Set(wire.HeaderPart, part)
		m.Header.Set(wire.HeaderPartSet, set)
		m.Data = []byte("x")
		return m
	}
	set := msgs[0].Header.Get(wire.HeaderPartSet)
	e.publish(t, bad("no-slash", "1", set))
	e.publish(t, bad("zero", "0/2", set))
	e.publish(t, bad("too-many", "1/"+strconv.Itoa(wire.MaxParts+1), set))
	e.publish(t, bad("bad-set", "1/2", "xyz"))
	// A complete set with one part swapped for another's bytes.
	msgs[0].Data = append([]byte{}, msgs[1].Data...)
	for _, m := range msgs {
		e.publish(t, m)
	}
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		q := st.quarantinedIDs()
		if len(q) != 5 {
			return fmt.Errorf("quarantined %v, want 5", q)
		}
		return nil
	})
	e.waitDrained(t)
	if got := st.partCount(); got != 0 {
		t.Errorf("%d parts left, want none", got)
	}
	if got := st.snapshot(); len(got) != 0 {
		t.Errorf("stored %d records from a corrupt set", len(got))
	}
}

// TestConsumerExpiresIncompleteSets: a set that never completes is deleted
// after PartTTL, and counted.
func TestConsumerExpiresIncompleteSets(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	var (
		mu  sync.Mutex
		now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	)
	cfg := e.testConfig(t, st)
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg.ExpireInterval = 20 * time.Millisecond
	r := start(t, cfg)
	msgs := partMsgs(t, wire.IngestSubject("t1", "snow1", "incident"), "big", "a1", []wire.Record{bigRec("inc-big", 5, 3, 5<<20, 4)})
	e.publish(t, msgs[0])
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if got := st.partCount(); got != 1 {
			return fmt.Errorf("%d parts stored, want 1", got)
		}
		return nil
	})
	mu.Lock()
	now = now.Add(DefaultPartTTL + time.Minute)
	mu.Unlock()
	natstest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if got := st.partCount(); got != 0 {
			return fmt.Errorf("%d parts stored, want none", got)
		}
		if got := metric(t, r.reg, "sei_relay_ingest_part_sets_expired_total"); got != 1 {
			return fmt.Errorf("part_sets_expired_total = %v, want 1", got)
		}
		return nil
	})
}

// TestConsumerPartsSurviveRelayRestart: a relay stores some parts in Badger
// and is stopped with its store closed; a relay on the reopened store gets
// the rest. The parts kept on disk complete the set.
func TestConsumerPartsSurviveRelayRestart(t *testing.T) {
	e := startNATS(t)
	dir := t.TempDir()
	open := func() *badgerstore.Store {
		bs, err := badgerstore.Open(dir, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}
	subject := wire.IngestSubject("t1", "snow1", "incident")
	big := bigRec("inc-big", 5, 3, 5<<20, 5)
	msgs := partMsgs(t, subject, "big", "a1", []wire.Record{big})
	set := msgs[0].Header.Get(wire.HeaderPartSet)
	bs := open()
	first := start(t, e.testConfig(t, bs))
	for _, m := range msgs[:len(msgs)-1] {
		e.publish(t, m)
	}
	e.waitDrained(t)
	first.stop()
	if ps, err := bs.Parts(t.Context(), "t1", "snow1", set); err != nil || len(ps) != len(msgs)-1 {
		t.Fatalf("%d parts stored (%v), want %d", len(ps), err, len(msgs)-1)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	bs = open()
	t.Cleanup(func() { _ = bs.Close() })
	start(t, e.testConfig(t, bs))
	e.publish(t, msgs[len(msgs)-1])
	e.waitDrained(t)
	got, err := storeRecords(t, bs)
	if err != nil {
		t.Fatal(err)
	}
	want := expected(t, "t1", "snow1", []wire.Record{big})
	if err := sameStore(want, got); err != nil {
		t.Error(err)
	}
	if ps, err := bs.Parts(t.Context(), "t1", "snow1", set); err != nil || len(ps) != 0 {
		t.Errorf("%d parts left (%v), want none", len(ps), err)
	}
}

func TestNewRefusesNegativePartTTL(t *testing.T) {
	e := startNATS(t)
	cfg := e.testConfig(t, newMemStore())
	cfg.PartTTL = -time.Hour
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "PartTTL") {
		t.Errorf("New with a negative PartTTL = %v, want an error naming it", err)
	}
}
