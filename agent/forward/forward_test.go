package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startServer(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	return natstest.Start(t, &server.Options{Port: port, StoreDir: dir})
}

func ensureStream(t *testing.T, url string) jetstream.Stream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	st, err := js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: wire.StreamName, Subjects: []string{wire.IngestWildcard}, Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func appendBatches(t *testing.T, buf *buffer.Buffer, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		recs := []wire.Record{{Op: wire.OpUpsert, Table: "incident", SysID: fmt.Sprintf("%032x", i), SysUpdatedOn: "2026-11-01 10:00:00", SysModCount: 1}}
		data, err := wire.Encode(recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := buf.Append(context.Background(), buffer.Batch{Label: "incident", Records: 1, Data: data}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func newForwarder(t *testing.T, url string, buf *buffer.Buffer, hb time.Duration) *Forwarder {
	t.Helper()
	f, err := New(Config{URL: url, Tenant: "acme", Integration: "sn", Agent: "edge-1",
		RetryWait: 50 * time.Millisecond, PublishTimeout: 5 * time.Second, HeartbeatInterval: hb,
		Heartbeat: func() wire.Heartbeat { return wire.Heartbeat{Agent: "edge-1", Verdict: "OK", Backlog: 3} },
		Logger:    zerolog.Nop()}, buf)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func run(t *testing.T, f *Forwarder) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return cancel
}

func openBuffer(t *testing.T) *buffer.Buffer {
	b, err := buffer.Open(buffer.Options{Dir: t.TempDir(), MinFreeBytes: 1, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestForwardSurvivesServerRestart forwards batches, loses the server, keeps
// buffering, and delivers everything exactly once after it comes back.
func TestForwardSurvivesServerRestart(t *testing.T) {
	storeDir := t.TempDir()
	srv := startServer(t, storeDir, -1)
	url := srv.ClientURL()
	ensureStream(t, url)
	buf := openBuffer(t)
	appendBatches(t, buf, 0, 30)
	f := newForwarder(t, url, buf, time.Hour)
	run(t, f)
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if !buf.Empty() {
			return fmt.Errorf("buffer still holds %d batches", buf.Stats().PendingBatches)
		}
		return nil
	})

	// The relay goes away; the agent keeps buffering.
	tcpPort := srv.Addr().(*net.TCPAddr).Port
	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if f.Stats().Connected {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	appendBatches(t, buf, 30, 20)
	srv = startServer(t, storeDir, tcpPort)
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if !buf.Empty() {
			return fmt.Errorf("after restart the buffer still holds %d batches (last error %q)", buf.Stats().PendingBatches, f.Stats().LastError)
		}
		return nil
	})
	st := ensureStream(t, url)
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 50 {
		t.Errorf("stream holds %d messages, want exactly 50", info.State.Msgs)
	}
	msg, err := st.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{wire.HeaderSchema: "1", wire.HeaderAgent: "edge-1", wire.HeaderRecords: "1", wire.HeaderEncoding: "zstd"} {
		if got := msg.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if tenant, ok := wire.MsgIDTenant(msg.Header.Get(wire.HeaderMsgID)); msg.Subject != "sei.ingest.acme.sn.incident" || !ok || tenant != "acme" {
		t.Errorf("message subject %q, id %q", msg.Subject, msg.Header.Get(wire.HeaderMsgID))
	}
	if s := f.Stats(); s.Published != 50 || s.Reconnects < 1 || s.LastAckBatch == "" {
		t.Errorf("stats = %+v", s)
	}
}

// TestRepublishIsDeduplicated: a batch published again with its id (a lost
// ack, a crash before Ack) is stored once.
func TestRepublishIsDeduplicated(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	st := ensureStream(t, srv.ClientURL())
	buf := openBuffer(t)
	appendBatches(t, buf, 0, 5)
	batches, _ := leaseNow(buf, 5)
	buf.Release(batches[0].Seq, batches[1].Seq, batches[2].Seq, batches[3].Seq, batches[4].Seq)
	f := newForwarder(t, srv.ClientURL(), buf, time.Hour)
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// Two of them already reached the stream before a "crash".
	for _, b := range batches[:2] {
		if _, err := js.PublishMsg(context.Background(), f.message(b)); err != nil {
			t.Fatal(err)
		}
	}
	run(t, f)
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if !buf.Empty() {
			return fmt.Errorf("buffer not empty")
		}
		return nil
	})
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 5 {
		t.Errorf("stream holds %d messages, want 5", info.State.Msgs)
	}
}

func TestHeartbeatsAndConfirmations(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	ensureStream(t, srv.ClientURL())
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	hbs, _ := nc.SubscribeSync(wire.HeartbeatSubject("acme", "edge-1"))
	buf := openBuffer(t)
	f := newForwarder(t, srv.ClientURL(), buf, 50*time.Millisecond)
	run(t, f)
	m, err := hbs.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var hb wire.Heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil || hb.Agent != "edge-1" || hb.Backlog != 3 {
		t.Errorf("heartbeat %s (%v)", m.Data, err)
	}

	conf := func(v wire.Version) {
		raw, _ := json.Marshal(wire.Confirmation{Time: time.Now(), Tables: map[string]wire.Version{"incident": v}})
		nc.Publish(wire.ConfirmSubject("acme", "edge-1"), raw)
		nc.Flush()
	}
	newer := wire.Version{UpdatedOn: "2026-11-01 10:00:00", ModCount: 4}
	natstest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		conf(newer)
		if got := f.Stats().Confirmed["incident"]; got != newer {
			return fmt.Errorf("confirmed = %+v", got)
		}
		return nil
	})
	conf(wire.Version{UpdatedOn: "2026-10-01 10:00:00"}) // older: ignored
	nc.Flush()
	raw, err := buf.Get(confirmedKey("incident"))
	var v wire.Version
	if err != nil || json.Unmarshal(raw, &v) != nil || v != newer {
		t.Errorf("persisted confirmation %s (%v), want %+v", raw, err, newer)
	}
}

