package forward

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// The tests in this file run the forwarder's two timed loops, forward and
// heartbeats, in fake time (testing/synctest). A NATS connection has
// goroutines and sockets that have no place in a bubble, so the loops get
// in-memory stand-ins: memConn for the connection, memJetStream for the
// publishes and memBuffer for the buffer.

// memConn is an in-memory relayConn that records when (since start, in
// the bubble's fake time) each Publish was tried.
type memConn struct {
	start time.Time

	mu     sync.Mutex
	up     bool
	err    error // what Publish returns while set
	at     []time.Duration
	subj   []string
	bodies [][]byte
}

func (c *memConn) IsConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

func (c *memConn) IsClosed() bool { return false }

func (c *memConn) RTT() (time.Duration, error) { return 3 * time.Millisecond, nil }

func (c *memConn) Publish(subject string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = append(c.at, time.Since(c.start))
	c.subj = append(c.subj, subject)
	c.bodies = append(c.bodies, data)
	return c.err
}

func (c *memConn) set(up bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up, c.err = up, err
}

func (c *memConn) published() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.at...)
}

// memJetStream records when each batch was published; the next fail
// publishes fail, and while hang is set their acks never come.
type memJetStream struct {
	jetstream.JetStream // only PublishMsgAsync is used
	start               time.Time

	mu   sync.Mutex
	at   []time.Duration
	fail int
	hang bool
}

type memFuture struct {
	ok  chan *jetstream.PubAck
	err chan error
	msg *nats.Msg
}

func (f *memFuture) Ok() <-chan *jetstream.PubAck { return f.ok }
func (f *memFuture) Err() <-chan error            { return f.err }
func (f *memFuture) Msg() *nats.Msg               { return f.msg }

func (j *memJetStream) PublishMsgAsync(m *nats.Msg, _ ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.at = append(j.at, time.Since(j.start))
	fut := &memFuture{ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1), msg: m}
	switch {
	case j.hang:
	case j.fail > 0:
		j.fail--
		fut.err <- errors.New("nats: no response from stream")
	default:
		fut.ok <- &jetstream.PubAck{Stream: "SEI"}
	}
	return fut, nil
}

func (j *memJetStream) set(fail int, hang bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.fail, j.hang = fail, hang
}

func (j *memJetStream) published() []time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]time.Duration(nil), j.at...)
}

// memBuffer is an in-memory Buffer: Lease hands out what was added (or
// released) and blocks while nothing is.
type memBuffer struct {
	pending chan buffer.Batch

	mu     sync.Mutex
	leased map[uint64]buffer.Batch
	acked  []uint64
}

func newMemBuffer() *memBuffer {
	return &memBuffer{pending: make(chan buffer.Batch, 16), leased: map[uint64]buffer.Batch{}}
}

// Like buffer.Buffer's, it returns what is pending even after ctx ended.
func (m *memBuffer) Lease(ctx context.Context, _ int) ([]buffer.Batch, error) {
	var b buffer.Batch
	select {
	case b = <-m.pending:
	default:
		select {
		case b = <-m.pending:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leased[b.Seq] = b
	return []buffer.Batch{b}, nil
}

func (m *memBuffer) Release(seqs ...uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range seqs {
		m.pending <- m.leased[s]
		delete(m.leased, s)
	}
}

func (m *memBuffer) Ack(_ context.Context, seqs ...uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range seqs {
		delete(m.leased, s)
	}
	m.acked = append(m.acked, seqs...)
	return nil
}

func (m *memBuffer) ackedSeqs() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint64(nil), m.acked...)
}

func (m *memBuffer) Get(string) ([]byte, error)                { return nil, buffer.ErrNotFound }
func (m *memBuffer) Set(context.Context, string, []byte) error { return nil }
func (m *memBuffer) AckedRange(string) (buffer.Range, uint64, bool) {
	return buffer.Range{}, 0, false
}
func (m *memBuffer) AddRepair(_ context.Context, r buffer.Repair) (buffer.Repair, error) {
	return r, nil
}

