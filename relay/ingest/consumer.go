package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Consumer moves batches from the ingest stream into the store. Create it
// with New and start it with Run.
type Consumer struct {
	cfg Config
	log zerolog.Logger
	// dropLog logs refused heartbeats, a few a minute: anyone holding an
	// agent's credentials can send them as fast as the link allows, and
	// the log must not grow with that (sei_relay_ingest_heartbeats_rejected_total
	// counts every one).
	dropLog  zerolog.Logger
	m        *metrics
	confirms *confirmer
	hb       *heartbeatBatch
	decoded  *decoded
}

// New checks cfg, fills in defaults and registers the metrics. It does no I/O.
func New(cfg Config) (*Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("component", "ingest").Logger()
	dropLog := log.Sample(&zerolog.BurstSampler{Burst: dropLogBurst, Period: time.Minute})
	return &Consumer{cfg: cfg, log: log, dropLog: dropLog, m: m, confirms: newConfirmer(cfg.Conn, cfg.Now, cfg.ConfirmInterval, log, m),
		hb: newHeartbeatBatch(), decoded: newDecoded(m)}, nil
}

// Run ensures the stream (when Config.Stream is set) and the durable
// consumer, then consumes batches and heartbeats until ctx ends. It returns
// nil after ctx ends, once every goroutine it started has ended, or an error
// when the stream or consumer cannot be set up for a reason waiting cannot
// fix. Temporary NATS trouble is retried with backoff, not returned.
func (c *Consumer) Run(ctx context.Context) error {
	cons, err := c.setup(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	c.log.Info().Str("stream", wire.StreamName).Str("durable", c.cfg.Durable).Msg("consuming")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.runFetch(gctx, cons) })
	g.Go(func() error { return c.runHeartbeats(gctx) })
	g.Go(func() error { return c.runHeartbeatWriter(gctx) })
	gw := NewGateway(c.cfg.Conn, c.cfg.Durable+"-gateway", c.log, c.m.rejected.WithLabelValues(ReasonAgent).Inc)
	gw.ledger = c.cfg.Ledger
	g.Go(func() error { return gw.Run(gctx) })
	g.Go(func() error { return c.runTicker(gctx, c.cfg.LagInterval, func() { c.refreshLag(gctx, cons) }) })
	g.Go(func() error { return c.runTicker(gctx, c.cfg.ConfirmInterval, c.confirms.flush) })
	g.Go(func() error { return c.runTicker(gctx, c.cfg.ExpireInterval, func() { c.expireParts(gctx) }) })
	return g.Wait()
}

// setup ensures the stream and the durable consumer, retrying temporary errors.
func (c *Consumer) setup(ctx context.Context) (jetstream.Consumer, error) {
	for attempt := 1; ; attempt++ {
		cons, err := c.setupOnce(ctx)
		if err == nil {
			return cons, nil
		}
		if !temporary(err) {
			return nil, err
		}
		if attempt == 1 || attempt%10 == 0 {
			c.log.Warn().Err(err).Int("attempt", attempt).Msg("set up consumer; retrying")
		}
		if !c.wait(ctx, backoff(time.Second, 30*time.Second, attempt)) {
			return nil, ctx.Err()
		}
	}
}

func (c *Consumer) setupOnce(ctx context.Context) (jetstream.Consumer, error) {
	if c.cfg.Stream != nil {
		if _, err := EnsureStream(ctx, c.cfg.JS, *c.cfg.Stream); err != nil {
			return nil, err
		}
	}
	cons, err := c.cfg.JS.CreateOrUpdateConsumer(ctx, wire.StreamName, c.consumerConfig())
	if err != nil {
		return nil, fmt.Errorf("create or update consumer %s on stream %s: %w", c.cfg.Durable, wire.StreamName, err)
	}
	return cons, nil
}

// consumerConfig is the durable every relay shares. MaxDeliver is unlimited
// on the server: Consumer quarantines after Config.MaxDeliver deliveries
// itself, so a batch whose quarantine failed is delivered again rather than
// stranded.
func (c *Consumer) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "sei-relay: batches into the store",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 1000,
		FilterSubject: wire.IngestWildcard,
	}
}

// temporary reports whether a setup error may go away by waiting: timeouts,
// no JetStream responders yet, or JetStream temporarily unavailable.
func temporary(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrStreamNotFound):
		return true
	case errors.As(err, &apiErr):
		// "consumer does not exist" answers a create that raced with the
		// durable's deletion (another relay, an operator), and so can
		// "error creating store for consumer" while the server still
		// removes the deleted durable's files: the next attempt creates it.
		return apiErr.Code == 503 || apiErr.Code == 408 ||
			apiErr.ErrorCode == jetstream.JSErrCodeConsumerDoesNotExist || apiErr.ErrorCode == jetstream.JSErrCodeConsumerNotFound ||
			apiErr.ErrorCode == jetstream.JSErrCodeConsumerCreate
	}
	return false
}

// refreshLag updates the backlog gauges from the consumer's info.
func (c *Consumer) refreshLag(ctx context.Context, cons jetstream.Consumer) {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := cons.Info(ictx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Debug().Err(err).Msg("read consumer info")
		}
		return
	}
	c.m.pending.Set(float64(info.NumPending))
	c.m.ackPending.Set(float64(info.NumAckPending))
}

// runTicker calls f now and then every d until ctx ends.
func (c *Consumer) runTicker(ctx context.Context, d time.Duration, f func()) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// wait waits d or until ctx ends; it reports whether ctx is still alive.
func (c *Consumer) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is base doubled per attempt after the first, capped at max, with
// up to 20% jitter.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
