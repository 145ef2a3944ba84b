package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// SharedBucket is the KV bucket in the relay's account that holds each
// tenant's quota count on an external cluster (one key per tenant that
// ever sent a batch).
const SharedBucket = "SEI_QUOTA"

// Count is one tenant's count in SharedBucket: the bytes (message bodies,
// as sent) and batches it holds in the ingest stream, and whether it is
// paused. Bytes and Batches may dip below zero for a moment (a batch's
// removal counted before its addition); they count as zero then.
type Count struct {
	Bytes   int64 `json:"bytes"`
	Batches int64 `json:"batches"`
	Paused  bool  `json:"paused,omitempty"`
}

// SharedConfig configures a Shared ledger.
type SharedConfig struct {
	JS jetstream.JetStream
	// Replicas of the bucket (the stream's).
	Replicas int
	// MaxBytes and MaxBatches per tenant; 0 is no limit (not both).
	MaxBytes, MaxBatches int64
	// Interval between settlements (quota.check_interval); default 5s.
	Interval time.Duration
	// Fresh is how long Admit trusts a count it read; default 1s.
	Fresh time.Duration
	Log   zerolog.Logger
	// Metrics, if set, receives the ledger's metrics.
	Metrics prometheus.Registerer
}

// Shared is the tenant quota of relays sharing an external cluster: every
// replica's gateway and consumer feed one count per tenant, kept in
// SharedBucket, so each replica sees the batches the others forwarded and
// removed (a Ledger sees only its own process). It has the Ledger's
// methods (the gateway asks Admit, then Added once the stream stored a
// batch; the consumer calls Removed once a batch left) and the same
// behaviour: a tenant that reaches MaxBytes or MaxBatches is paused, its
// batches refused with an error naming the quota key (the agent keeps them
// and retries, as during an outage), until it drained to 90%.
//
// Costs grow with the tenants that publish, never with the tenants that
// exist:
//   - Admit reads a tenant's count from the bucket at most once per
//     second (one Get) and decides from memory otherwise.
//   - Added and Removed only add to a per-tenant delta in memory; Run
//     writes the deltas, one revision-checked update per tenant per round
//     (a round follows the first delta, so a busy tenant's batches share
//     one update), retrying on a conflict with another replica.
//   - Every Interval, Run settles the tenants it saw: one request for the
//     stream's per-subject counts, and a tenant whose subjects hold no
//     batch is set to zero (checked against the revision it read before,
//     so a concurrent update wins). This corrects what a crash or the
//     stream's own expiry (stream.max_age) left behind; a restarted
//     replica starts from the bucket.
//
// The pause flag is part of the count, so every replica refuses a paused
// tenant and lifts the pause at the same point. The limit may be passed by
// the batches a replica admits while it first reads a tenant, and by those
// whose round is not written yet on another replica.
type Shared struct {
	cfg SharedConfig
	kv  jetstream.KeyValue

	mu sync.Mutex
	// mu guards the fields below.
	view    map[string]*seen // tenant → its count as last read or written
	pending map[string]Count // tenant → deltas not written yet
	wake    chan struct{}    // a delta is pending (buffer 1)

	refused, pauses prometheus.Counter
	failed          prometheus.Counter
}

// seen is one tenant's count as a replica last knew it.
type seen struct {
	held Count
	rev  uint64    // the bucket's revision of held; 0: no key yet
	read time.Time // when held was read or written
	used time.Time // last Admit, Added or Removed
	busy bool      // a read is in flight
}

// sharedIdle is how long a tenant without batches stays in memory.
const sharedIdle = time.Minute

