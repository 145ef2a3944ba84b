// Package quota keeps each tenant within its share of the ingest stream.
//
// The stream is shared (one stream in the relay's account, fed by every
// tenant through its import), so JetStream's per-account limits cannot
// bound one tenant. Instead the Enforcer counts each tenant's batches held
// in the stream (the stream's per-subject counts, one request per check,
// whatever the number of tenants) and, when a tenant reaches its limit,
// withdraws its ingest import (see enroll.Registry.SetPaused): its agents'
// publishes then get "no responders", which they treat as an outage,
// keeping the batches in their buffers. Heartbeats and confirmations keep
// flowing. Once the relay drained the tenant below 90% of the limit the
// import comes back. Other tenants are never touched.
package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Config configures an Enforcer.
type Config struct {
	JS jetstream.JetStream
	// MaxMessages is the per-tenant limit of batches; 0 is none.
	MaxMessages int64
	// Ledger, if set, holds each tenant's bytes (quota.max_bytes): a
	// tenant it paused is paused here too, and Run starts it from an
	// estimate and settles it at every check.
	Ledger *Ledger
	// Interval between checks; default 5s.
	Interval time.Duration
	// Paused returns the tenants paused now (read once, at Run).
	Paused func() ([]string, error)
	// SetPaused pauses or resumes one tenant; it must be idempotent.
	SetPaused func(ctx context.Context, tenant string, paused bool) error
	Log       zerolog.Logger
	// Metrics, if set, receives the enforcer's metrics.
	Metrics prometheus.Registerer
}

// Enforcer pauses tenants over quota. Create it with New, run it with Run.
type Enforcer struct {
	cfg Config

	mu sync.Mutex
	// mu guards paused (written by Run's goroutine, read by Usage).
	paused map[string]bool // tenant → paused
	gauge  prometheus.Gauge
	pauses prometheus.Counter
}

// New checks cfg and registers the metrics.
func New(cfg Config) (*Enforcer, error) {
	if cfg.JS == nil || cfg.MaxMessages < 0 || (cfg.MaxMessages == 0 && cfg.Ledger == nil) || cfg.SetPaused == nil || cfg.Paused == nil {
		return nil, fmt.Errorf("quota: JS, MaxMessages > 0 or a Ledger, Paused and SetPaused are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	e := &Enforcer{cfg: cfg, paused: map[string]bool{},
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sei_relay", Name: "tenants_paused",
			Help: "Tenants whose ingest is paused because they hold quota.max_messages batches or quota.max_bytes in the stream."}),
		pauses: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sei_relay", Name: "tenant_pauses_total",
			Help: "Times a tenant reached its quota and was paused."}),
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{e.gauge, e.pauses} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register quota metrics: %w", err)
			}
		}
	}
	return e, nil
}

