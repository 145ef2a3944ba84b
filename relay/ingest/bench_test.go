package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// BenchmarkConsumerIntoBadger measures the relay's ingest throughput: b.N
// batches of 200 records, published first, then drained through the
// consumer into a temp-dir Badger store (fsync per transaction). It reports
// records/s; one op is one batch.
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
	begin := time.Now()
	r := start(b, cfg)
	natstest.CheckFor(b, 5*time.Minute, 5*time.Millisecond, func() error {
		if got := metric(b, r.reg, "sei_relay_ingest_batches_applied_total"); got < float64(b.N) {
			return fmt.Errorf("%v of %d batches applied", got, b.N)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*size)/time.Since(begin).Seconds(), "records/s")
	r.stop()
}

// publishBench publishes b.N batches of size records, the messages both
// benchmarks consume.
func publishBench(b *testing.B, e *env, size int) {
	for n := range b.N {
		recs := make([]wire.Record, size)
		for i := range recs {
			recs[i] = rec("incident", fmt.Sprintf("i%d-%d", n, i), n%60, i)
		}
		e.publish(b, batchMsg(b, wire.IngestSubject("t1", "snow1", "incident"), fmt.Sprintf("b%d", n), "a1", recs))
	}
}

// BenchmarkRawConsume is the floor of BenchmarkConsumerIntoBadger: the same
// messages read by a bare pull consumer that acknowledges each one and does
// nothing else (no decode, no store). It reports records/s; one op is one
// batch.
func BenchmarkRawConsume(b *testing.B) {
	e := startNATS(b)
	const size = 200
	publishBench(b, e, size)
	ctx := context.Background()
	b.ResetTimer()
	begin := time.Now()
	cons, err := e.js.CreateConsumer(ctx, wire.StreamName, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		b.Fatal(err)
	}
	for got := 0; got < b.N; {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
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
	b.ReportMetric(float64(b.N*size)/time.Since(begin).Seconds(), "records/s")
}
