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
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Config configures an Enforcer.
type Config struct {
	JS jetstream.JetStream
	// MaxMessages is the per-tenant limit (> 0).
	MaxMessages int64
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
	cfg    Config
	paused map[string]bool // tenant → paused; owned by Run's goroutine
	gauge  prometheus.Gauge
	pauses prometheus.Counter
}

// New checks cfg and registers the metrics.
func New(cfg Config) (*Enforcer, error) {
	if cfg.JS == nil || cfg.MaxMessages <= 0 || cfg.SetPaused == nil || cfg.Paused == nil {
		return nil, fmt.Errorf("quota: JS, MaxMessages > 0, Paused and SetPaused are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	e := &Enforcer{cfg: cfg, paused: map[string]bool{},
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sei_relay", Name: "tenants_paused",
			Help: "Tenants whose ingest is paused because they hold quota.max_messages batches in the stream."}),
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
	for _, t := range paused {
		e.paused[t] = true
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
	held, err := Held(ctx, e.cfg.JS)
	if err != nil {
		return err
	}
	for tenant, n := range held {
		if n >= e.cfg.MaxMessages && !e.paused[tenant] {
			if err := e.cfg.SetPaused(ctx, tenant, true); err != nil {
				return fmt.Errorf("pause tenant %s: %w", tenant, err)
			}
			e.paused[tenant] = true
			e.pauses.Inc()
			e.cfg.Log.Warn().Str("tenant", tenant).Int64("batches", n).Int64("quota", e.cfg.MaxMessages).Msg("tenant at its quota: ingest paused")
		}
	}
	for tenant := range e.paused {
		if held[tenant]*10 > e.cfg.MaxMessages*9 {
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