// Run checks every Interval until ctx ends. A failed check is logged and
// retried at the next tick; it returns nil when ctx ends.
func (e *Enforcer) Run(ctx context.Context) error {
	paused, err := e.cfg.Paused()
	if err != nil {
		return fmt.Errorf("read paused tenants: %w", err)
	}
	e.mu.Lock()
	for _, t := range paused {
		e.paused[t] = true
	}
	e.mu.Unlock()
	if e.cfg.Ledger != nil {
		if err := e.estimate(ctx); err != nil {
			e.cfg.Log.Warn().Err(err).Msg("estimate the bytes each tenant holds in the stream; starting from zero")
		}
	}
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		if err := e.Check(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				e.cfg.Log.Warn().Err(err).Msg("check tenant quotas")
			}
			failing = true
		} else if failing {
			e.cfg.Log.Info().Msg("check tenant quotas recovered")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check counts each tenant's batches in the stream once and pauses or
// resumes tenants. Not safe for concurrent use (Run calls it).
func (e *Enforcer) Check(ctx context.Context) error {
	var mark uint64
	if e.cfg.Ledger != nil {
		mark = e.cfg.Ledger.Mark()
	}
	held, err := Held(ctx, e.cfg.JS)
	if err != nil {
		return err
	}
	if e.cfg.Ledger != nil {
		e.cfg.Ledger.Settle(held, mark)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for tenant, n := range held {
		if e.over(tenant, n) && !e.paused[tenant] {
			if err := e.cfg.SetPaused(ctx, tenant, true); err != nil {
				return fmt.Errorf("pause tenant %s: %w", tenant, err)
			}
			e.paused[tenant] = true
			e.pauses.Inc()
			e.cfg.Log.Warn().Str("tenant", tenant).Int64("batches", n).Int64("quota", e.cfg.MaxMessages).Msg("tenant at its quota: ingest paused")
		}
	}
	for tenant := range e.paused {
		if !e.below(tenant, held[tenant]) {
			continue
		}
		if err := e.cfg.SetPaused(ctx, tenant, false); err != nil {
			return fmt.Errorf("resume tenant %s: %w", tenant, err)
		}
		delete(e.paused, tenant)
		e.cfg.Log.Info().Str("tenant", tenant).Int64("batches", held[tenant]).Msg("tenant below its quota: ingest resumed")
	}
	e.gauge.Set(float64(len(e.paused)))
	return nil
}

// Usage reports tenant's batches and bytes in the stream, its limits, and
// whether it is paused. Safe for concurrent use.
func (e *Enforcer) Usage(ctx context.Context, tenant string) (Usage, error) {
	u := Usage{Tenant: tenant, MaxBatches: e.cfg.MaxMessages}
	st, err := e.cfg.JS.Stream(ctx, wire.StreamName)
	if err != nil {
		return Usage{}, fmt.Errorf("open stream %s: %w", wire.StreamName, err)
	}
	if u.Batches, err = tenantBatches(ctx, st, tenant); err != nil {
		return Usage{}, err
	}
	if l := e.cfg.Ledger; l != nil {
		u.MaxBytes = l.MaxBytes()
		u.Bytes, u.Paused = l.Held(tenant)
	}
	e.mu.Lock()
	u.Paused = u.Paused || e.paused[tenant]
	e.mu.Unlock()
	return u, nil
}

// Usage is one tenant's use of its quota.
type Usage struct {
	Tenant               string
	Batches, Bytes       int64 // held in the stream now
	MaxBatches, MaxBytes int64 // 0: no limit
	Paused               bool
}

// over reports whether tenant, holding n batches, is at its quota.
func (e *Enforcer) over(tenant string, n int64) bool {
	if e.cfg.MaxMessages > 0 && n >= e.cfg.MaxMessages {
		return true
	}
	return e.cfg.Ledger != nil && e.cfg.Ledger.Paused(tenant)
}

// below reports whether a paused tenant, holding n batches, went below 90%
// of every quota.
func (e *Enforcer) below(tenant string, n int64) bool {
	if e.cfg.MaxMessages > 0 && n*10 > e.cfg.MaxMessages*9 {
		return false
	}
	return e.cfg.Ledger == nil || !e.cfg.Ledger.Paused(tenant)
}

// estimate starts the ledger after a restart: each tenant's batches times
// the stream's mean stored message size (an over-estimate, as it counts
// subjects and headers too). Settle corrects a tenant once it drained.
func (e *Enforcer) estimate(ctx context.Context) error {
	st, err := e.cfg.JS.Stream(ctx, wire.StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open stream %s: %w", wire.StreamName, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(wire.IngestWildcard))
	if err != nil {
		return fmt.Errorf("read stream %s subjects: %w", wire.StreamName, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	mean := int64(info.State.Bytes / info.State.Msgs)
	bytes := map[string]int64{}
	for subj, n := range info.State.Subjects {
		if tenant, _, _, err := wire.ParseIngestSubject(subj); err == nil {
			bytes[tenant] += int64(n) * mean
		}
	}
	e.cfg.Ledger.Reset(bytes)
	return nil
}

// Held returns the number of batches each tenant holds in the ingest
// stream, from the stream's per-subject counts.
func Held(ctx context.Context, js jetstream.JetStream) (map[string]int64, error) {
	st, err := js.Stream(ctx, wire.StreamName)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", wire.StreamName, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(wire.IngestWildcard))
	if err != nil {
		return nil, fmt.Errorf("read stream %s subjects: %w", wire.StreamName, err)
	}
	held := map[string]int64{}
	for subj, n := range info.State.Subjects {
		tenant, _, _, err := wire.ParseIngestSubject(subj)
		if err != nil {
			continue
		}
		held[tenant] += int64(n)
	}
	return held, nil
}
