package feedpub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// markCounter counts the marks one Publisher saved: each is a page it
// published.
type markCounter struct {
	Feed
	marks atomic.Int64
}

func (m *markCounter) SetFeedMark(ctx context.Context, name, tenant, mark string) error {
	m.marks.Add(1)
	return m.Feed.SetFeedMark(ctx, name, tenant, mark)
}

// TestLeaseOnePublisherAtATime: two Publishers over one store (two relays
// on one PostgreSQL) and one NATS: only the lease holder publishes; when it
// stops, the other takes over and publishes what follows. The stream holds
// every change exactly once.
func TestLeaseOnePublisherAtATime(t *testing.T) {
	srv := startNATS(t)
	js := connectJS(t, srv.ClientURL())
	st := openStore(t, t.TempDir())
	write := func(from, to int) {
		t.Helper()
		var recs []store.Record
		for i := from; i < to; i++ {
			recs = append(recs, rec("acme", fmt.Sprintf("r%03d", i), 1, `{"v":1}`))
		}
		if _, err := st.Apply(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 20)
	start := func(name string) (*markCounter, context.CancelFunc, *sync.WaitGroup) {
		f := &markCounter{Feed: st}
		p, err := New(Config{JS: js, Feed: f, Poll: 20 * time.Millisecond, Batch: 3,
			Lease:  &Lease{Bucket: "LEASE_TEST", Holder: name, TTL: 2 * time.Second},
			Logger: zerolog.New(zerolog.NewTestWriter(t))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := p.Run(ctx); err != nil {
				t.Errorf("Run %s: %v", name, err)
			}
		})
		t.Cleanup(func() { cancel(); wg.Wait() })
		return f, cancel, &wg
	}
	a, stopA, waitA := start("a")
	waitForMessages(t, js, 20)
	b, _, _ := start("b")
	write(20, 30)
	waitForMessages(t, js, 30)
	if a.marks.Load() == 0 || b.marks.Load() != 0 {
		t.Fatalf("with a holding the lease: a saved %d marks, b %d; want only a", a.marks.Load(), b.marks.Load())
	}
	stopA()
	waitA.Wait()
	aMarks := a.marks.Load()
	write(30, 40)
	waitForMessages(t, js, 40)
	if b.marks.Load() == 0 || a.marks.Load() != aMarks {
		t.Errorf("after a stopped: b saved %d marks, a %d more; want b to take over", b.marks.Load(), a.marks.Load()-aMarks)
	}
	seen := map[string]int{}
	for _, m := range readStream(t, js) {
		seen[m.change.SysID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
	}
	if len(seen) != 40 {
		t.Errorf("stream holds %d records, want 40", len(seen))
	}
}
