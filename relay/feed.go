package main

import (
	"fmt"
	"os"
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
		// Relays sharing one PostgreSQL publish one at a time.
		Lease: &feedpub.Lease{Bucket: feedLeaseBucket, Holder: leaseHolder(), Replicas: r.cfg.FeedReplicas()},
	})
	if err != nil {
		return nil, fmt.Errorf("configure feed.nats: %w", err)
	}
	return p, nil
}

// feedLeaseBucket is the key-value bucket of feed.nats's publisher lease.
const feedLeaseBucket = "SEI_FEED_LEASE"

// leaseHolder names this relay process in the lease bucket.
func leaseHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}
