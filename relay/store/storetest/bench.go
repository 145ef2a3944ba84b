package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// BenchApply measures Apply of batches of batchSize new records (about
// 600 bytes of fields each, like a real incident) and reports records/s.
// With redeliver, every batch is applied a second time (all ignored), and
// both applies count.
func BenchApply(b *testing.B, s store.Store, batchSize int, redeliver bool) {
	batch := make([]store.Record, batchSize)
	records := 0
	for n := 0; b.Loop(); n++ {
		BenchBatch(batch, n)
		if _, err := s.Apply(b.Context(), batch); err != nil {
			b.Fatalf("Apply: %v", err)
		}
		records += batchSize
		if redeliver {
			res, err := s.Apply(b.Context(), batch)
			if err != nil || res.Ignored != batchSize {
				b.Fatalf("Apply again = %+v, %v; want all ignored", res, err)
			}
			records += batchSize
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// benchDesc is the long field of BenchBatch's records.
var benchDesc = strings.Repeat("lorem ipsum ", 40)

// BenchBatch fills batch with the records of batch number n that BenchApply
// stores, so that a floor (a plain COPY) can write exactly the same rows.
func BenchBatch(batch []store.Record, n int) {
	for i := range batch {
		id := fmt.Sprintf("%016x%016x", n, i)
		batch[i] = store.Record{
			Tenant: tenant, Integration: "sn", Table: "incident", SysID: id,
			SysUpdatedOn: ts(i), SysModCount: int64(n),
			Fields: fmt.Appendf(nil, `{"number":"INC%08d","state":"2","priority":"3","assignment_group":"%s","short_description":"%s"}`, n*len(batch)+i, id, benchDesc),
		}
	}
}