func memForwarder(t *testing.T, buf Buffer) *Forwarder {
	t.Helper()
	f, err := New(Config{URL: "nats://relay.invalid:4222", Tenant: "acme", Integration: "sn", Agent: "edge-1",
		Heartbeat: func() wire.Heartbeat { return wire.Heartbeat{Agent: "edge-1", Verdict: "OK"} },
		Logger:    zerolog.Nop()}, buf)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestHeartbeatSchedule: a heartbeat goes out at start and every
// HeartbeatInterval (default 1m); SendHeartbeat and a reconnection send
// one at once without moving that rhythm; a failed publish is not retried
// before the next tick; none is tried while disconnected; heartbeats
// returns ctx's error when ctx ends.
func TestHeartbeatSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nc := &memConn{start: time.Now(), up: true}
		f := memForwarder(t, newMemBuffer())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- f.heartbeats(ctx, nc) }()

		m, s := time.Minute, time.Second
		step := func(d time.Duration, want ...time.Duration) {
			t.Helper()
			time.Sleep(d)
			synctest.Wait()
			if diff := cmp.Diff(want, nc.published()); diff != "" {
				t.Fatalf("after %v: heartbeats at (-want +got):\n%s", time.Since(nc.start), diff)
			}
		}
		step(0, 0)
		step(m-s, 0)
		step(s, 0, m)

		time.Sleep(10 * s)
		f.SendHeartbeat()
		step(0, 0, m, m+10*s)
		step(50*s, 0, m, m+10*s, 2*m)

		nc.set(true, errors.New("nats: connection closed"))
		step(m-s, 0, m, m+10*s, 2*m)
		step(s, 0, m, m+10*s, 2*m, 3*m) // tried and failed
		nc.set(true, nil)
		step(m-s, 0, m, m+10*s, 2*m, 3*m) // not retried before the tick
		step(s, 0, m, m+10*s, 2*m, 3*m, 4*m)

		nc.set(false, nil)
		step(m, 0, m, m+10*s, 2*m, 3*m, 4*m) // disconnected at 5m: none
		time.Sleep(30 * s)
		nc.set(true, nil)
		f.setConnected(true, nil) // what the reconnect handler calls
		step(0, 0, m, m+10*s, 2*m, 3*m, 4*m, 5*m+30*s)
		step(30*s, 0, m, m+10*s, 2*m, 3*m, 4*m, 5*m+30*s, 6*m)

		nc.mu.Lock()
		subj, body := nc.subj[0], nc.bodies[0]
		nc.mu.Unlock()
		var hb wire.Heartbeat
		if subj != wire.HeartbeatSubject("acme", "edge-1") || json.Unmarshal(body, &hb) != nil || hb.Agent != "edge-1" {
			t.Errorf("heartbeat on %q: %s", subj, body)
		}
		if rtt := f.Stats().RTT; rtt != 3*time.Millisecond {
			t.Errorf("Stats().RTT = %v, want the connection's 3ms", rtt)
		}

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("heartbeats = %v, want context.Canceled", err)
		}
	})
}

// TestHeartbeatOnlyWithAgent: a Heartbeat without Agent (another
// forwarder of the agent sends it) is never published.
func TestHeartbeatOnlyWithAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nc := &memConn{start: time.Now(), up: true}
		f := memForwarder(t, newMemBuffer())
		f.cfg.Heartbeat = func() wire.Heartbeat { return wire.Heartbeat{} }
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.heartbeats(ctx, nc) }()
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if got := nc.published(); len(got) != 0 {
			t.Errorf("heartbeats without Agent published at %v", got)
		}
	})
}

