package ingest

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// agentsPutter is a store that writes many heartbeats in one transaction
// (badgerstore); other stores get them one PutAgent call each.
type agentsPutter interface {
	PutAgents(ctx context.Context, as []store.Agent) error
}

// heartbeatBatch collects the heartbeats received within heartbeatLinger
// and while the last ones were being written (a group commit): one writer
// takes them all at once, and an agent's newer heartbeat replaces its
// older one still waiting. With 10,000 agents heartbeating every 30 s the
// store then commits at most 10 times a second instead of 333 times, each
// a synced write.
type heartbeatBatch struct {
	wake chan struct{} // one token: heartbeats are waiting

	mu sync.Mutex
	// mu guards pending: tenant/agent → its latest heartbeat.
	pending map[string]store.Agent
}

func newHeartbeatBatch() *heartbeatBatch {
	return &heartbeatBatch{wake: make(chan struct{}, 1), pending: map[string]store.Agent{}}
}

// add queues a's heartbeat for the writer.
func (b *heartbeatBatch) add(a store.Agent) {
	b.mu.Lock()
	b.pending[a.Tenant+"/"+a.Agent] = a
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take returns the waiting heartbeats and empties the batch.
func (b *heartbeatBatch) take() []store.Agent {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]store.Agent, 0, len(b.pending))
	for _, a := range b.pending {
		out = append(out, a)
	}
	clear(b.pending)
	return out
}

// heartbeatLinger is how long the writer lets heartbeats gather after the
// first one arrived: the store commits at most 1/heartbeatLinger times a
// second, whatever the number of agents, and a heartbeat shows in
// /v1/agents that much later.
const heartbeatLinger = 100 * time.Millisecond

// runHeartbeatWriter writes the batched heartbeats until ctx ends, then
// writes what is left.
func (c *Consumer) runHeartbeatWriter(ctx context.Context) error {
	linger := time.NewTimer(heartbeatLinger)
	linger.Stop()
	for {
		select {
		case <-ctx.Done():
			c.writeHeartbeats(context.WithoutCancel(ctx), c.hb.take())
			return nil
		case <-c.hb.wake:
			linger.Reset(heartbeatLinger)
			select {
			case <-ctx.Done():
			case <-linger.C:
			}
			c.writeHeartbeats(ctx, c.hb.take())
		}
	}
}

// writeHeartbeats stores as, counts them and resends each agent the
// confirmations it may have missed.
func (c *Consumer) writeHeartbeats(ctx context.Context, as []store.Agent) {
	if len(as) == 0 {
		return
	}
	ok := make([]bool, len(as))
	if p, batch := c.cfg.Store.(agentsPutter); batch {
		if err := p.PutAgents(ctx, as); err != nil {
			c.log.Warn().Err(err).Int("heartbeats", len(as)).Msg("store heartbeats")
			return
		}
		for i := range ok {
			ok[i] = true
		}
	} else {
		var g errgroup.Group
		g.SetLimit(heartbeatWorkers)
		for i, a := range as {
			g.Go(func() error {
				if err := c.cfg.Store.PutAgent(ctx, a); err != nil {
					c.log.Warn().Err(err).Str("tenant", a.Tenant).Str("agent", a.Agent).Msg("store heartbeat")
					return nil
				}
				ok[i] = true
				return nil
			})
		}
		_ = g.Wait()
	}
	for i, a := range as {
		if !ok[i] {
			continue
		}
		c.m.heartbeats.Inc()
		// A heartbeat shows the agent is listening (after its own restart,
		// say): tell it again what this relay committed.
		c.confirms.resend(a.Tenant, a.Agent)
	}
}
