package feedpub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestRunPublishesEveryChange: a running Publisher publishes what is
// stored before it starts and what is written while it runs, on the
// documented subjects, tombstones with their reason.
func TestRunPublishesEveryChange(t *testing.T) {
	srv := startNATS(t)
	js := connectJS(t, srv.ClientURL())
	st := openStore(t, t.TempDir())
	if _, err := st.Apply(t.Context(), []store.Record{rec("acme", "a", 1, `{"v":1}`), rec("beta", "b", 1, `{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{JS: js, Feed: st, Poll: time.Hour, Batch: 2, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()
	waitForMessages(t, js, 2)
	d := rec("acme", "a", 2, "")
	d.Deleted, d.Fields, d.Reason = true, nil, wire.DeleteReconciliation
	if _, err := st.Apply(t.Context(), []store.Record{d, rec("acme", "c", 1, `{"v":1}`), rec("acme", "e", 1, `{}`)}); err != nil {
		t.Fatal(err)
	}
	waitForMessages(t, js, 5)
	msgs := readStream(t, js)
	last := msgs[len(msgs)-3:]
	want := []string{"sei.changes.acme.sn.incident"}
	for _, m := range msgs {
		if m.subject != wire.ChangesSubject(m.change.Tenant, "sn", "incident") {
			t.Errorf("change of %s on subject %s", m.change.Tenant, m.subject)
		}
	}
	if last[0].subject != want[0] || !last[0].change.Deleted || last[0].change.Reason != wire.DeleteReconciliation {
		t.Errorf("tombstone message = %+v", last[0])
	}
}

func waitForMessages(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := len(readStream(t, js)); got != n {
			return fmt.Errorf("stream holds %d messages, want %d", got, n)
		}
		return nil
	})
}

// TestCrashBetweenCommitAndPublish stops a Publisher in both windows a
// crash can hit: after JetStream acknowledged a page but before its mark
// was saved, and (with no Publisher running) after the store committed
// writes that were never published. A new Publisher then brings the
// stream to exactly one message per change: nothing lost, nothing twice.
func TestCrashBetweenCommitAndPublish(t *testing.T) {
	srv := startNATS(t)
	js := connectJS(t, srv.ClientURL())
	st := openStore(t, t.TempDir())
	var recs []store.Record
	for i := range 50 {
		recs = append(recs, rec("acme", fmt.Sprintf("a%03d", i), 1, `{}`))
	}
	if _, err := st.Apply(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crash")
	p1, _ := New(Config{JS: js, Feed: st, Batch: 20, beforeMark: func() error { return crash }})
	if err := p1.CatchUp(t.Context()); !errors.Is(err, crash) {
		t.Fatalf("CatchUp with a crash before the mark: %v", err)
	}
	if n := len(readStream(t, js)); n != 20 {
		t.Fatalf("after the crash the stream holds %d messages, want the first page of 20", n)
	}
	// Committed, never published: no Publisher runs.
	recs = recs[:0]
	for i := range 30 {
		recs = append(recs, rec("acme", fmt.Sprintf("b%03d", i), 1, `{}`))
	}
	if _, err := st.Apply(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	p2, _ := New(Config{JS: js, Feed: st, Batch: 20})
	if err := p2.CatchUp(t.Context()); err != nil {
		t.Fatalf("CatchUp after the crash: %v", err)
	}
	checkStreamIsFeed(t, readStream(t, js), feedOf(t, st, "acme"))
}

// checkStreamIsFeed checks the stream holds each change of feed exactly
// once, in feed order.
func checkStreamIsFeed(t *testing.T, msgs []streamed, feed []store.Change) {
	t.Helper()
	got := make([]store.Change, len(msgs))
	seen := map[string]bool{}
	for i, m := range msgs {
		if seen[m.id] {
			t.Errorf("position %s published twice", m.id)
		}
		seen[m.id] = true
		got[i] = m.change
	}
	if diff := cmp.Diff(feed, got); diff != "" {
		t.Errorf("stream (-feed +stream):\n%s", diff)
	}
}