// TestForwardBackoff: a failed window is retried after RetryWait (2s by
// default), doubled per failure in a row and capped at a minute (jitter
// off here; retryWait's jitter is TestRetryWait's); a delivery acks the
// batch and the next outage starts from RetryWait again. After a failure
// nothing is published while the connection is down; publishing resumes
// at the next 250ms check after it comes back.
func TestForwardBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		nc := &memConn{start: start, up: true}
		js := &memJetStream{start: start, fail: 7}
		buf := newMemBuffer()
		f := memForwarder(t, buf)
		f.jitter = func() float64 { return 0 }
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- f.forward(ctx, nc, js) }()

		s := time.Second
		buf.pending <- buffer.Batch{Seq: 1, ID: "b1", Label: "incident", Records: 2}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		// Waits of 2s, 4s, 8s, 16s, 32s, 60s (not 64s) and 60s.
		want := []time.Duration{0, 2 * s, 6 * s, 14 * s, 30 * s, 62 * s, 122 * s, 182 * s}
		if diff := cmp.Diff(want, js.published()); diff != "" {
			t.Fatalf("publishes at (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]uint64{1}, buf.ackedSeqs()); diff != "" {
			t.Errorf("acked (-want +got):\n%s", diff)
		}
		if st := f.Stats(); st.Published != 1 || st.PublishErrors != 7 || st.LastError != "" {
			t.Errorf("Stats: published %d, errors %d, last error %q; want 1, 7, none", st.Published, st.PublishErrors, st.LastError)
		}

		// A new outage after the delivery starts again from RetryWait.
		at := time.Since(start)
		js.set(1, false)
		buf.pending <- buffer.Batch{Seq: 2, ID: "b2", Label: "incident", Records: 1}
		time.Sleep(time.Minute)
		synctest.Wait()
		want = append(want, at, at+2*s)
		if diff := cmp.Diff(want, js.published()); diff != "" {
			t.Fatalf("second outage: publishes at (-want +got):\n%s", diff)
		}

		// Disconnected: the batch leased before the connection went down
		// fails; after the retry wait nothing is published until the
		// connection is back.
		at = time.Since(start)
		nc.set(false, nil)
		js.set(1, false)
		buf.pending <- buffer.Batch{Seq: 3, ID: "b3", Label: "incident", Records: 1}
		time.Sleep(10 * s)
		synctest.Wait()
		want = append(want, at)
		if diff := cmp.Diff(want, js.published()); diff != "" {
			t.Fatalf("while disconnected: publishes at (-want +got):\n%s", diff)
		}
		time.Sleep(100 * time.Millisecond)
		back := time.Since(start)
		nc.set(true, nil)
		time.Sleep(time.Second)
		synctest.Wait()
		want = append(want, back+150*time.Millisecond)
		if diff := cmp.Diff(want, js.published()); diff != "" {
			t.Fatalf("after reconnection: publishes at (-want +got):\n%s", diff)
		}

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("forward = %v, want context.Canceled", err)
		}
	})
}

// TestForwardShutdownGrace: when ctx ends with a window in flight, its
// acks get PublishTimeout (30s by default), then forward returns ctx's
// error and the unacknowledged batch is back in the buffer.
func TestForwardShutdownGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		js := &memJetStream{start: start, hang: true}
		buf := newMemBuffer()
		f := memForwarder(t, buf)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.forward(ctx, &memConn{start: start, up: true}, js) }()
		buf.pending <- buffer.Batch{Seq: 1, ID: "b1", Label: "incident", Records: 1}
		time.Sleep(time.Second)
		synctest.Wait()
		cancel()
		ended := time.Now()
		err := <-done
		if !errors.Is(err, context.Canceled) {
			t.Errorf("forward = %v, want context.Canceled", err)
		}
		// The window began at 0 and had 30s to be acknowledged.
		if took := time.Since(ended); took != 29*time.Second {
			t.Errorf("forward returned %v after ctx ended, want 29s (30s PublishTimeout from the window's start at 0s)", took)
		}
		select {
		case b := <-buf.pending:
			if b.Seq != 1 {
				t.Errorf("released batch %d, want 1", b.Seq)
			}
		default:
			t.Error("the unacknowledged batch was not released")
		}
	})
}