// OpenShared opens (or creates) SharedBucket and registers the metrics.
func OpenShared(ctx context.Context, cfg SharedConfig) (*Shared, error) {
	if cfg.JS == nil || cfg.MaxBytes < 0 || cfg.MaxBatches < 0 || cfg.MaxBytes == 0 && cfg.MaxBatches == 0 {
		return nil, fmt.Errorf("quota: JS and MaxBytes or MaxBatches > 0 are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Fresh <= 0 {
		cfg.Fresh = time.Second
	}
	kv, err := cfg.JS.KeyValue(ctx, SharedBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = cfg.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: SharedBucket, History: 1,
			Description: "SEI relay: bytes and batches each tenant holds in the ingest stream (quota)",
			Storage:     jetstream.FileStorage, Replicas: max(cfg.Replicas, 1)})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = cfg.JS.KeyValue(ctx, SharedBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open quota bucket %s: %w", SharedBucket, err)
	}
	s := &Shared{cfg: cfg, kv: kv, view: map[string]*seen{}, pending: map[string]Count{}, wake: make(chan struct{}, 1),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sei_relay", Name: "quota_refused_batches_total",
			Help: "Batches the gateway refused because their tenant held quota.max_bytes or quota.max_messages in the stream."}),
		pauses: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sei_relay", Name: "tenant_pauses_total",
			Help: "Times a tenant reached its quota and was paused (counted by the replica that paused it)."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sei_relay", Name: "quota_bucket_errors_total",
			Help: "Failed reads or writes of the quota bucket " + SharedBucket + " (a failed read admits the batch)."}),
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{s.refused, s.pauses, s.failed} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register quota metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Admit returns nil when tenant may send another batch, or an error that
// names the quota it reached, and counts the refusal. It reads tenant's
// count when the one in memory is older than Fresh (one request,
// bounded by a 2s timeout; a failed read admits).
func (s *Shared) Admit(tenant string) error {
	now := time.Now()
	s.mu.Lock()
	e := s.view[tenant]
	if e == nil {
		e = &seen{}
		s.view[tenant] = e
	}
	e.used = now
	stale := now.Sub(e.read) > s.cfg.Fresh && !e.busy
	if stale {
		e.busy = true
	}
	fresh := !e.read.IsZero()
	s.mu.Unlock()
	if stale {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		held, rev, err := s.get(ctx, tenant)
		cancel()
		s.mu.Lock()
		e.busy = false
		if err == nil {
			e.held, e.rev, e.read = held, rev, time.Now()
		}
		s.mu.Unlock()
		if err != nil && !fresh {
			s.failed.Inc()
			s.cfg.Log.Warn().Err(err).Str("tenant", tenant).Msg("read tenant quota: batch admitted")
			return nil
		}
	}
	s.mu.Lock()
	h, p := e.held, s.pending[tenant]
	s.mu.Unlock()
	now2 := Count{Bytes: h.Bytes + p.Bytes, Batches: h.Batches + p.Batches}
	if !h.Paused && !s.over(now2) {
		return nil
	}
	s.refused.Inc()
	return s.refusal(tenant, now2)
}

// refusal is the error for a paused tenant holding h.
func (s *Shared) refusal(tenant string, h Count) error {
	if s.cfg.MaxBytes > 0 && h.Bytes >= s.cfg.MaxBytes*9/10 {
		return bytesRefusal(tenant, max(h.Bytes, 0), s.cfg.MaxBytes)
	}
	return fmt.Errorf("tenant %s %w: it holds %d batches in the stream (quota.max_messages %d); ingest is paused until the relay drained it below 90%%, keep the batch and retry later",
		tenant, ErrOverQuota, max(h.Batches, 0), s.cfg.MaxBatches)
}

// Added counts a batch of n bytes the stream stored for tenant.
func (s *Shared) Added(tenant string, n int64) { s.add(tenant, Count{Bytes: n, Batches: 1}) }

// Removed counts a batch of n bytes of tenant that left the stream.
func (s *Shared) Removed(tenant string, n int64) { s.add(tenant, Count{Bytes: -n, Batches: -1}) }

