package poll

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// memBuffer is an in-memory Buffer: Run's schedule does not depend on
// Badger, and Badger's own goroutines have no place in a synctest bubble.
type memBuffer struct {
	mu    sync.Mutex
	state map[string][]byte
}

func (m *memBuffer) Append(_ context.Context, b buffer.Batch, st map[string][]byte) (buffer.Batch, error) {
	for k, v := range st {
		_ = m.Set(context.Background(), k, v)
	}
	return b, nil
}

func (m *memBuffer) Get(key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.state[key]
	if !ok {
		return nil, buffer.ErrNotFound
	}
	return v, nil
}

func (m *memBuffer) Set(_ context.Context, key string, val []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == nil {
		m.state = map[string][]byte{}
	}
	m.state[key] = val
	return nil
}

func (m *memBuffer) Repairs() []buffer.Repair { return nil }
func (m *memBuffer) AddRepair(_ context.Context, r buffer.Repair) (buffer.Repair, error) {
	return r, nil
}
func (m *memBuffer) ResolveRepairs(context.Context, ...uint64) error { return nil }

// clockSource records when (in the bubble's fake time) each scan began and
// fails with err while it is set.
type clockSource struct {
	start time.Time
	mu    sync.Mutex
	at    []time.Duration
	err   error
}

func (c *clockSource) Scan(ctx context.Context, t servicenow.Table, from servicenow.Cursor, upto time.Time, fn func(servicenow.Page) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = append(c.at, time.Since(c.start))
	return c.err
}

func (c *clockSource) Newest(context.Context, servicenow.Table) (string, error) { return "", nil }

func (c *clockSource) scans() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.at...)
}

func (c *clockSource) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// TestRunSchedule runs the poller in fake time (testing/synctest): it polls
// at start and every Interval; Wake polls at once without moving the
// schedule's rhythm; refused credentials back off (1h, 2h, 4h, 6h at
// most) and the first success returns to the interval.
//
// (Run's other timers: the forwarder's retry backoff and heartbeats are
// TestForwardBackoff and TestHeartbeatSchedule in agent/forward; the
// buffer-full retry is TestBufferFullPausesAndResumes.)
func TestRunSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &clockSource{start: time.Now()}
		tables := []servicenow.Table{{Name: "incident", Field: servicenow.FieldUpdatedOn}}
		p := New(Config{Tables: tables, Interval: time.Hour, Lookback: time.Hour, Logger: zerolog.Nop()}, src, &memBuffer{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()

		h := time.Hour
		step := func(d time.Duration, want ...time.Duration) {
			t.Helper()
			time.Sleep(d)
			synctest.Wait()
			if diff := cmp.Diff(want, src.scans()); diff != "" {
				t.Fatalf("after %v: scans at (-want +got):\n%s", time.Since(src.start), diff)
			}
		}
		step(0, 0)
		step(h-time.Second, 0)
		step(time.Second, 0, h)
		step(h, 0, h, 2*h)

		// A repair wakes the poller at once; the next poll is an interval
		// after that one.
		time.Sleep(10 * time.Minute)
		p.Wake()
		wake := 2*h + 10*time.Minute
		step(0, 0, h, 2*h, wake)
		step(h, 0, h, 2*h, wake, wake+h)

		// Refused credentials: the first refusal comes an interval after the
		// last success; then waits of 1h, 2h, 4h and 6h at most.
		src.fail(&servicenow.Error{Op: "fetch incident", Status: http.StatusUnauthorized, Permanent: true})
		at := wake + h
		want := []time.Duration{0, h, 2 * h, wake, wake + h}
		for _, wait := range []time.Duration{h, h, 2 * h, 4 * h, 6 * h, 6 * h} {
			at += wait
			want = append(want, at)
			step(wait, want...)
		}
		if st := p.Stats(); st.AuthFailures != 6 {
			t.Errorf("AuthFailures = %d, want 6", st.AuthFailures)
		}
		// Fixed: the next try (after 6h) succeeds, then the interval again.
		src.fail(nil)
		at += 6 * h
		want = append(want, at)
		step(6*h, want...)
		want = append(want, at+h)
		step(h, want...)

		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
}
