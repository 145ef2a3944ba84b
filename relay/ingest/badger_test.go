package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestConsumerIntoBadger runs the whole path into the real embedded store.
func TestConsumerIntoBadger(t *testing.T) {
	e := startNATS(t)
	bs, err := badgerstore.Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	start(t, e.testConfig(t, bs))
	all := publishHistory(t, e, "b", 12, 40)
	want := expected(t, "t1", "snow1", all)
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		got := map[string]store.Record{}
		after := ""
		for {
			recs, next, err := bs.List(t.Context(), store.Query{Tenant: "t1", After: after, Limit: 100})
			if err != nil {
				return err
			}
			for _, r := range recs {
				got[key(r)] = r
			}
			if next == "" {
				break
			}
			after = next
		}
		if d := cmp.Diff(want, got); d != "" {
			return fmt.Errorf("store (-want +got):\n%.2000s", d)
		}
		return nil
	})
	e.waitDrained(t)
	// A rejected batch lands in Badger's quarantine.
	bad := batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "bad", "a1", []wire.Record{rec("sys_user", "u1", 1, 1)})
	e.publish(t, bad)
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		qs, err := bs.Quarantined(t.Context())
		if err != nil {
			return err
		}
		if len(qs) != 1 || qs[0].ID != "bad" {
			return fmt.Errorf("quarantined %v", qs)
		}
		return nil
	})
}
