package hosted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// ErrLost is a lease that someone else holds, or that expired.
var ErrLost = errors.New("lease lost")

// Lease is one lease this agent holds.
type Lease struct {
	ID       string
	Revision uint64    // the revision of our last write
	Deadline time.Time // stop the pipeline by then unless renewed
	Acquired time.Time
}

// Leases takes, renews and releases leases in the bucket for one agent.
type Leases struct {
	kv    jetstream.KeyValue
	agent string
	ttl   time.Duration
	now   func() time.Time
}

// OpenLeases binds the leases bucket the relay created and reads its TTL,
// the lease period.
func OpenLeases(ctx context.Context, js jetstream.JetStream, agent string) (*Leases, error) {
	kv, err := js.KeyValue(ctx, wire.HostedLeasesBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s (is hosted.secret_key_file set on the relay?): %w", wire.HostedLeasesBucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("read bucket %s: %w", wire.HostedLeasesBucket, err)
	}
	if st.TTL() <= 0 {
		return nil, fmt.Errorf("bucket %s has no TTL: leases would never expire", wire.HostedLeasesBucket)
	}
	return &Leases{kv: kv, agent: agent, ttl: st.TTL(), now: time.Now}, nil
}

// TTL is the lease period.
func (l *Leases) TTL() time.Duration { return l.ttl }

// deadline is when a lease written at sent must be given up.
func (l *Leases) deadline(sent time.Time) time.Time { return sent.Add(l.ttl * 3 / 4) }

func (l *Leases) value(acquired time.Time) []byte {
	raw, _ := json.Marshal(wire.HostedLease{Holder: l.agent, Acquired: acquired.UTC(), Renewed: l.now().UTC()})
	return raw
}

// Acquire takes the lease of id if no one holds it.
func (l *Leases) Acquire(ctx context.Context, id string) (Lease, error) {
	sent := l.now()
	rev, err := l.kv.Create(ctx, wire.HostedLeaseKey(id), l.value(sent))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return Lease{}, fmt.Errorf("take lease of %s: %w", id, ErrLost)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("take lease of %s: %w", id, err)
	}
	return Lease{ID: id, Revision: rev, Deadline: l.deadline(sent), Acquired: sent}, nil
}

// Renew extends a held lease; ErrLost when someone else wrote it or it
// expired.
func (l *Leases) Renew(ctx context.Context, le Lease) (Lease, error) {
	sent := l.now()
	rev, err := l.kv.Update(ctx, wire.HostedLeaseKey(le.ID), l.value(le.Acquired), le.Revision)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return le, fmt.Errorf("renew lease of %s: %w", le.ID, ErrLost)
	}
	if err != nil {
		return le, fmt.Errorf("renew lease of %s: %w", le.ID, err)
	}
	le.Revision, le.Deadline = rev, l.deadline(sent)
	return le, nil
}

// Release deletes a held lease, if it is still ours.
func (l *Leases) Release(ctx context.Context, le Lease) error {
	err := l.kv.Delete(ctx, wire.HostedLeaseKey(le.ID), jetstream.LastRevision(le.Revision))
	if err != nil {
		return fmt.Errorf("release lease of %s: %w", le.ID, err)
	}
	return nil
}

// Present writes this agent's presence key.
func (l *Leases) Present(ctx context.Context, version string) error {
	raw, _ := json.Marshal(wire.HostedPresence{Agent: l.agent, Version: version, Renewed: l.now().UTC()})
	if _, err := l.kv.Put(ctx, wire.HostedPresenceKey(l.agent), raw); err != nil {
		return fmt.Errorf("announce hosted agent %s: %w", l.agent, err)
	}
	return nil
}

// Absent deletes this agent's presence key (on a clean stop).
func (l *Leases) Absent(ctx context.Context) error {
	return l.kv.Delete(ctx, wire.HostedPresenceKey(l.agent))
}

// View is the bucket at one moment: the agents present and who holds which
// integration.
type View struct {
	Agents  int
	Holders map[string]string // integration id -> holder
}

// Look reads the bucket.
func (l *Leases) Look(ctx context.Context) (View, error) {
	v := View{Holders: map[string]string{}}
	lister, err := l.kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("list %s: %w", wire.HostedLeasesBucket, err)
	}
	defer lister.Stop()
	for key := range lister.Keys() {
		switch {
		case strings.HasPrefix(key, "agent."):
			v.Agents++
		case strings.HasPrefix(key, "lease."):
			e, err := l.kv.Get(ctx, key)
			if err != nil {
				continue // expired meanwhile
			}
			var hl wire.HostedLease
			if json.Unmarshal(e.Value(), &hl) == nil {
				v.Holders[strings.TrimPrefix(key, "lease.")] = hl.Holder
			}
		}
	}
	return v, nil
}
