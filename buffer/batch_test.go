package buffer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, e := range []*entry{
		{seq: 1, label: "incident", records: 500, size: 1 << 20, created: time.Unix(0, 1767323045000000006)},
		{seq: 1 << 60, created: time.Unix(0, 0)},
		{seq: 7, label: "x", records: 1, size: MaxBatchBytes, created: time.Unix(-5, 0)},
		{seq: 9, label: "incident", records: 2, size: 10, sum: 0xdeadbeef, created: time.Unix(3, 0),
			rng: Range{Table: "sys_audit", From: `{"time":"2026-01-01 00:00:00"}`, To: `{"time":"2026-01-02 00:00:00"}`}},
	} {
		got, _, err := decodeMeta(e.seq, encodeMeta(e))
		if err != nil {
			t.Fatalf("decode %+v: %v", e, err)
		}
		if diff := cmp.Diff(e, got, cmp.AllowUnexported(entry{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	for _, bad := range [][]byte{nil, {}, {2}, {metaV2}, {metaV2, 0}, {metaV2, 0, 0}, {metaV2, 0, 0, 0xff}} {
		if _, _, err := decodeMeta(1, bad); err == nil {
			t.Errorf("decodeMeta(%x): no error", bad)
		}
	}
}

// FuzzDecodeMeta checks decodeMeta never panics and that whatever it accepts
// encodes back to the same bytes.
func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(&entry{label: "incident", records: 3, size: 10, created: time.Unix(0, 42)}))
	f.Add([]byte{metaV2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		e, _, err := decodeMeta(1, p)
		if err != nil {
			return
		}
		if again := encodeMeta(e); !cmp.Equal(p, again) {
			// Varints have one canonical form only when minimal; accept a
			// non-minimal input only if it decodes to the same entry.
			e2, _, err := decodeMeta(1, again)
			if err != nil || !cmp.Equal(e, e2, cmp.AllowUnexported(entry{})) {
				t.Fatalf("re-encode of %x: %x, %v", p, again, err)
			}
		}
	})
}
