package natsbox

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestConnLimitPerAgent: with 2 connections per agent, an agent that held
// 3 before the limiter started loses its newest, a fourth is closed at
// once, another agent of the same tenant keeps both its own, and once the
// first agent closes one connection it may open another.
func TestConnLimitPerAgent(t *testing.T) {
	r := startRelay(t)
	a1 := r.enrollAgent(t, "acme", "snow", "a1")
	a2 := r.enrollAgent(t, "acme", "snow", "a2")
	dial := func(agent, creds string) (*nats.Conn, error) {
		return nats.Connect(r.ClientURL(), nats.UserCredentials(creds), nats.RootCAs(r.CAFile()),
			nats.CustomInboxPrefix(wire.InboxPrefix("acme", agent)), nats.MaxReconnects(0),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	}
	var held []*nats.Conn
	for range 3 {
		nc, err := dial("a1", a1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		held = append(held, nc)
	}
	var kicked atomic.Int64
	l, err := r.NewConnLimit(2, func(account, user, name string) { kicked.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.NewConnLimit(0, nil); err == nil {
		t.Error("a limit of 0 accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	open := func(ncs []*nats.Conn) int {
		n := 0
		for _, nc := range ncs {
			if !nc.IsClosed() {
				n++
			}
		}
		return n
	}
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := open(held); n != 2 {
			return fmt.Errorf("a1 holds %d connections, want 2", n)
		}
		return nil
	})
	if !held[0].IsConnected() || !held[1].IsConnected() {
		t.Error("a1's oldest connections were closed, not its newest")
	}
	fourth, err := dial("a1", a1)
	if err == nil {
		t.Cleanup(fourth.Close)
		natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if !fourth.IsClosed() {
				return fmt.Errorf("a1's connection beyond its limit is open")
			}
			return nil
		})
	}
	var own []*nats.Conn
	for range 2 {
		nc, err := dial("a2", a2)
		if err != nil {
			t.Fatalf("a2 refused while a1 is at its limit: %v", err)
		}
		t.Cleanup(nc.Close)
		own = append(own, nc)
	}
	for _, nc := range own {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			t.Errorf("a2's connection closed: %v", err)
		}
	}
	held[0].Close()
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		nc, err := dial("a1", a1)
		if err != nil {
			return err
		}
		defer nc.Close()
		if err := nc.FlushTimeout(time.Second); err != nil {
			return err
		}
		return nil
	})
	if kicked.Load() < 2 {
		t.Errorf("kicked %d connections, want at least 2", kicked.Load())
	}
}
