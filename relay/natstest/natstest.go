// Package natstest is the test support both programs' tests share: an
// in-process NATS server with JetStream, started the way STYLE.md asks
// (Port -1, NoSigs, its store in the test's temporary folder), and
// CheckFor, the polling wait that replaces sleeps. Only tests import it
// (the dependency test in relay/ checks that).
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a NATS server with JetStream for the test and shuts it down
// when the test ends. opts may be nil; Host, Port, NoSigs, StoreDir and
// the JetStream limits get test defaults where unset (Port is always -1
// unless opts sets a positive one: never the well-known 4222).
func Start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	o := server.Options{}
	if opts != nil {
		o = *opts
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port <= 0 {
		o.Port = -1
	}
	o.NoSigs = true
	o.JetStream = true
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	if o.JetStreamMaxMemory == 0 {
		o.JetStreamMaxMemory = 64 << 20
	}
	if o.JetStreamMaxStore == 0 {
		o.JetStreamMaxStore = 1 << 30
	}
	if !testing.Verbose() {
		o.NoLog = true
	}
	srv, err := server.NewServer(&o)
	if err != nil {
		t.Fatalf("new nats server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats server not ready within 10s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// CheckFor calls f every interval until it returns nil, and fails the test
// with f's last error when timeout passes first, or when the test's
// context ends. It waits on a ticker, never a sleep.
func CheckFor(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-deadline.C:
			if err = f(); err != nil {
				t.Fatalf("after %s: %v", timeout, err)
			}
			return
		case <-t.Context().Done():
			t.Fatalf("test ended: %v", err)
		case <-tick.C:
		}
	}
}
