package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// BenchmarkConsumerIntoBadger measures the relay's ingest throughput: b.N
// batches of 200 incident-like records (benchFields fields each), published
// first, then drained through the consumer into a temp-dir Badger store
// (fsync per transaction). It reports records/s; one op is one batch.
func BenchmarkConsumerIntoBadger(b *testing.B) {
	e := startNATS(b)
	bs, err := badgerstore.Open(b.TempDir(), zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bs.Close() })
	const size = 200
	publishBench(b, e, size)
	cfg := e.testConfig(b, bs)
	cfg.Logger = zerolog.Nop()
	b.ResetTimer()
	begin, cpu := time.Now(), cpuTime(b)
	r := start(b, cfg)
	natstest.CheckFor(b, 5*time.Minute, 5*time.Millisecond, func() error {
		if got := metric(b, r.reg, "sei_relay_ingest_batches_applied_total"); got < float64(b.N) {
			return fmt.Errorf("%v of %d batches applied", got, b.N)
		}
		return nil
	})
	b.StopTimer()
	wall := time.Since(begin)
	reportRates(b, b.N*size, wall, cpuTime(b)-cpu)
	b.ReportMetric(100*applySeconds(b, r.reg)/wall.Seconds(), "%in-store.Apply")
	b.ReportMetric(float64(b.N)/metric(b, r.reg, "sei_relay_ingest_store_apply_seconds"), "batches/Apply")
	r.stop()
}

// benchFields is the number of fields of a benchmark record: an incident
// read with every field, as the agent sends it.
const benchFields = 92

// applySeconds is the time the consumer spent in Store.Apply so far.
func applySeconds(b *testing.B, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sei_relay_ingest_store_apply_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	b.Fatal("no sei_relay_ingest_store_apply_seconds")
	return 0
}

// publishBench publishes b.N batches of size records, the messages every
// benchmark here consumes.
func publishBench(b *testing.B, e *env, size int) {
	for n := range b.N {
		recs := make([]wire.Record, size)
		for i := range recs {
			recs[i] = benchRecord(fmt.Sprintf("%08x%024x", n, i), n%60, i)
		}
		e.publish(b, batchMsg(b, wire.IngestSubject("t1", "snow1", "incident"), fmt.Sprintf("b%d", n), "a1", recs))
	}
}

// benchRecord is an incident-like record of benchFields fields, all strings
// as the Table API sends them: references (32 hex digits), dates, short
// codes and some text, different per record so zstd cannot shrink a batch
// to nothing.
func benchRecord(id string, minute, mod int) wire.Record {
	r := rec("incident", id, minute, mod)
	for f := len(r.Fields); f < benchFields; f++ {
		var v string
		switch f % 4 {
		case 0:
			v = fmt.Sprintf("%032x", uint64(f)*0x9e3779b97f4a7c15^uint64(mod)*31)
		case 1:
			v = fmt.Sprintf("2026-01-%02d 10:%02d:%02d", 1+f%28, minute, mod%60)
		case 2:
			v = strconv.Itoa(f * mod % 7)
		default:
			v = fmt.Sprintf("Field %d of %s: the printer on floor %d is out of toner again", f, id, mod%9)
		}
		r.Fields["u_field_"+strconv.Itoa(f)] = json.RawMessage(strconv.Quote(v))
	}
	return r
}

// BenchmarkRawConsume is the floor of BenchmarkConsumerIntoBadger named by
// the issue: the same messages read by a bare pull consumer that
// acknowledges each one and does nothing else (no inflate, no decode, no
// store). It reports records/s; one op is one batch.
func BenchmarkRawConsume(b *testing.B) { consumeFloor(b, false) }

// BenchmarkDecodeConsume is the second floor of BenchmarkConsumerIntoBadger:
// BenchmarkRawConsume plus what the relay cannot skip before it may store a
// message, inflating and decoding its body with wire.DecodeEach (which
// validates every record). Nothing is converted or stored. It reports
// records/s; one op is one batch.
func BenchmarkDecodeConsume(b *testing.B) { consumeFloor(b, true) }

// consumeFloor reads the b.N published batches with a bare pull consumer,
// decoding each body when decode is set, and acknowledges each one.
func consumeFloor(b *testing.B, decode bool) {
	e := startNATS(b)
	const size = 200
	publishBench(b, e, size)
	ctx := context.Background()
	b.ResetTimer()
	begin, cpu := time.Now(), cpuTime(b)
	cons, err := e.js.CreateConsumer(ctx, wire.StreamName, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		b.Fatal(err)
	}
	records := 0
	for got := 0; got < b.N; {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			if decode {
				if _, err := wire.DecodeEach(m.Data(), func(*wire.Record) error { records++; return nil }); err != nil {
					b.Fatal(err)
				}
			}
			if err := m.Ack(); err != nil {
				b.Fatal(err)
			}
			got++
		}
		if err := batch.Error(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if decode && records != b.N*size {
		b.Fatalf("decoded %d records, published %d", records, b.N*size)
	}
	reportRates(b, b.N*size, time.Since(begin), cpuTime(b)-cpu)
}

// reportRates reports records/s and the process's CPU time per 1,000
// records. The CPU figure covers the whole test process (consumer, store,
// the in-process NATS server) and, unlike records/s, hardly moves with the
// load other processes put on the machine.
func reportRates(b *testing.B, records int, wall, cpu time.Duration) {
	b.ReportMetric(float64(records)/wall.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(records), "cpu-ms/1000rec")
}

// BenchmarkCheckBatch measures the consumer's CPU work on one message
// before the store: inflate, decode, check and convert 200 incident-like
// records (checkBatch). It reports records/s.
func BenchmarkCheckBatch(b *testing.B) {
	recs := make([]wire.Record, 200)
	for i := range recs {
		recs[i] = benchRecord(fmt.Sprintf("%032x", i), i%60, i)
	}
	m := batchMsg(b, wire.IngestSubject("t1", "snow1", "incident"), "b1", "a1", recs)
	for b.Loop() {
		if _, err := checkBatch(m.Subject, m.Header, m.Data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
