package forward

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestSharedForwardersRouteByIntegration: two forwarders of one agent
// (one per instance) both receive every message on the agent's subjects;
// each takes only the confirmations and rejections naming its own
// integration, and neither takes one naming none, which it cannot route.
func TestSharedForwardersRouteByIntegration(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	ensureStream(t, srv.ClientURL())
	newShared := func(integration string) (*Forwarder, *buffer.Buffer) {
		buf := openBuffer(t)
		f, err := New(Config{URL: srv.ClientURL(), Tenant: "acme", Integration: integration, Agent: "edge-1",
			Shared: true, HeartbeatInterval: time.Hour, Logger: zerolog.Nop()}, buf)
		if err != nil {
			t.Fatal(err)
		}
		run(t, f)
		return f, buf
	}
	prod, _ := newShared("snow-prod")
	emea, emeaBuf := newShared("snow-emea")
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !prod.Stats().Connected || !emea.Stats().Connected {
			return fmt.Errorf("not connected")
		}
		return nil
	})
	send := func(subject string, v any) {
		body, _ := json.Marshal(v)
		if err := nc.Publish(subject, body); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
	}
	// An unroutable (older relay's) confirmation, then one per integration.
	send(wire.ConfirmSubject("acme", "edge-1"), wire.Confirmation{Tables: map[string]wire.Version{"incident": {UpdatedOn: "2026-01-01 00:00:00"}}})
	send(wire.ConfirmSubject("acme", "edge-1"), wire.Confirmation{Integration: "snow-prod", Tables: map[string]wire.Version{"incident": {UpdatedOn: "2026-11-01 10:00:00"}}})
	send(wire.ConfirmSubject("acme", "edge-1"), wire.Confirmation{Integration: "snow-emea", Tables: map[string]wire.Version{"sys_user": {UpdatedOn: "2026-11-02 10:00:00"}}})
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		p, e := prod.Stats().Confirmed, emea.Stats().Confirmed
		if p["incident"].UpdatedOn != "2026-11-01 10:00:00" || e["sys_user"].UpdatedOn != "2026-11-02 10:00:00" {
			return fmt.Errorf("prod %v, emea %v", p, e)
		}
		if len(p) != 1 || len(e) != 1 {
			t.Fatalf("cross-over: prod %v, emea %v", p, e)
		}
		return nil
	})
	send(wire.RejectSubject("acme", "edge-1"), wire.Rejection{Batch: "b1", Table: "incident", Integration: "snow-emea", Reason: "decode"})
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if len(emeaBuf.Repairs()) != 1 {
			return fmt.Errorf("emea repairs: %v", emeaBuf.Repairs())
		}
		return nil
	})
	if prod.Stats().Rejected != 0 || emea.Stats().Rejected != 1 {
		t.Errorf("rejected: prod %d, emea %d", prod.Stats().Rejected, emea.Stats().Rejected)
	}
}
