package feedpub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// MarkName names the Publisher's feed marks in the store.
const MarkName = "nats"

// Defaults of Config.
const (
	DefaultPoll  = time.Second
	DefaultBatch = 500
)

// Feed is what the Publisher reads of the store.
type Feed interface {
	Changes(ctx context.Context, q store.ChangeQuery) ([]store.Change, store.FeedPosition, error)
	FeedTenants(ctx context.Context) ([]string, error)
	Changed() <-chan struct{}
	FeedMark(ctx context.Context, name, tenant string) (string, error)
	SetFeedMark(ctx context.Context, name, tenant, mark string) error
}

// Config configures a Publisher. JS and Feed are required.
type Config struct {
	JS   jetstream.JetStream
	Feed Feed
	// Poll is how often Run looks for writes of other relays (which do not
	// wake it); default DefaultPoll.
	Poll time.Duration
	// Batch is the page read and published between two marks; default
	// DefaultBatch.
	Batch  int
	Logger zerolog.Logger
	// Stream, when set, is created or updated by Run before it publishes
	// (retried like a publish failure).
	Stream *StreamConfig
	// Lease, when set, makes this Publisher publish only while it holds
	// the lease, so that of several relays one publishes at a time.
	Lease *Lease

	// beforeMark, in tests, runs after a page was acknowledged and before
	// its mark is saved; an error stops the Publisher there (a crash).
	beforeMark func() error
}

// Publisher follows the store's feed and publishes every change; see the
// package comment for what it guarantees.
type Publisher struct {
	cfg   Config
	log   zerolog.Logger
	lease *leaser // nil without Config.Lease
}

// New checks cfg. It does no I/O.
func New(cfg Config) (*Publisher, error) {
	if cfg.JS == nil || cfg.Feed == nil {
		return nil, errors.New("feedpub: JS and Feed are required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Batch <= 0 || cfg.Batch > store.MaxLimit {
		cfg.Batch = DefaultBatch
	}
	p := &Publisher{cfg: cfg, log: cfg.Logger.With().Str("component", "feedpub").Logger()}
	if l := cfg.Lease; l != nil {
		if l.Bucket == "" || l.Holder == "" {
			return nil, errors.New("feedpub: a Lease needs Bucket and Holder")
		}
		if l.TTL <= 0 {
			l.TTL = DefaultLeaseTTL
		}
		p.lease = &leaser{cfg: *l, js: cfg.JS}
	}
	return p, nil
}

// Run ensures the stream (Config.Stream), publishes every tenant's changes
// from its mark, then again after each write of this relay and every Poll,
// until ctx ends; it then returns nil. A failed round is logged once and
// retried on the next wake, so an outage of NATS or the store delays the
// feed but does not stop the relay. It starts no goroutines.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	if p.lease != nil {
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			p.lease.release(rctx)
		}()
	}
	failing, ensured := false, p.cfg.Stream == nil
	for {
		changed := p.cfg.Feed.Changed()
		var err error
		if !ensured {
			_, err = EnsureStream(ctx, p.cfg.JS, *p.cfg.Stream)
			ensured = err == nil
		}
		if err == nil {
			err = p.round(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			p.log.Warn().Err(err).Msg("publish change feed; will retry")
			failing = true
		case err == nil && failing:
			p.log.Info().Msg("publish change feed recovered")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		}
	}
}

// round publishes what is new, when this Publisher holds the lease (or
// needs none). The lease is renewed at least every Poll, well within its
// TTL, and given up when Run ends.
func (p *Publisher) round(ctx context.Context) error {
	if p.lease == nil {
		return p.CatchUp(ctx)
	}
	held, err := p.lease.hold(ctx)
	if err != nil || !held {
		return err
	}
	return p.CatchUp(ctx)
}

// CatchUp publishes every tenant's changes beyond its mark and moves the
// marks, returning once all are published or on the first error.
func (p *Publisher) CatchUp(ctx context.Context) error {
	tenants, err := p.cfg.Feed.FeedTenants(ctx)
	if err != nil {
		return err
	}
	for _, tenant := range tenants {
		if err := p.catchUpTenant(ctx, tenant); err != nil {
			return err
		}
	}
	return nil
}

func (p *Publisher) catchUpTenant(ctx context.Context, tenant string) error {
	since, err := p.cfg.Feed.FeedMark(ctx, MarkName, tenant)
	if err != nil {
		return err
	}
	for {
		page, next, err := p.cfg.Feed.Changes(ctx, store.ChangeQuery{Tenant: tenant, Since: since, Limit: p.cfg.Batch})
		if errors.Is(err, store.ErrPositionGone) || errors.Is(err, store.ErrBadPosition) {
			// The store was replaced (restored, or another kind): publish
			// it again from its start; ids differ, so nothing is dropped.
			p.log.Warn().Err(err).Str("tenant", tenant).Msg("feed mark not served; publishing the tenant from the start")
			since = ""
			continue
		}
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if p.lease != nil {
			// Renewed before every page: a holder that lost the lease
			// stops here and leaves the tenant to the new one.
			if held, err := p.lease.hold(ctx); err != nil || !held {
				return err
			}
		}
		if err := p.publish(ctx, page); err != nil {
			return fmt.Errorf("publish changes of tenant %s: %w", tenant, err)
		}
		if p.cfg.beforeMark != nil {
			if err := p.cfg.beforeMark(); err != nil {
				return err
			}
		}
		if err := p.cfg.Feed.SetFeedMark(ctx, MarkName, tenant, next.String()); err != nil {
			return err
		}
		since = next.String()
	}
}

// publish sends page asynchronously and waits for every PubAck; a
// duplicate ack counts as success.
func (p *Publisher) publish(ctx context.Context, page []store.Change) error {
	futures := make([]jetstream.PubAckFuture, 0, len(page))
	for i := range page {
		c := &page[i]
		data, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode change %s: %w", c.Position, err)
		}
		m := &nats.Msg{Subject: wire.ChangesSubject(c.Tenant, c.Integration, c.Table), Data: data, Header: nats.Header{}}
		m.Header.Set(wire.HeaderPosition, c.Position)
		m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
		f, err := p.cfg.JS.PublishMsgAsync(m, jetstream.WithMsgID(c.Position))
		if err != nil {
			return fmt.Errorf("publish change %s: %w", c.Position, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish change %s: %w", f.Msg().Header.Get(wire.HeaderPosition), err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
