package ingest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestConsumerRejectsUndecodableToAgent: a batch quarantined as
// undecodable brings its agent a negative confirmation naming the batch,
// so the agent reads the batch's range again; a batch refused for another
// reason does not (damage does not change a header).
func TestConsumerRejectsUndecodableToAgent(t *testing.T) {
	e := startNATS(t)
	st := newMemStore()
	r := start(t, e.testConfig(t, st))
	sub, err := e.nc.SubscribeSync(wire.RejectSubject("t1", "a1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	good := []wire.Record{rec("incident", "i1", 5, 1)}

	schema := batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "bad-schema", "a1", good)
	schema.Header.Set(wire.HeaderSchema, "9")
	e.publish(t, schema)
	damaged := batchMsg(t, wire.IngestSubject("t1", "snow1", "incident"), "inst-0000000000000007", "a1", good)
	damaged.Data[len(damaged.Data)/2] ^= 0xff
	damaged.Data = append(damaged.Data[:8], damaged.Data[9:]...)
	e.publish(t, damaged)

	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no rejection: %v", err)
	}
	var rej wire.Rejection
	if err := json.Unmarshal(m.Data, &rej); err != nil {
		t.Fatal(err)
	}
	if rej.Batch != "inst-0000000000000007" || rej.Table != "incident" || rej.Reason != ReasonDecode || rej.Error == "" || rej.Time.IsZero() {
		t.Errorf("rejection = %+v", rej)
	}
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("a second rejection: %s", m.Data)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_rejections_sent_total"); got != 1 {
		t.Errorf("rejections_sent_total = %v, want 1", got)
	}
}
