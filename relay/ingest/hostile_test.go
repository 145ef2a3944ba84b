package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// bombBody is a few KB of zstd that inflates to n valid incident records
// (~500 bytes each), one line repeated, at most wire.MaxDecoded bytes: the
// worst bomb the frame checks let through, a frame of an agent's shape
// (EncodeAll, declaring its size) with the library's default 8 MiB window,
// which takes the relay's large decoder. (A stream frame declaring no size
// with that window is refused from its header: see relay/wire.)
func bombBody(t testing.TB, n int) []byte {
	t.Helper()
	line, err := wire.EncodeNDJSON([]wire.Record{rec("incident", "bomb", 1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	n = min(n, wire.MaxDecoded/len(line))
	w, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	return w.EncodeAll(bytes.Repeat(line, n), nil)
}

// memPeak samples the heap every few milliseconds until stop is called, and
// then returns the largest HeapInuse it saw.
func memPeak() (stop func() uint64) {
	var (
		wg   sync.WaitGroup
		peak uint64
	)
	done := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// procStatus returns a field of /proc/self/status in bytes (VmRSS, VmHWM), or
// 0 where there is none.
func procStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

const mib = 1 << 20

// liveHeap is the heap the last GC found live (runtime/metrics).
func liveHeap() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// TestConsumerQuarantinesBombsCheaply publishes 1,000 zstd bombs in a row (a
// few KB each, inflating to 16 MiB of records) to a real consumer writing into
// Badger. Each is quarantined as decode, a good batch behind them is
// applied, and the live heap stays near its baseline. The figures are
// logged (go test -count=1 -run TestConsumerQuarantinesBombsCheaply -v
// ./relay/ingest/): RSS after start, after 1,000 ordinary batches (the
// control: what any traffic costs, Go's GC letting the heap grow to twice
// what is live) and after the bombs. Before the decoder streamed with a
// record limit, one bomb allocated ~1.2 GB.
func TestConsumerQuarantinesBombsCheaply(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 50
	}
	// Compressing the bomb takes memory: give it back to the system before
	// the relay starts, so none of it counts in the baseline.
	body := bombBody(t, 536_870)
	debug.FreeOSMemory()
	e := startNATS(t)
	bs, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	cfg := e.testConfig(t, bs)
	cfg.Logger = zerolog.Nop() // 1,000 quarantine lines
	r := start(t, cfg)
	subject := wire.IngestSubject("t1", "snow1", "incident")
	e.publish(t, batchMsg(t, subject, "warm-up", "a1", []wire.Record{rec("incident", "w1", 1, 1)}))
	e.waitDrained(t)
	runtime.GC()
	startRSS := procStatus("VmRSS")

	// The control: as many ordinary batches, each updating one of ten
	// records.
	for i := range n {
		e.publish(t, batchMsg(t, subject, fmt.Sprintf("ordinary-%d", i), "a1", []wire.Record{rec("incident", fmt.Sprintf("o%d", i%10), 1, i+1)}))
	}
	e.waitDrained(t)
	runtime.GC()
	baseLive := liveHeap()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	baseRSS := procStatus("VmRSS")

	stop := memPeak()
	for i := range n {
		m := nats.NewMsg(subject)
		m.Header.Set(wire.HeaderMsgID, fmt.Sprintf("bomb-%d", i))
		m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
		m.Header.Set(wire.HeaderEncoding, wire.Encoding)
		m.Data = body
		e.publish(t, m) // one at a time: the test's own buffers stay small
	}
	e.publish(t, batchMsg(t, subject, "after", "a1", []wire.Record{rec("incident", "good", 2, 1)}))
	natstest.CheckFor(t, 10*time.Minute, 50*time.Millisecond, func() error {
		if got := metric(t, r.reg, "sei_relay_ingest_batches_quarantined_total", "reason", ReasonDecode); got != float64(n) {
			return fmt.Errorf("%v bombs quarantined as decode, want %d", got, n)
		}
		recs, _, err := bs.List(t.Context(), store.Query{Tenant: "t1"})
		if err != nil {
			return err
		}
		if len(recs) != 12 {
			return fmt.Errorf("store holds %d records, want w1, o0..o9 and good", len(recs))
		}
		return nil
	})
	peak := stop()
	var end runtime.MemStats
	runtime.ReadMemStats(&end)
	endRSS, hwm := procStatus("VmRSS"), procStatus("VmHWM")
	runtime.GC()
	grown := int64(liveHeap()) - int64(baseLive)
	perBomb := (end.TotalAlloc - base.TotalAlloc) / uint64(n)
	t.Logf("%d bombs of %d bytes: heap in use %.1f MiB before, peak %.1f MiB; live heap %.1f MiB before, %+.1f MiB after; allocated %.1f MiB a bomb",
		n, len(body), float64(base.HeapInuse)/mib, float64(peak)/mib, float64(baseLive)/mib, float64(grown)/mib, float64(perBomb)/mib)
	t.Logf("RSS %.1f MiB after start; %.1f MiB (%.2fx) after %d ordinary batches; %.1f MiB (%.2fx start, %.2fx ordinary) after %d bombs; high-water %.1f MiB (%.2fx start)",
		float64(startRSS)/mib, float64(baseRSS)/mib, float64(baseRSS)/float64(startRSS), n,
		float64(endRSS)/mib, float64(endRSS)/float64(startRSS), float64(endRSS)/float64(baseRSS), n,
		float64(hwm)/mib, float64(hwm)/float64(startRSS))
	// What the bombs leave live (one GC after them) is mostly the server's
	// write buffers (+4 MiB when this test runs alone): the large-window
	// decoder is held weakly, so its 8 MiB history is not part of the live
	// heap the GC sizes the heap from (Go lets the heap grow to twice what
	// is live). The bound is loose, to stay stable in a full run: it
	// catches anything kept per bomb (1,000 bombs);
	// TestDecodeLargeWindowsShareOneDecoder in relay/wire holds the
	// decoders to one history.
	if grown > 32*mib {
		t.Errorf("live heap grew by %.1f MiB over the bombs, want at most 32 MiB", float64(grown)/mib)
	}
	qs, err := quarantinedAll(t, bs)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if !strings.HasPrefix(q.Reason, ReasonDecode+":") || !strings.Contains(q.Reason, "too many records") {
			t.Fatalf("bomb %s quarantined with reason %q", q.ID, q.Reason)
		}
	}
}

// TestConsumerHoldsDecodedWithinBudget: one fetch of batches each inflating
// to just under wire.MaxDecoded is applied in several store transactions,
// and the consumer never holds more than DecodeBudget of decoded batches at
// once (sei_relay_ingest_decoded_bytes_held_max); every record is applied
// exactly once, in order. Before the budget, a group was cut only after the
// next batch was decoded: 48 MiB held with the 32 MiB cap, and before that
// every message of a fetch (32 × 16 MiB) was decoded before any was applied.
func TestConsumerHoldsDecodedWithinBudget(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	var (
		mu   sync.Mutex
		txns []int
	)
	st.failApply = func(_ int, recs []store.Record) error {
		mu.Lock()
		txns = append(txns, len(recs))
		mu.Unlock()
		return nil
	}
	subject := wire.IngestSubject("t1", "snow1", "incident")
	const batches, perBatch = 3, 100
	// Size one record so that perBatch of them inflate to just under
	// MaxDecoded (their NDJSON line is the description plus a fixed part).
	probe := rec("incident", "r0-000", 1, 1)
	probe.Fields["description"] = []byte(`""`)
	line, err := wire.EncodeNDJSON([]wire.Record{probe})
	if err != nil {
		t.Fatal(err)
	}
	desc := strings.Repeat("x", (wire.MaxDecoded-64<<10)/perBatch-len(line))
	var all []wire.Record
	var sizes []int64
	for b := range batches {
		var recs []wire.Record
		for i := range perBatch {
			r := rec("incident", fmt.Sprintf("r%d-%03d", b, i), 1, 1)
			r.Fields["description"] = []byte(strconv.Quote(desc))
			recs = append(recs, r)
		}
		raw, err := wire.EncodeNDJSON(recs)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > wire.MaxDecoded || len(raw) < wire.MaxDecoded-128<<10 {
			t.Fatalf("batch inflates to %d bytes, want just under %d", len(raw), wire.MaxDecoded)
		}
		sizes = append(sizes, int64(len(raw)))
		all = append(all, recs...)
		e.publish(t, batchMsg(t, subject, fmt.Sprintf("big-%d", b), "a1", recs))
	}
	cfg := e.testConfig(t, st)
	// The default: a message waiting behind two 16 MiB batches on a busy
	// machine must not be redelivered, so "ignored 0" means applied once.
	cfg.AckWait = DefaultAckWait
	r := start(t, cfg)
	natstest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if n := len(st.snapshot()); n != len(all) {
			return fmt.Errorf("store holds %d records, want %d", n, len(all))
		}
		return nil
	})
	e.waitDrained(t)
	// cmp.Diff walks large fields byte by byte (seconds): compare bytes.
	got := st.snapshot()
	for k, w := range expected(t, "t1", "snow1", all) {
		g, ok := got[k]
		if !ok || !bytes.Equal(g.Fields, w.Fields) || g.Version() != w.Version() {
			t.Errorf("record %s: stored %v, want it as published", k, ok)
		}
	}
	if applied, ignored := metric(t, r.reg, "sei_relay_ingest_records_applied_total"), metric(t, r.reg, "sei_relay_ingest_records_ignored_total"); applied != float64(len(all)) || ignored != 0 {
		t.Errorf("records applied %v, ignored %v; want %d applied once each", applied, ignored, len(all))
	}
	budget := float64(DefaultDecodeBudget)
	peak := metric(t, r.reg, "sei_relay_ingest_decoded_bytes_held_max")
	t.Logf("decoded bytes held at most %.1f MiB (budget %.0f MiB); transactions of %v records", peak/mib, budget/mib, txns)
	if peak > budget || peak < float64(sizes[0]) {
		t.Errorf("the consumer held up to %.0f bytes decoded, want one batch (%d) to DecodeBudget (%.0f)", peak, sizes[0], budget)
	}
	// A group is released once applied, just after its acks.
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if held := metric(t, r.reg, "sei_relay_ingest_decoded_bytes_held"); held != 0 {
			return fmt.Errorf("the consumer still holds %.0f bytes decoded after applying everything", held)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for _, n := range txns {
		if n > 2*perBatch {
			t.Errorf("a store transaction held %d records, want at most two batches (%d)", n, 2*perBatch)
		}
	}
}

// TestDecodeBudgetBelowMaxDecodedRefused: a budget that the largest batch
// the wire allows would not fit in is a configuration error.
func TestDecodeBudgetBelowMaxDecodedRefused(t *testing.T) {
	e := startNATS(t)
	cfg := e.testConfig(t, newMemStore())
	cfg.DecodeBudget = wire.MaxDecoded - 1
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "DecodeBudget") {
		t.Errorf("New(DecodeBudget %d) = %v, want an error naming DecodeBudget", cfg.DecodeBudget, err)
	}
}

