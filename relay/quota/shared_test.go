package quota

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// sharedPair opens two Shared ledgers (two relay replicas) on one plain
// JetStream server with the ingest stream; Fresh is tiny so every Admit
// reads the bucket.
func sharedPair(t testing.TB, maxBytes, maxBatches int64) (a, b *Shared, js jetstream.JetStream) {
	t.Helper()
	srv := natstest.Start(t, nil)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ingest.EnsureStream(ctx, js, ingest.StreamConfig{MaxBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	open := func() *Shared {
		s, err := OpenShared(ctx, SharedConfig{JS: js, MaxBytes: maxBytes, MaxBatches: maxBatches, Fresh: time.Nanosecond, Log: zerolog.New(io.Discard)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return open(), open(), js
}

func mustFlush(t testing.TB, s *Shared) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSharedPausesAcrossReplicas: batches added through replica a pause
// the tenant on replica b too, which never saw them; b's consumer drains
// it and both resume at 90%; another tenant is never refused; a replica
// opened afterwards (a restart) starts from the bucket.
func TestSharedPausesAcrossReplicas(t *testing.T) {
	a, b, _ := sharedPair(t, 1000, 0)
	for range 10 {
		if err := a.Admit("ta"); err != nil {
			t.Fatalf("admit below the quota: %v", err)
		}
		a.Added("ta", 100)
	}
	if err := a.Admit("ta"); !errors.Is(err, ErrOverQuota) {
		t.Errorf("replica a admits at 1000 of 1000 before writing: %v", err)
	}
	mustFlush(t, a)
	err := b.Admit("ta")
	if !errors.Is(err, ErrOverQuota) || !strings.Contains(err.Error(), "quota.max_bytes") {
		t.Fatalf("replica b at 1000 of 1000: %v, want ErrOverQuota naming quota.max_bytes", err)
	}
	if err := b.Admit("tb"); err != nil {
		t.Fatalf("other tenant refused: %v", err)
	}
	b.Removed("ta", 50) // 950: above 90%
	mustFlush(t, b)
	if a.Admit("ta") == nil {
		t.Fatal("admitted at 950 of 1000, before draining to 90%")
	}
	b.Removed("ta", 50) // 900
	mustFlush(t, b)
	if err := a.Admit("ta"); err != nil {
		t.Fatalf("replica a after b drained ta to 90%%: %v", err)
	}
	a.Added("ta", 100)
	mustFlush(t, a)
	restarted, err := OpenShared(context.Background(), SharedConfig{JS: a.cfg.JS, MaxBytes: 1000, Log: zerolog.New(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Admit("ta"); !errors.Is(err, ErrOverQuota) {
		t.Errorf("a restarted replica admits ta at 1000 of 1000: %v", err)
	}
	u, err := restarted.Usage(context.Background(), "ta")
	if err != nil || u.Bytes != 1000 || !u.Paused || u.MaxBytes != 1000 {
		t.Errorf("usage %+v %v, want 1000 bytes, paused", u, err)
	}
}

// TestSharedMaxMessages pauses at quota.max_messages, naming it.
func TestSharedMaxMessages(t *testing.T) {
	a, b, _ := sharedPair(t, 0, 3)
	for range 3 {
		a.Added("ta", 1)
	}
	mustFlush(t, a)
	err := b.Admit("ta")
	if !errors.Is(err, ErrOverQuota) || !strings.Contains(err.Error(), "quota.max_messages") {
		t.Fatalf("at 3 of 3 batches: %v, want ErrOverQuota naming quota.max_messages", err)
	}
	b.Removed("ta", 1) // 2 of 3: 67%
	mustFlush(t, b)
	if err := a.Admit("ta"); err != nil {
		t.Fatalf("at 2 of 3 batches: %v", err)
	}
}

// TestSharedSettles: a count the stream does not back (a replica crashed
// after the stream lost the batches, or stream.max_age expired them) is
// set to zero once the tenant holds no batch, and only then.
func TestSharedSettles(t *testing.T) {
	a, b, js := sharedPair(t, 1000, 0)
	ctx := context.Background()
	if _, err := js.Publish(ctx, wire.IngestSubject("ta", "snow", "incident"), []byte("batch")); err != nil {
		t.Fatal(err)
	}
	a.Added("ta", 5000) // its Removed is lost with a crash
	mustFlush(t, a)
	if err := b.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Admit("ta") == nil {
		t.Fatal("settled while ta still holds a batch")
	}
	st, err := js.Stream(ctx, wire.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	// a batch counted after b read ta: b's settlement must not wipe it
	a.Added("ta", 100)
	mustFlush(t, a)
	if err := b.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if u, err := a.Usage(ctx, "ta"); err != nil || u.Bytes != 5100 {
		t.Fatalf("a settlement on a stale read wiped a later count: %+v %v", u, err)
	}
	if err := b.Settle(ctx); err != nil { // b read ta again: now it settles
		t.Fatal(err)
	}
	if err := a.Admit("ta"); err != nil {
		t.Fatalf("ta after it drained and b settled: %v", err)
	}
	if u, err := a.Usage(ctx, "ta"); err != nil || u != (Usage{Tenant: "ta", MaxBytes: 1000}) {
		t.Errorf("usage after settling: %+v %v", u, err)
	}
}

// BenchmarkSharedBatch is the quota's cost for one batch when nothing
// shares its round (the worst case: each round writes one batch): the
// gateway's Admit (from memory), its Added written, and the consumer's
// Removed written, each write a read and a revision-checked update of the
// bucket on a local server.
func BenchmarkSharedBatch(b *testing.B) {
	a, c, _ := sharedPair(b, 1<<40, 0)
	a.cfg.Fresh, c.cfg.Fresh = time.Hour, time.Hour
	for b.Loop() {
		if err := a.Admit("ta"); err != nil {
			b.Fatal(err)
		}
		a.Added("ta", 1000)
		mustFlush(b, a)
		c.Removed("ta", 1000)
		mustFlush(b, c)
	}
}

// BenchmarkSharedRound64 is the same for 64 batches of one tenant in one
// round (what a busy gateway's 64 workers hand Run at once): per batch.
func BenchmarkSharedRound64(b *testing.B) {
	a, c, _ := sharedPair(b, 1<<40, 0)
	a.cfg.Fresh, c.cfg.Fresh = time.Hour, time.Hour
	for b.Loop() {
		for range 64 {
			if err := a.Admit("ta"); err != nil {
				b.Fatal(err)
			}
			a.Added("ta", 1000)
			c.Removed("ta", 1000)
		}
		mustFlush(b, a)
		mustFlush(b, c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/batch")
}