func (s *Shared) add(tenant string, d Count) {
	s.keep(tenant, d)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// keep adds d to tenant's pending delta.
func (s *Shared) keep(tenant string, d Count) {
	s.mu.Lock()
	p := s.pending[tenant]
	p.Bytes += d.Bytes
	p.Batches += d.Batches
	s.pending[tenant] = p
	if e := s.view[tenant]; e != nil {
		e.used = time.Now()
	}
	s.mu.Unlock()
}

// Run writes the deltas and settles the tenants until ctx ends, then
// writes what is left (for at most 5s).
func (s *Shared) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		var err error
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Flush(fctx); err != nil {
				s.cfg.Log.Warn().Err(err).Msg("write the last quota counts: a later settlement corrects them")
			}
			return nil
		case <-s.wake:
			err = s.Flush(ctx)
		case <-t.C:
			err = errors.Join(s.Flush(ctx), s.Settle(ctx))
		}
		if err != nil && ctx.Err() == nil {
			s.failed.Inc()
			if !failing {
				s.cfg.Log.Warn().Err(err).Msg("update tenant quotas in bucket " + SharedBucket)
			}
			failing = true
		} else if failing && err == nil {
			s.cfg.Log.Info().Msg("update tenant quotas recovered")
			failing = false
		}
	}
}

// Flush writes every pending delta. A delta it could not write stays
// pending, for Run's next tick. Run calls it; tests call it to write at
// once.
func (s *Shared) Flush(ctx context.Context) error {
	s.mu.Lock()
	todo := s.pending
	s.pending = map[string]Count{}
	s.mu.Unlock()
	var errs []error
	for tenant, d := range todo {
		if err := s.apply(ctx, tenant, d); err != nil {
			errs = append(errs, err)
			s.keep(tenant, d)
		}
	}
	return errors.Join(errs...)
}

// apply adds d to tenant's count, with the pause recomputed, retrying on
// a concurrent update. It reads the count first: with several replicas
// writing one tenant, a count in memory would mostly be stale.
func (s *Shared) apply(ctx context.Context, tenant string, d Count) error {
	for range 20 {
		cur, rev, err := s.get(ctx, tenant)
		if err != nil {
			return err
		}
		next := Count{Bytes: cur.Bytes + d.Bytes, Batches: cur.Batches + d.Batches}
		next.Paused = s.over(next) || cur.Paused && !s.below(next)
		nrev, err := s.put(ctx, tenant, next, rev)
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // another replica wrote first
		}
		if err != nil {
			return err
		}
		s.saw(tenant, next, nrev)
		if next.Paused != cur.Paused {
			s.transition(tenant, next)
		}
		return nil
	}
	return fmt.Errorf("update tenant %s in bucket %s: too many concurrent updates", tenant, SharedBucket)
}

