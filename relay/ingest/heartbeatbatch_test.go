package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// batchStore is a memStore with PutAgents whose first call waits for
// release, so the heartbeats that arrive meanwhile pile up.
type batchStore struct {
	*memStore
	release chan struct{}

	mu    sync.Mutex
	calls []int // heartbeats per PutAgents call
}

func (s *batchStore) PutAgents(ctx context.Context, as []store.Agent) error {
	s.mu.Lock()
	first := len(s.calls) == 0
	s.calls = append(s.calls, len(as))
	s.mu.Unlock()
	if first {
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, a := range as {
		if err := s.PutAgent(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// TestHeartbeatsGroupCommit: heartbeats that arrive while one write is
// under way are written together, in one PutAgents call, and an agent's
// newer heartbeat replaces its older one still waiting. Before, each
// heartbeat was its own synced write.
func TestHeartbeatsGroupCommit(t *testing.T) {
	e := startNATS(t)
	st := &batchStore{memStore: newMemStore(), release: make(chan struct{})}
	r := start(t, e.testConfig(t, st))
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if err := e.nc.Publish(wire.HeartbeatSubject("t1", "first"), []byte(`{"version":"0"}`)); err != nil {
			return err
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.calls) == 0 {
			return fmt.Errorf("no write yet")
		}
		return nil
	})
	const agents = 200
	for round := 1; round <= 2; round++ {
		for i := range agents {
			body := fmt.Sprintf(`{"version":"%d"}`, round)
			if err := e.nc.Publish(wire.HeartbeatSubject("t1", fmt.Sprintf("a%03d", i)), []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		// Each round waits for the one before: heartbeats handled at the
		// same instant by two workers have no order.
		want := fmt.Sprintf(`{"version":"%d"}`, round)
		natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			r.c.hb.mu.Lock()
			defer r.c.hb.mu.Unlock()
			n := 0
			for _, a := range r.c.hb.pending {
				if string(a.Heartbeat) == want {
					n++
				}
			}
			if n != agents {
				return fmt.Errorf("%d heartbeats of round %d waiting, want %d", n, round, agents)
			}
			return nil
		})
	}
	close(st.release)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		got, err := st.Agents(t.Context(), "t1")
		if err != nil {
			return err
		}
		n := 0
		for _, a := range got {
			if string(a.Heartbeat) == `{"version":"2"}` {
				n++
			}
		}
		if n != agents {
			return fmt.Errorf("%d agents hold their newest heartbeat, want %d", n, agents)
		}
		return nil
	})
	st.mu.Lock()
	calls := append([]int(nil), st.calls...)
	st.mu.Unlock()
	if len(calls) < 2 || calls[1] < agents || calls[1] > agents+1 {
		t.Errorf("PutAgents calls %v: want the %d waiting heartbeats in the second", calls, agents)
	}
	if got := metric(t, r.reg, "sei_relay_ingest_heartbeats_total"); got < agents+1 {
		t.Errorf("heartbeats_total = %v, want at least %d", got, agents+1)
	}
}
