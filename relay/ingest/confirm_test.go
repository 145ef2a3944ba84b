package ingest

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// sentLog records what a confirmer published.
type sentLog struct {
	mu   sync.Mutex
	subj []string
	at   []time.Time
}

func (s *sentLog) publish(subject string, _ []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subj = append(s.subj, subject)
	s.at = append(s.at, time.Now())
	return nil
}

func (s *sentLog) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subj)
}

func testConfirmer(t *testing.T, sent *sentLog) *confirmer {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c := newConfirmer(nil, time.Now, time.Second, zerolog.Nop(), m)
	c.publish = sent.publish
	return c
}

// The confirmation loop sleeps without a timer while no agent has news, and
// sends news that waited for its agent's interval once the interval is over.
func TestConfirmerRunsOnlyWithNews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent sentLog
		c := testConfirmer(t, &sent)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.run(ctx); close(done) }()

		// Idle: an hour passes and nothing is sent (and, with no timer,
		// the goroutine never wakes: Sleep returns once everything in the
		// bubble is blocked).
		time.Sleep(time.Hour)
		if n := sent.count(); n != 0 {
			t.Fatalf("idle confirmer sent %d confirmations", n)
		}

		// News: sent at once.
		start := time.Now()
		c.add("t1", "a1", "snow", "incident", wire.Version{UpdatedOn: "2026-01-01 00:00:01"})
		synctest.Wait()
		if n := sent.count(); n != 1 {
			t.Fatalf("after news: %d confirmations sent, want 1", n)
		}
		// Newer news within the interval waits for it, then goes.
		c.add("t1", "a1", "snow", "incident", wire.Version{UpdatedOn: "2026-01-01 00:00:02"})
		synctest.Wait()
		if n := sent.count(); n != 1 {
			t.Fatalf("news within the interval sent at once (%d confirmations)", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := sent.count(); n != 2 {
			t.Fatalf("after the interval: %d confirmations sent, want 2", n)
		}
		if d := sent.at[1].Sub(start); d != time.Second {
			t.Errorf("second confirmation %v after the first, want the interval (1s)", d)
		}
		// Nothing new: idle again.
		time.Sleep(time.Hour)
		if n := sent.count(); n != 2 {
			t.Fatalf("after an idle hour: %d confirmations sent, want still 2", n)
		}
		cancel()
		<-done
	})
}
