package natsbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotConnected is reported by a health check while the connection is down.
var ErrNotConnected = errors.New("nats not connected")

// HealthCheck returns a check for /healthz: it fails while nc is not
// connected, or when JetStream does not answer (for the embedded server:
// disabled after a full disk) within ctx.
func HealthCheck(nc *nats.Conn, js jetstream.JetStream) func(context.Context) error {
	return func(ctx context.Context) error {
		if st := nc.Status(); st != nats.CONNECTED {
			return fmt.Errorf("check nats: %w (%s)", ErrNotConnected, st)
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("check jetstream: %w", err)
		}
		return nil
	}
}
