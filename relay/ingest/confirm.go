package ingest

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// agentKey names one integration of one agent: an agent with several
// instances gets one confirmation per integration.
type agentKey struct{ tenant, agent, integration string }

// agentConfirm is what has been committed from one agent.
type agentConfirm struct {
	tables map[string]wire.Version // newest committed version per table
	dirty  bool                    // tables changed since the last send
	sent   time.Time               // when the last confirmation went out
}

// confirmer keeps, per agent, the newest version committed per table and
// publishes it as a wire.Confirmation at most once per interval. The state
// lives in memory only: after a restart the next commit starts it afresh,
// and the agent keeps the maximum of what it was told.
type confirmer struct {
	publish  func(subject string, data []byte) error // the relay's NATS connection's Publish
	now      func() time.Time
	interval time.Duration
	log      zerolog.Logger
	m        *metrics
	wake     chan struct{} // one token: an agent has news (see run)

	// mu guards the fields below.
	mu     sync.Mutex
	agents map[agentKey]*agentConfirm
}

func newConfirmer(conn *nats.Conn, now func() time.Time, interval time.Duration, log zerolog.Logger, m *metrics) *confirmer {
	return &confirmer{publish: conn.Publish, now: now, interval: interval, log: log, m: m,
		wake: make(chan struct{}, 1), agents: map[agentKey]*agentConfirm{}}
}

// run sends the confirmations that wait for their agent's interval (flush
// sends the others at once, after each commit): woken by news, it flushes,
// then again every interval while news is still waiting. With nothing to
// send it sleeps without a timer, so an idle relay does not wake for it.
func (c *confirmer) run(ctx context.Context) {
	t := time.NewTimer(c.interval)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		for c.flush(); c.waiting(); c.flush() {
			t.Reset(c.interval)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
}

// waiting reports whether an agent has news not sent yet.
func (c *confirmer) waiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.agents {
		if a.dirty {
			return true
		}
	}
	return false
}

// news wakes run. It never blocks.
func (c *confirmer) news() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// add records that v of table of integration, sent by agent, is committed.
func (c *confirmer) add(tenant, agent, integration, table string, v wire.Version) {
	if agent == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := agentKey{tenant, agent, integration}
	a := c.agents[k]
	if a == nil {
		a = &agentConfirm{tables: map[string]wire.Version{}}
		c.agents[k] = a
	}
	if v.Newer(a.tables[table]) {
		a.tables[table] = v
		a.dirty = true
		c.news()
	}
}

// resend marks what is known of agent (every integration) as news, so the
// next flush sends it again; a no-op for an agent this relay committed
// nothing for.
func (c *confirmer) resend(tenant, agent string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, a := range c.agents {
		if k.tenant == tenant && k.agent == agent && len(a.tables) > 0 {
			a.dirty, a.sent = true, time.Time{}
			c.news()
		}
	}
}

// confirmation is one message to send.
type confirmation struct {
	subject string
	body    []byte
}

// flush publishes a confirmation to every agent with news whose last one is
// at least interval old.
func (c *confirmer) flush() {
	for _, m := range c.due() {
		if err := c.publish(m.subject, m.body); err != nil {
			c.log.Warn().Err(err).Str("subject", m.subject).Msg("publish delivery confirmation")
			continue
		}
		c.m.confirmations.Inc()
	}
}

// due collects the confirmations to send now and marks them sent.
func (c *confirmer) due() []confirmation {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var out []confirmation
	for k, a := range c.agents {
		if !a.dirty || (!a.sent.IsZero() && now.Sub(a.sent) < c.interval) {
			continue
		}
		tables := make(map[string]wire.Version, len(a.tables))
		for t, v := range a.tables {
			tables[t] = v
		}
		body, err := json.Marshal(wire.Confirmation{Time: now.UTC(), Integration: k.integration, Tables: tables})
		if err != nil { // cannot happen: strings and integers only
			continue
		}
		a.dirty, a.sent = false, now
		out = append(out, confirmation{subject: wire.ConfirmSubject(k.tenant, k.agent), body: body})
	}
	return out
}

// reject tells the agent that sent a batch that it was quarantined as
// undecodable, so it reads the batch's range again (wire.Rejection). Only
// decode failures: they are the ones damage causes. Best effort: a lost
// rejection leaves the batch in quarantine, as before.
func (c *confirmer) reject(subject string, h nats.Header, id, reason string, cause error) {
	agent := h.Get(wire.HeaderAgent)
	tenant, integration, table, err := wire.ParseIngestSubject(subject)
	if reason != ReasonDecode || err != nil || !wire.ValidName(agent) {
		return
	}
	body, err := json.Marshal(wire.Rejection{Time: c.now().UTC(), Batch: id, Table: table, Integration: integration, Reason: reason, Error: cause.Error()})
	if err != nil {
		return
	}
	if err := c.publish(wire.RejectSubject(tenant, agent), body); err != nil {
		c.log.Warn().Err(err).Str("batch", id).Msg("publish rejection")
		return
	}
	c.m.rejections.Inc()
}
