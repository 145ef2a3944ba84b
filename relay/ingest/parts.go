package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// processPart stores one part of a record too large for one message and
// acknowledges it; the relay that stores the last missing part (whichever
// replica received the others) reassembles the set, applies it, deletes the
// parts and only then acknowledges. Every step is idempotent: a crash at any
// point redelivers the part, which is stored again, and the set is applied
// again (newest version wins, so nothing doubles) and deleted again.
//
// Of two relays storing the last two parts at once, each reads the set after
// its own write committed, so the later of them sees it complete: a set
// is never left complete and unapplied.
func (c *Consumer) processPart(ctx context.Context, p *pending) {
	b := p.batch
	sp := store.Part{Tenant: b.tenant, Integration: b.integration, Table: b.table, Set: b.part.Set,
		Index: b.part.Index, Count: b.part.Count, Data: p.msg.Data(), Time: c.cfg.Now().UTC()}
	if err := store.CheckPart(&sp); err != nil {
		c.quarantine(ctx, p, ReasonDecode, &rejectError{reason: ReasonDecode, err: err})
		return
	}
	err := c.cfg.Store.PutPart(ctx, sp)
	if errors.Is(err, store.ErrPartSetDone) {
		c.ack(ctx, p) // a late redelivery of a part of an applied set
		return
	}
	if err != nil {
		c.retry(ctx, p, fmt.Errorf("store part %d/%d of set %s: %w", sp.Index, sp.Count, sp.Set, err))
		return
	}
	c.m.partsStored.Inc()
	parts, err := c.cfg.Store.Parts(ctx, sp.Tenant, sp.Integration, sp.Set)
	if err != nil {
		c.retry(ctx, p, fmt.Errorf("read part set %s: %w", sp.Set, err))
		return
	}
	data, complete := whole(parts, sp)
	if !complete {
		c.ack(ctx, p)
		return
	}
	body, err := wire.Join(sp.Set, data)
	if err == nil {
		err = b.measure(body)
	}
	if err == nil {
		// process applied what it held before calling: the set's records
		// are all the consumer holds decoded now.
		c.decoded.hold(b.size)
		defer c.decoded.release(b.size)
		err = b.decode()
	}
	if err != nil {
		// The set can never apply: drop it, so the agent's re-read (it is
		// sent a rejection) starts a clean set.
		c.quarantine(ctx, p, ReasonDecode, &rejectError{reason: ReasonDecode, err: fmt.Errorf("part set %s: %w", sp.Set, err)})
		if err := c.cfg.Store.DeleteParts(ctx, sp.Tenant, sp.Integration, sp.Set); err != nil {
			c.log.Warn().Err(err).Str("set", sp.Set).Msg("delete rejected part set")
		}
		return
	}
	res, err := c.applyWithProgress(ctx, []*pending{p}, b.records)
	if err != nil {
		c.retry(ctx, p, err)
		return
	}
	if err := c.cfg.Store.FinishParts(ctx, sp.Tenant, sp.Integration, sp.Set, c.cfg.Now().UTC()); err != nil {
		// Applied: a redelivery applies it again (ignored) and finishes.
		c.retry(ctx, p, fmt.Errorf("delete applied part set %s: %w", sp.Set, err))
		return
	}
	c.m.partSetsApplied.Inc()
	c.m.batchesApplied.Inc()
	c.m.recordsApplied.Add(float64(res.Applied))
	c.m.recordsIgnored.Add(float64(res.Ignored))
	c.ack(ctx, p)
	if len(b.records) > 0 {
		c.confirms.add(b.tenant, b.agent, b.integration, b.table, b.newest)
		c.confirms.flush()
	}
}

// whole returns the data of parts in index order when they are the
// complete set p belongs to: every index 1..p.Count, all of p's table and
// count.
func whole(parts []store.Part, p store.Part) ([][]byte, bool) {
	data := make([][]byte, p.Count)
	for _, q := range parts {
		if q.Count != p.Count || q.Table != p.Table || q.Index < 1 || q.Index > p.Count {
			return nil, false
		}
		data[q.Index-1] = q.Data
	}
	for _, d := range data {
		if d == nil {
			return nil, false
		}
	}
	return data, true
}

// ack acknowledges a message whose work is committed.
func (c *Consumer) ack(ctx context.Context, p *pending) {
	if err := p.msg.DoubleAck(ctx); err != nil {
		// Committed already: a redelivery is a no-op for the store.
		c.log.Warn().Err(err).Str("batch", msgID(p)).Msg("ack batch")
		return
	}
	c.left(p)
}

// left tells the ledger that p's batch left the stream.
func (c *Consumer) left(p *pending) {
	if tenant, _, _, err := wire.ParseIngestSubject(p.msg.Subject()); err == nil {
		c.cfg.Ledger.Removed(tenant, int64(len(p.msg.Data())))
	}
}

// expireParts deletes the part sets that stayed incomplete for PartTTL.
func (c *Consumer) expireParts(ctx context.Context) {
	n, err := c.cfg.Store.ExpireParts(ctx, c.cfg.Now().Add(-c.cfg.PartTTL))
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("expire incomplete part sets")
		}
		return
	}
	if n > 0 {
		c.m.partSetsExpired.Add(float64(n))
		c.log.Warn().Int("sets", n).Dur("ttl", c.cfg.PartTTL).Msg("expired incomplete part sets")
	}
}
