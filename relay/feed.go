package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/feedpub"
)

// feedPublishTimeout bounds the wait for one change's PubAck.
const feedPublishTimeout = 30 * time.Second

// newFeedPublisher builds the publisher of feed.nats, on its own JetStream
// context so that its async publishes have an ack timeout.
func (r *relay) newFeedPublisher() (*feedpub.Publisher, error) {
	js, err := jetstream.New(r.nc, jetstream.WithPublishAsyncTimeout(feedPublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("open jetstream for feed.nats: %w", err)
	}
	s := r.cfg.Feed.Stream
	p, err := feedpub.New(feedpub.Config{
		JS: js, Feed: r.store, Poll: r.cfg.Feed.Poll.D(),
		Logger: r.log,
		Stream: &feedpub.StreamConfig{
			Replicas:   r.cfg.FeedReplicas(),
			MaxBytes:   int64(s.MaxBytes),
			MaxAge:     s.MaxAge.D(),
			Duplicates: s.DuplicateWindow.D(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("configure feed.nats: %w", err)
	}
	return p, nil
}
