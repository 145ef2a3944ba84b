package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// process checks, applies and acknowledges one group of messages. It finishes
// the group's work when ctx ends meanwhile, for at most AckWait more, so a
// shutdown does not waste a write that is under way.
func (c *Consumer) process(ctx context.Context, group []jetstream.Msg) {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(c.cfg.AckWait, cancel) })
	defer stop()
	// Messages are decoded one at a time. Each is measured before its
	// records are parsed, and the group is applied first when the message
	// would not fit in DecodeBudget beside it (or the group would pass
	// MaxGroupRecords), so the decoded records held at once stay within
	// the budget whatever the fetch delivered. Batches are still applied
	// in the order fetched.
	var (
		good        []*pending
		recs, bytes int64
	)
	flush := func() {
		if len(good) > 0 {
			c.apply(pctx, good)
		}
		c.decoded.release(bytes)
		good, recs, bytes = nil, 0, 0
	}
	for _, m := range group {
		p := &pending{msg: m}
		if md, err := m.Metadata(); err == nil {
			p.meta = md
		}
		b, err := checkMessage(m.Subject(), m.Headers(), m.Data())
		if err != nil {
			c.quarantine(pctx, p, rejectReason(err), err)
			continue
		}
		p.batch = b
		if b.part != nil {
			flush()
			c.processPart(pctx, p)
			continue
		}
		if bytes+b.size > c.cfg.DecodeBudget {
			flush()
		}
		c.decoded.hold(b.size)
		if err := b.parse(m.Headers()); err != nil {
			c.decoded.release(b.size)
			c.quarantine(pctx, p, rejectReason(err), err)
			continue
		}
		if recs+int64(len(b.records)) > int64(c.cfg.MaxGroupRecords) {
			flush() // the group's bytes, not yet this batch's
		}
		good = append(good, p)
		recs += int64(len(b.records))
		bytes += b.size
	}
	flush()
}

// pending is a fetched message on its way to the store.
type pending struct {
	msg   jetstream.Msg
	meta  *jetstream.MsgMetadata // nil when the reply subject is not a JetStream ack subject
	batch *batch
}

// delivered is how many times the message was delivered, this time
// included; 1 when the metadata is unknown.
func (p *pending) delivered() int {
	if p.meta == nil {
		return 1
	}
	return int(p.meta.NumDelivered)
}

// apply writes the records of ps in one transaction and acks each message.
// When the transaction fails for a group, each batch is retried alone, so one
// batch the store refuses does not hold the others back.
func (c *Consumer) apply(ctx context.Context, ps []*pending) {
	var recs []store.Record
	for _, p := range ps {
		recs = append(recs, p.batch.records...)
	}
	res, err := c.applyWithProgress(ctx, ps, recs)
	if err != nil {
		if len(ps) > 1 {
			for _, p := range ps {
				c.apply(ctx, []*pending{p})
			}
			return
		}
		c.retry(ctx, ps[0], err)
		return
	}
	c.m.batchesApplied.Add(float64(len(ps)))
	c.m.recordsApplied.Add(float64(res.Applied))
	c.m.recordsIgnored.Add(float64(res.Ignored))
	c.ackAll(ctx, ps)
	for _, p := range ps {
		b := p.batch
		if len(b.records) > 0 {
			c.confirms.add(b.tenant, b.agent, b.integration, b.table, b.newest)
		}
	}
	c.confirms.flush()
}

// ackAll acknowledges ps (see ack), all at once: each confirmed ack waits a
// round trip to the server, and one after the other they cost a group of
// Batch messages Batch round trips.
func (c *Consumer) ackAll(ctx context.Context, ps []*pending) {
	if len(ps) == 1 {
		c.ack(ctx, ps[0])
		return
	}
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { c.ack(ctx, p) })
	}
	wg.Wait()
}

// applyWithProgress calls Store.Apply, telling the server every AckWait/3
// that the messages are still being worked on.
func (c *Consumer) applyWithProgress(ctx context.Context, ps []*pending, recs []store.Record) (store.Result, error) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(c.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, p := range ps {
					_ = p.msg.InProgress()
				}
			}
		}
	})
	start := time.Now()
	res, err := c.cfg.Store.Apply(ctx, recs)
	c.m.applySeconds.Observe(time.Since(start).Seconds())
	close(done)
	wg.Wait()
	if err != nil {
		return res, fmt.Errorf("apply %d records: %w", len(recs), err)
	}
	return res, nil
}

// retry naks a batch the store refused, with a delay growing per delivery,
// or quarantines it once it was delivered MaxDeliver times. A batch the store
// calls invalid (store.ErrInvalidRecord) is quarantined at once: retrying
// cannot help.
func (c *Consumer) retry(ctx context.Context, p *pending, err error) {
	if errors.Is(err, store.ErrInvalidRecord) {
		c.quarantine(ctx, p, ReasonDecode, &rejectError{reason: ReasonDecode, err: err})
		return
	}
	delivered := p.delivered()
	if delivered >= c.cfg.MaxDeliver {
		c.quarantine(ctx, p, ReasonMaxDeliver, fmt.Errorf("delivered %d times, last: %w", delivered, err))
		return
	}
	c.m.retried.Inc()
	c.log.Warn().Err(err).Str("batch", msgID(p)).Int("delivered", delivered).Msg("store batch; will retry")
	if err := p.msg.NakWithDelay(backoff(c.cfg.NakDelay, c.cfg.MaxNakDelay, delivered)); err != nil {
		c.log.Warn().Err(err).Str("batch", msgID(p)).Msg("nak batch")
	}
}

