package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestRejectionBecomesRepair: the relay's negative confirmation for a
// delivered batch becomes a repair of that batch's range; for a batch whose
// range is forgotten, a repair of everything from the lookback.
func TestRejectionBecomesRepair(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	ensureStream(t, srv.ClientURL())
	buf := openBuffer(t)
	rng := buffer.Range{Table: "incident", From: `{"time":"2026-11-01 09:00:00"}`, To: `{"time":"2026-11-01 10:00:00"}`}
	data, _ := wire.Encode([]wire.Record{{Op: wire.OpUpsert, Table: "incident", SysID: fmt.Sprintf("%032x", 1), SysUpdatedOn: "2026-11-01 10:00:00"}})
	in, err := buf.Append(context.Background(), buffer.Batch{Label: "incident", Records: 1, Data: data, Range: rng}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newForwarder(t, srv.ClientURL(), buf, time.Hour)
	run(t, f)
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if !buf.Empty() {
			return fmt.Errorf("batch not delivered")
		}
		return nil
	})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reject := func(id string) {
		body, _ := json.Marshal(wire.Rejection{Batch: id, Table: "incident", Reason: "decode", Error: "zstd: bad"})
		if err := nc.Publish(wire.RejectSubject("acme", "edge-1"), body); err != nil {
			t.Fatal(err)
		}
	}
	reject(in.ID)
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		r := buf.Repairs()
		if len(r) != 1 {
			return fmt.Errorf("repairs: %+v", r)
		}
		if r[0].Range != rng || r[0].Whole {
			t.Fatalf("repair = %+v, want the batch's range %+v", r[0], rng)
		}
		return nil
	})
	reject("ffffffffffffffff-0000000000000001")
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		r := buf.Repairs()
		if len(r) != 2 {
			return fmt.Errorf("repairs: %+v", r)
		}
		if !r[1].Whole {
			t.Fatalf("repair of an unknown batch = %+v, want a whole re-read", r[1])
		}
		return nil
	})
	if got := f.Stats().Rejected; got != 2 {
		t.Errorf("Stats().Rejected = %d, want 2", got)
	}
}