// Settle sets to zero each tenant in memory that holds no batch in the
// stream, unless its count changed since this replica last read or wrote
// it (then it reads it again for the next round); it forgets tenants idle
// for a minute. It asks the stream once for every tenant's count (as the
// embedded Enforcer does), and writes only the tenants to correct.
func (s *Shared) Settle(ctx context.Context) error {
	now := time.Now()
	type cand struct {
		held Count
		rev  uint64
	}
	check := map[string]cand{}
	s.mu.Lock()
	for tenant, e := range s.view {
		_, busy := s.pending[tenant]
		switch {
		case e.held != (Count{}):
			check[tenant] = cand{e.held, e.rev} // the revision read before the stream's counts
		case !busy && !e.busy && now.Sub(e.used) > sharedIdle:
			delete(s.view, tenant)
		}
	}
	s.mu.Unlock()
	if len(check) == 0 {
		return nil
	}
	batches, err := Held(ctx, s.cfg.JS)
	if err != nil {
		return err
	}
	var errs []error
	for tenant, c := range check {
		if batches[tenant] > 0 {
			continue
		}
		nrev, err := s.put(ctx, tenant, Count{}, c.rev)
		if errors.Is(err, jetstream.ErrKeyExists) {
			// Changed since: read it for the next round.
			if held, rev, err := s.get(ctx, tenant); err == nil {
				s.saw(tenant, held, rev)
			} else {
				errs = append(errs, err)
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.saw(tenant, Count{}, nrev)
		if c.held.Paused {
			s.transition(tenant, Count{})
		}
	}
	return errors.Join(errs...)
}

// Usage reports tenant's batches (the stream's count) and bytes, its
// limits, and whether it is paused.
func (s *Shared) Usage(ctx context.Context, tenant string) (Usage, error) {
	u := Usage{Tenant: tenant, MaxBatches: s.cfg.MaxBatches, MaxBytes: s.cfg.MaxBytes}
	held, _, err := s.get(ctx, tenant)
	if err != nil {
		return Usage{}, err
	}
	st, err := s.cfg.JS.Stream(ctx, wire.StreamName)
	if err != nil {
		return Usage{}, fmt.Errorf("open stream %s: %w", wire.StreamName, err)
	}
	if u.Batches, err = tenantBatches(ctx, st, tenant); err != nil {
		return Usage{}, err
	}
	u.Bytes, u.Paused = max(held.Bytes, 0), held.Paused
	return u, nil
}

// tenantBatches counts tenant's batches in the ingest stream.
func tenantBatches(ctx context.Context, st jetstream.Stream, tenant string) (int64, error) {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(wire.IngestPrefix+"."+tenant+".>"))
	if err != nil {
		return 0, fmt.Errorf("read stream %s subjects of tenant %s: %w", wire.StreamName, tenant, err)
	}
	var n int64
	for _, c := range info.State.Subjects {
		n += int64(c)
	}
	return n, nil
}

// get reads tenant's count and its revision (0 without a key).
func (s *Shared) get(ctx context.Context, tenant string) (Count, uint64, error) {
	e, err := s.kv.Get(ctx, tenant)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Count{}, 0, nil
	}
	if err != nil {
		return Count{}, 0, fmt.Errorf("read tenant %s in bucket %s: %w", tenant, SharedBucket, err)
	}
	var h Count
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return Count{}, 0, fmt.Errorf("decode tenant %s in bucket %s: %w", tenant, SharedBucket, err)
	}
	return h, e.Revision(), nil
}

// put writes tenant's count if its revision is still rev (0: no key);
// another replica's write first is jetstream.ErrKeyExists.
func (s *Shared) put(ctx context.Context, tenant string, h Count, rev uint64) (uint64, error) {
	raw, err := json.Marshal(h)
	if err != nil {
		return 0, err
	}
	nrev, err := s.kv.Update(ctx, tenant, raw, rev)
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("write tenant %s in bucket %s: %w", tenant, SharedBucket, err)
	}
	return nrev, err
}

// saw records tenant's count as read or written now.
func (s *Shared) saw(tenant string, h Count, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.view[tenant]
	if e == nil {
		e = &seen{used: time.Now()}
		s.view[tenant] = e
	}
	if rev >= e.rev {
		e.held, e.rev, e.read = h, rev, time.Now()
	}
}

// transition logs and counts a pause or a resume this replica wrote.
func (s *Shared) transition(tenant string, h Count) {
	if h.Paused {
		s.pauses.Inc()
		s.cfg.Log.Warn().Str("tenant", tenant).Int64("bytes", h.Bytes).Int64("batches", h.Batches).
			Int64("max_bytes", s.cfg.MaxBytes).Int64("max_messages", s.cfg.MaxBatches).Msg("tenant at its quota: ingest paused")
		return
	}
	s.cfg.Log.Info().Str("tenant", tenant).Int64("bytes", max(h.Bytes, 0)).Int64("batches", max(h.Batches, 0)).Msg("tenant below its quota: ingest resumed")
}

// over reports whether h reaches a limit.
func (s *Shared) over(h Count) bool {
	return s.cfg.MaxBytes > 0 && h.Bytes >= s.cfg.MaxBytes || s.cfg.MaxBatches > 0 && h.Batches >= s.cfg.MaxBatches
}

// below reports whether h is at or below 90% of every limit.
func (s *Shared) below(h Count) bool {
	return (s.cfg.MaxBytes == 0 || h.Bytes*10 <= s.cfg.MaxBytes*9) && (s.cfg.MaxBatches == 0 || h.Batches*10 <= s.cfg.MaxBatches*9)
}
