package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sei-edge/servicenow-edge/relay/api"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/natsbox"
	"github.com/sei-edge/servicenow-edge/relay/quota"
	relaytoken "github.com/sei-edge/servicenow-edge/relay/token"
)

// This file builds what keeps tenants within their share of the relay:
// the byte quota's ledger, the per-agent connection limit, the tenant
// tokens' bucket (see the accounts notes in doc.go).

// newLedger returns the byte ledger of quota.max_bytes, nil when there is
// none (no limit, or an external cluster: each relay replica would see only
// its share of the batches).
func (r *relay) newLedger(metrics prometheus.Registerer) (*quota.Ledger, error) {
	if r.srv == nil || r.cfg.Quota.MaxBytes == 0 {
		return nil, nil
	}
	l, err := quota.NewLedger(int64(r.cfg.Quota.MaxBytes))
	if err != nil {
		return nil, command.Usage(fmt.Errorf("quota.max_bytes: %w", err))
	}
	for _, c := range l.Collectors() {
		if err := metrics.Register(c); err != nil {
			return nil, fmt.Errorf("register quota metrics: %w", err)
		}
	}
	return l, nil
}

// openShared opens the quota every relay replica of an external cluster
// shares (quota.max_bytes and quota.max_messages, counted in the bucket
// quota.SharedBucket), when either is set.
func (r *relay) openShared(ctx context.Context, metrics prometheus.Registerer) error {
	if r.srv != nil || r.cfg.Quota.MaxBytes == 0 && r.cfg.Quota.MaxMessages == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	r.shared, err = quota.OpenShared(ctx, quota.SharedConfig{JS: r.js, Replicas: r.cfg.StreamReplicas(),
		MaxBytes: int64(r.cfg.Quota.MaxBytes), MaxBatches: r.cfg.Quota.MaxMessages, Interval: r.cfg.Quota.CheckInterval.D(),
		Log: r.log.With().Str("component", "quota").Logger(), Metrics: metrics})
	if err != nil {
		return fmt.Errorf("quota.max_bytes, quota.max_messages on the external cluster (nats.url): %w", err)
	}
	return nil
}

// ingestLedger is the gateway's and consumer's ledger: the embedded
// server's l, or the external cluster's shared quota; nil for none (a nil
// pointer must not become a non-nil interface).
func (r *relay) ingestLedger(l *quota.Ledger) ingest.Ledger {
	if r.shared != nil {
		return r.shared
	}
	if l == nil {
		return nil
	}
	return l
}

// quotaFunc serves GET /v1/quota from the enforcer or the shared quota,
// nil without quotas.
func (r *relay) quotaFunc() api.QuotaFunc {
	usage := func(ctx context.Context, tenant string) (quota.Usage, error) { return r.shared.Usage(ctx, tenant) }
	switch {
	case r.quota != nil:
		usage = r.quota.Usage
	case r.shared == nil:
		return nil
	}
	return func(ctx context.Context, tenant string) (api.QuotaUsage, error) {
		u, err := usage(ctx, tenant)
		return api.QuotaUsage{Tenant: u.Tenant, Batches: u.Batches, Bytes: u.Bytes,
			MaxBatches: u.MaxBatches, MaxBytes: u.MaxBytes, Paused: u.Paused}, err
	}
}

// newConnLimit bounds each agent's connections to
// quota.connections_per_agent (the server bounds only the tenant account's
// total), counting and logging every connection it closes: on the embedded
// server, or on the external cluster through nats.system_credentials.
func (r *relay) newConnLimit(metrics prometheus.Registerer) (*natsbox.ConnLimit, error) {
	kicks := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sei_relay", Name: "agent_connections_refused_total",
		Help: "Connections closed because their agent already held quota.connections_per_agent connections."})
	if err := metrics.Register(kicks); err != nil {
		return nil, fmt.Errorf("register connection limit metrics: %w", err)
	}
	log := r.log.With().Str("component", "connlimit").Logger()
	warned := map[string]time.Time{} // user → last warning; only Run's goroutine calls kicked
	kicked := func(account, user, name string) {
		kicks.Inc()
		if now := time.Now(); now.Sub(warned[user]) > time.Minute {
			warned[user] = now
			log.Warn().Str("account", account).Str("user", user).Str("name", name).Int("limit", r.cfg.Quota.ConnectionsPerAgent).
				Msg("agent holds quota.connections_per_agent connections already: closed its newest (logged once a minute per agent)")
		}
	}
	if r.srv == nil {
		return natsbox.NewRemoteConnLimit(r.sysnc, r.cfg.Quota.ConnectionsPerAgent, kicked)
	}
	return r.srv.NewConnLimit(r.cfg.Quota.ConnectionsPerAgent, kicked)
}

// openTokens opens the tenant tokens' bucket, retrying while the cluster
// is not ready (for at most a minute), and moves data_dir's token file of
// an older relay into it.
func (r *relay) openTokens(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var err error
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		r.tokens, err = relaytoken.OpenKV(actx, r.js, r.cfg.StreamReplicas())
		acancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
	f := relaytoken.Open(r.cfg.DataDir)
	n, err := r.tokens.Migrate(ctx, f)
	if err != nil {
		return fmt.Errorf("move tenant tokens from %s into bucket %s: %w", f.Path(), relaytoken.Bucket, err)
	}
	if n > 0 {
		r.log.Info().Int("tokens", n).Str("file", f.Path()+".migrated").Msg("tenant tokens moved into the cluster's token bucket " + relaytoken.Bucket)
	}
	return nil
}
