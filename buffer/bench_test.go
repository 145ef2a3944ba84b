package buffer

import (
	"fmt"
	"testing"
)

// BenchmarkAppendLeaseAck measures the agent's cycle for one batch: Append
// (with a cursor update, fsynced), Lease, Ack (fsynced). It reports
// batches/s and, through SetBytes, MB/s of payload.
//
//	go test -run '^$' -bench AppendLeaseAck -benchtime 200x ./buffer/
func BenchmarkAppendLeaseAck(b *testing.B) {
	for _, size := range []int{64 << 10, 512 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			buf := openTest(b, Options{MaxBytes: 1 << 30})
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i*31 + i>>9) // no real compression in Badger anyway
			}
			ctx := b.Context()
			state := map[string][]byte{"cursor": []byte("2026-01-01 00:00:00|0123456789abcdef")}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				if _, err := buf.Append(ctx, Batch{Label: "incident", Records: 100, Data: data}, state); err != nil {
					b.Fatal(err)
				}
				got, err := buf.Lease(ctx, 1)
				if err != nil || len(got) != 1 {
					b.Fatalf("Lease: %d batches, %v", len(got), err)
				}
				if err := buf.Ack(ctx, got[0].Seq); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
	}
}