// TestConsumerBadRecordInGoodBatch: one invalid record among good ones
// quarantines the whole batch as decode and applies none of it; the batches
// around it are applied.
func TestConsumerBadRecordInGoodBatch(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	start(t, e.testConfig(t, st))
	subject := wire.IngestSubject("t1", "snow1", "incident")
	good := []wire.Record{rec("incident", "g1", 1, 1)}
	e.publish(t, batchMsg(t, subject, "before", "a1", good))
	raw, err := wire.EncodeNDJSON([]wire.Record{rec("incident", "m1", 1, 1), rec("incident", "m2", 1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, `{"op":"upsert","table":"incident","sys_id":"evil","sys_updated_on":"2026-02-30 10:00:00","sys_mod_count":1}`+"\n"...)
	m := batchMsg(t, subject, "mixed", "a1", nil)
	m.Data = zstdOf(t, raw)
	m.Header.Set(wire.HeaderRecords, "3")
	e.publish(t, m)
	after := []wire.Record{rec("incident", "g2", 1, 1)}
	e.publish(t, batchMsg(t, subject, "after", "a1", after))
	waitRecords(t, st, expected(t, "t1", "snow1", append(good, after...)))
	e.waitDrained(t)
	if q := st.quarantinedIDs(); !strings.HasPrefix(q["mixed"], ReasonDecode) {
		t.Errorf("quarantine = %v, want mixed as decode", q)
	}
}

// TestStreamRefusesOversizedMessages: a message past the stream's size limit
// is refused at publish, never reaches a relay, and the relay goes on.
func TestStreamRefusesOversizedMessages(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	start(t, e.testConfig(t, st))
	subject := wire.IngestSubject("t1", "snow1", "incident")
	m := batchMsg(t, subject, "huge", "a1", []wire.Record{rec("incident", "h1", 1, 1)})
	m.Data = append(m.Data, make([]byte, wire.MaxPayload+128<<10)...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := e.js.PublishMsg(ctx, m); err == nil {
		t.Fatal("the stream accepted a message past its size limit")
	}
	good := []wire.Record{rec("incident", "g1", 1, 1)}
	e.publish(t, batchMsg(t, subject, "good", "a1", good))
	waitRecords(t, st, expected(t, "t1", "snow1", good))
}
