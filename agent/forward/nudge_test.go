package forward

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestSendHeartbeat: with an hour between heartbeats, SendHeartbeat makes
// one go out now, each time it is called (after the one at connection).
func TestSendHeartbeat(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	ensureStream(t, srv.ClientURL())
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	hbs, _ := nc.SubscribeSync(wire.HeartbeatSubject("acme", "edge-1"))
	nc.Flush()
	f := newForwarder(t, srv.ClientURL(), openBuffer(t), time.Hour)
	run(t, f)
	if _, err := hbs.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("heartbeat at connection: %v", err)
	}
	for i := range 2 {
		f.SendHeartbeat()
		if _, err := hbs.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("heartbeat %d asked for: %v", i+1, err)
		}
	}
}
