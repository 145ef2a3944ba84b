package buffer

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkLeaseRead measures reading batches back without any write:
// Lease (which checks each batch's checksum, and Badger each block's) and
// Release, over 64 batches that Badger holds in table files. It isolates
// the read-side cost of the checksums from the fsyncs that dominate
// BenchmarkAppendLeaseAck.
//
//	go test -run '^$' -bench LeaseRead -benchtime 2000x ./buffer/
func BenchmarkLeaseRead(b *testing.B) {
	for _, size := range []int{64 << 10, 512 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			buf := openTest(b, Options{Dir: dir, MaxBytes: 1 << 30})
			ctx := context.Background()
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i*31 + i>>9)
			}
			for range 64 {
				if _, err := buf.Append(ctx, Batch{Label: "incident", Records: 100, Data: data}, nil); err != nil {
					b.Fatal(err)
				}
			}
			buf.Close() // flushes the memtable into a table file
			buf = openTest(b, Options{Dir: dir, MaxBytes: 1 << 30})
			b.SetBytes(int64(size) * 8)
			b.ResetTimer()
			for b.Loop() {
				got, err := leaseNow(buf, 8)
				if err != nil || len(got) != 8 {
					b.Fatalf("Lease: %d, %v", len(got), err)
				}
				seqs := make([]uint64, len(got))
				for i, g := range got {
					seqs[i] = g.Seq
				}
				buf.Release(seqs...)
			}
		})
	}
}
