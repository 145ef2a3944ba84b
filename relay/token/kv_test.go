package token

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// openTestKV starts a NATS server and opens the bucket through a client
// that keeps reconnecting, as the relay's does.
func openTestKV(t *testing.T) (*server.Server, *nats.Conn, *KV) {
	t.Helper()
	srv := natstest.Start(t, nil)
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	k, err := OpenKV(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return srv, nc, k
}

// TestKVTenantOfWithNATSDown: while the relay is not connected to NATS,
// TenantOf says so at once (ErrUnavailable, naming the bucket and NATS)
// instead of holding the request for the read's timeout; before, it waited
// 5 s and the API answered 500.
func TestKVTenantOfWithNATSDown(t *testing.T) {
	srv, nc, k := openTestKV(t)
	tok, _, err := k.Create(t.Context(), "t1", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tenant, ok, err := k.TenantOf(t.Context(), tok); err != nil || !ok || tenant != "t1" {
		t.Fatalf("TenantOf = %q, %v, %v; want t1", tenant, ok, err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if nc.IsConnected() {
			return errors.New("the client has not noticed the server stopped")
		}
		return nil
	})
	tenant, ok, err := k.TenantOf(t.Context(), tok)
	if !errors.Is(err, ErrUnavailable) || ok || tenant != "" {
		t.Fatalf("TenantOf with NATS down = %q, %v, %v; want ErrUnavailable", tenant, ok, err)
	}
	if msg := err.Error(); !strings.Contains(msg, Bucket) || !strings.Contains(msg, "not connected to NATS") || strings.Contains(msg, tok) {
		t.Errorf("error %q: want one naming the bucket and NATS, without the token", msg)
	}
}

// TestKVTenantOfKeepsTheCallersDeadline: a read that gets no answer within
// the caller's context is ErrUnavailable, not an unknown token.
func TestKVTenantOfKeepsTheCallersDeadline(t *testing.T) {
	_, _, k := openTestKV(t)
	tok, _, err := k.Create(t.Context(), "t1", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if tenant, ok, err := k.TenantOf(ctx, tok); !errors.Is(err, ErrUnavailable) || ok {
		t.Errorf("TenantOf past the caller's deadline = %q, %v, %v; want ErrUnavailable", tenant, ok, err)
	}
}