// quarantine keeps a batch that cannot be applied in the store, under its
// subject's tenant, and terminates it. When the store cannot take it, the
// message is naked and comes back later: nothing is dropped. A refusal (the
// tenant's quarantine is full, or holds this id already: the entry there is
// kept) is counted and logged; the batch is terminated, except a valid batch
// the store kept refusing (max_deliver), which stays in the stream.
func (c *Consumer) quarantine(ctx context.Context, p *pending, reason string, cause error) {
	q := store.Quarantined{
		Tenant:  store.QuarantineTenant(p.msg.Subject()),
		ID:      msgID(p),
		Subject: p.msg.Subject(),
		Header:  flatten(p.msg.Headers()),
		Data:    p.msg.Data(),
		Reason:  truncate(cause.Error()),
		Time:    c.cfg.Now().UTC(),
	}
	err := c.cfg.Store.Quarantine(ctx, q, c.cfg.Quarantine)
	refused := ""
	switch {
	case errors.Is(err, store.ErrQuarantineFull):
		refused = "full"
	case errors.Is(err, store.ErrQuarantineExists):
		refused = "exists"
	case err != nil:
		c.log.Error().Err(err).Str("batch", q.ID).Msg("quarantine batch; will retry")
		_ = p.msg.NakWithDelay(backoff(c.cfg.NakDelay, c.cfg.MaxNakDelay, p.delivered()))
		return
	}
	if refused != "" {
		c.m.qRefused.WithLabelValues(refused).Inc()
		c.log.Error().Err(err).Str("batch", q.ID).Str("tenant", q.Tenant).Str("reason", reason).Str("cause", cause.Error()).
			Str("refused", refused).Msg("quarantine refused the batch")
		if refused == "full" && reason == ReasonMaxDeliver {
			_ = p.msg.NakWithDelay(c.cfg.MaxNakDelay)
			return
		}
	}
	if err := p.msg.TermWithReason(reason); err != nil {
		c.log.Warn().Err(err).Str("batch", q.ID).Msg("terminate quarantined batch")
	} else {
		c.left(p)
	}
	if reason != ReasonMaxDeliver {
		c.m.rejected.WithLabelValues(reason).Inc()
	}
	if refused != "" {
		return
	}
	c.m.quarantined.WithLabelValues(reason).Inc()
	c.log.Error().Str("batch", q.ID).Str("subject", q.Subject).Str("reason", reason).Err(cause).Msg("batch quarantined")
	c.confirms.reject(q.Subject, p.msg.Headers(), q.ID, reason, cause)
}

// msgID is the batch's Nats-Msg-Id, or "seq-<stream sequence>" without one.
func msgID(p *pending) string {
	if id := p.msg.Headers().Get(wire.HeaderMsgID); id != "" {
		return id
	}
	if p.meta != nil {
		return "seq-" + strconv.FormatUint(p.meta.Sequence.Stream, 10)
	}
	return "unknown"
}

// Bounds of what the quarantine keeps beside the data, so a page of its
// metadata stays small whatever headers or error text a hostile batch
// brings. The headers a replay needs are all far shorter.
const (
	maxQuarantineHeaders     = 32
	maxQuarantineHeaderBytes = 4 << 10
	maxQuarantineText        = 1 << 10
)

// flatten keeps the first value of each header, at most maxQuarantineHeaders
// of them (the wire's own first, then in name order), each name and value
// cut to maxQuarantineText.
func flatten(h nats.Header) map[string]string {
	keys := make([]string, 0, len(h))
	for k, v := range h {
		if len(v) > 0 {
			keys = append(keys, k)
		}
	}
	own := func(k string) bool {
		return k == wire.HeaderMsgID || k == wire.HeaderSchema || k == wire.HeaderAgent ||
			k == wire.HeaderRecords || k == wire.HeaderEncoding || k == wire.HeaderPart || k == wire.HeaderPartSet
	}
	slices.SortFunc(keys, func(a, b string) int {
		if own(a) != own(b) {
			if own(a) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]string, min(len(keys), maxQuarantineHeaders))
	total := 0
	for _, k := range keys[:min(len(keys), maxQuarantineHeaders)] {
		k, v := truncate(k), truncate(h[k][0])
		if total += len(k) + len(v); total > maxQuarantineHeaderBytes {
			break
		}
		out[k] = v
	}
	return out
}

// truncate cuts s to maxQuarantineText bytes, saying so.
func truncate(s string) string {
	if len(s) <= maxQuarantineText {
		return s
	}
	return strings.ToValidUTF8(s[:maxQuarantineText], "") + "…(truncated)"
}