// TestPartialWindowRecordsOnlyDelivered: a window whose last batch cannot be
// stored (no stream takes its subject) acks and reports only the delivered
// batches; the failed one stays in the buffer.
func TestPartialWindowRecordsOnlyDelivered(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: wire.StreamName, Subjects: []string{wire.IngestSubject("acme", "sn", "incident")},
	}); err != nil {
		t.Fatal(err)
	}
	buf := openBuffer(t)
	var sent []buffer.Batch
	for i, label := range []string{"incident", "incident", "problem"} {
		data, err := wire.Encode([]wire.Record{{Op: wire.OpUpsert, Table: label, SysID: fmt.Sprintf("%032x", i), SysUpdatedOn: "2026-11-01 10:00:00"}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := buf.Append(context.Background(), buffer.Batch{Label: label, Records: 10 + i, Data: data}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, b)
	}
	var logs syncBuffer
	f, err := New(Config{URL: srv.ClientURL(), Tenant: "acme", Integration: "sn", Agent: "edge-1",
		RetryWait: 50 * time.Millisecond, PublishTimeout: 5 * time.Second, HeartbeatInterval: time.Hour,
		Logger: zerolog.New(&logs).Level(zerolog.DebugLevel)}, buf)
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if s := f.Stats(); s.Published != 2 || s.PublishErrors < 1 {
			return fmt.Errorf("published %d, %d errors; want 2 and the problem batch failing", s.Published, s.PublishErrors)
		}
		return nil
	})
	if got := f.Stats().LastAckBatch; got != sent[1].ID {
		t.Errorf("LastAckBatch = %s, want %s (the newest delivered; %s failed)", got, sent[1].ID, sent[2].ID)
	}
	if !strings.Contains(logs.String(), `"records":21,"message":"forwarded"`) {
		t.Errorf("log does not say 21 records forwarded:\n%s", logs.String())
	}
	if s := buf.Stats(); s.PendingBatches != 1 {
		t.Errorf("buffer holds %d batches, want only the failed one", s.PendingBatches)
	}
}

// syncBuffer is a bytes.Buffer safe for the forwarder's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoadConfirmed: a new forwarder shows the confirmations an earlier run
// persisted, for the tables asked.
func TestLoadConfirmed(t *testing.T) {
	buf := openBuffer(t)
	inc := wire.Version{UpdatedOn: "2026-11-01 10:00:00", ModCount: 4}
	for table, v := range map[string]wire.Version{"incident": inc, "problem": {UpdatedOn: "2026-11-02 10:00:00"}} {
		raw, _ := json.Marshal(v)
		if err := buf.Set(context.Background(), confirmedKey(table), raw); err != nil {
			t.Fatal(err)
		}
	}
	f := newForwarder(t, "nats://127.0.0.1:1", buf, time.Hour)
	f.LoadConfirmed([]string{"incident", "change_request"})
	got := f.Stats().Confirmed
	if len(got) != 1 || got["incident"] != inc {
		t.Errorf("confirmed = %+v, want only incident at %+v", got, inc)
	}
}

// leaseNow leases what is pending in buf now, without waiting: Lease with
// a done context.
func leaseNow(buf *buffer.Buffer, max int) ([]buffer.Batch, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	batches, err := buf.Lease(ctx, max)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return batches, err
}
