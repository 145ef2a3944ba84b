package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetchHeartbeat is how often the server confirms an idle pull request.
const fetchHeartbeat = 5 * time.Second

// runFetch fetches and processes batches until ctx ends.
func (c *Consumer) runFetch(ctx context.Context, cons jetstream.Consumer) error {
	failures := 0
	for ctx.Err() == nil {
		err := c.fetchOnce(ctx, cons)
		if err == nil || ctx.Err() != nil {
			if failures > 0 && err == nil {
				c.log.Info().Msg("fetch recovered")
			}
			failures = 0
			continue
		}
		failures++
		if failures == 1 || failures%30 == 0 {
			c.log.Warn().Err(err).Int("failures", failures).Msg("fetch batches")
		}
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Someone deleted the durable: make it again (it restarts from
			// the first unacknowledged batch the stream still holds).
			if cons, err = c.setup(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			continue
		}
		c.wait(ctx, backoff(100*time.Millisecond, 10*time.Second, failures))
	}
	return nil
}

// fetchOnce runs one pull request and processes what it delivers as it
// arrives, applying the messages that are ready together in one store
// transaction. The request ends when Batch messages came, after the library's
// default expiry (30s), when two idle heartbeats are missed (a lost
// connection: the server forgot the request), or when ctx ends. The context
// carries no deadline on purpose: the client would stop listening at the
// deadline while the server may still send a message, which would then wait
// AckWait for its redelivery.
func (c *Consumer) fetchOnce(ctx context.Context, cons jetstream.Consumer) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, err := cons.Fetch(c.cfg.Batch, jetstream.FetchContext(fctx), jetstream.FetchHeartbeat(fetchHeartbeat))
	if err != nil {
		return fmt.Errorf("fetch from consumer %s: %w", c.cfg.Durable, err)
	}
	msgs := res.Messages()
	for {
		group, open := collect(ctx, msgs, c.cfg.Batch)
		if len(group) > 0 {
			c.process(ctx, group)
		}
		if !open {
			break
		}
	}
	if ctx.Err() != nil {
		cancel()
		c.release(msgs)
		return nil
	}
	if err := res.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("fetch from consumer %s: %w", c.cfg.Durable, err)
	}
	return nil
}

// collect waits for one message, then takes every message already waiting,
// up to max. open is false once msgs is closed or ctx ended.
func collect(ctx context.Context, msgs <-chan jetstream.Msg, max int) (group []jetstream.Msg, open bool) {
	select {
	case m, ok := <-msgs:
		if !ok {
			return nil, false
		}
		group = append(group, m)
	case <-ctx.Done():
		return nil, false
	}
	for len(group) < max {
		select {
		case m, ok := <-msgs:
			if !ok {
				return group, false
			}
			group = append(group, m)
		default:
			return group, true
		}
	}
	return group, true
}

// release naks the messages fetched but not processed at shutdown, so another
// relay gets them now rather than after AckWait. It returns once msgs is
// closed, which the fetch does promptly after its context was cancelled.
func (c *Consumer) release(msgs <-chan jetstream.Msg) {
	for m := range msgs {
		_ = m.Nak()
	}
}
