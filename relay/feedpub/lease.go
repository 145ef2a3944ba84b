package feedpub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease names the one Publisher among several relays that may publish: a
// key in a JetStream key-value bucket whose entries expire after TTL. The
// holder renews it before every page; another relay takes it over once it
// expired (its holder died or lost NATS). Without it, relays sharing one
// PostgreSQL would all publish, and one could move the shared mark back.
//
// A holder that stalls past TTL (a long GC pause, a partition) and then
// publishes one more page races the new holder for that page: the stream
// drops the repeated ids within its duplicate window, and the mark can
// move back by at most that page, which is published again (and dropped
// as duplicates). Keep TTL well below the duplicate window.
type Lease struct {
	// Bucket is the key-value bucket, created when missing.
	Bucket string
	// Holder identifies this relay in the bucket (a host name and pid).
	Holder string
	// TTL is how long a lease lasts unrenewed; default DefaultLeaseTTL.
	TTL time.Duration
	// Replicas of the bucket; 0 means 1.
	Replicas int
}

// DefaultLeaseTTL is Lease.TTL's default.
const DefaultLeaseTTL = 10 * time.Second

const leaseKey = "publisher"

// leaser holds or seeks the lease; only Run's goroutine uses it.
type leaser struct {
	cfg  Lease
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	rev  uint64 // the entry's revision while held
	held bool
}

// hold reports whether this Publisher holds the lease now, renewing it
// when held and taking it when free.
func (l *leaser) hold(ctx context.Context) (bool, error) {
	if l.kv == nil {
		kv, err := l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: l.cfg.Bucket, TTL: l.cfg.TTL, Replicas: max(l.cfg.Replicas, 1), History: 1,
			Description: "the relay that publishes the change feed (feed.nats)",
		})
		if err != nil {
			return false, fmt.Errorf("open lease bucket %s: %w", l.cfg.Bucket, err)
		}
		l.kv = kv
	}
	if l.held {
		rev, err := l.kv.Update(ctx, leaseKey, []byte(l.cfg.Holder), l.rev)
		if err == nil {
			l.rev = rev
			return true, nil
		}
		l.held = false
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, fmt.Errorf("renew feed lease: %w", err)
		}
		// Expired and taken (or gone): seek it again below.
	}
	rev, err := l.kv.Create(ctx, leaseKey, []byte(l.cfg.Holder))
	switch {
	case err == nil:
		l.rev, l.held = rev, true
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	default:
		return false, fmt.Errorf("take feed lease: %w", err)
	}
}

// release gives the lease up (at shutdown), so another relay takes over at
// once rather than after TTL.
func (l *leaser) release(ctx context.Context) {
	if l.held && l.kv != nil {
		_ = l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(l.rev))
		l.held = false
	}
}
