package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// fleet is an agent configured with several ServiceNow instances (the
// configuration's instances list). Each instance is a pipeline of its own,
// an Agent built from its config.Split configuration: its own buffer in
// data_dir/instances/<integration>, ServiceNow client and tokens, poller
// (tables, exclusions, cursors, rate limit, interval) and forwarder,
// publishing under its integration. The fleet adds what is one per agent:
// the admin endpoint, the heartbeat (carrying every instance) and the
// status snapshot. An instance whose pipeline fails stops alone; status
// says so and the others run on. The fleet stops when ctx ends or every
// instance has stopped.
type fleet struct {
	cfg          *config.Config
	log          zerolog.Logger
	members      []*Agent
	started      time.Time
	serviceState string

	mu      sync.Mutex // guards stopped
	stopped []error    // per member: why its pipeline stopped early; nil while it runs
}

// runner is what `sei-agent run` runs: an Agent, or a fleet.
type runner interface {
	Run(ctx context.Context) error
	Close() error
	setServiceState(state string)
}

// openRunner opens what cfg describes: one Agent for the single-instance
// form, a fleet for the instances form.
func openRunner(ctx context.Context, cfg *config.Config, log zerolog.Logger) (runner, error) {
	if cfg.Multi() {
		return openFleet(ctx, cfg, log, false)
	}
	return openAgent(ctx, cfg, log)
}

func (a *Agent) setServiceState(state string) { a.serviceState = state }

func (f *fleet) setServiceState(state string) { f.serviceState = state }

// openFleet opens every instance's pipeline; nothing connects or polls
// yet. An instance that cannot be opened (its folder, its buffer) fails
// the whole: that is a fault to fix before starting, and a damaged buffer
// is moved aside and healed instead (openHealingBuffer).
func openFleet(ctx context.Context, cfg *config.Config, log zerolog.Logger, oneShot bool) (*fleet, error) {
	subs := cfg.Split()
	f := &fleet{cfg: cfg, log: log, started: time.Now(), stopped: make([]error, len(subs))}
	for i, sub := range subs {
		name := sub.Relay.Integration
		if err := os.MkdirAll(sub.Agent.DataDir, 0o700); err != nil {
			f.Close()
			return nil, fmt.Errorf("instance %s: create its folder: %w", name, err)
		}
		m, err := openWith(ctx, &Agent{
			cfg: sub, log: log.With().Str("integration", name).Logger(), oneShot: oneShot,
			member: true, memberHeartbeat: func() wire.Heartbeat { return f.heartbeatFor(i) },
		})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("instance %s: %w", name, err)
		}
		f.members = append(f.members, m)
	}
	return f, nil
}

// Close releases every instance's buffer.
func (f *fleet) Close() error {
	var errs []error
	for _, m := range f.members {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

// Run runs every instance's pipeline and the admin endpoint until ctx
// ends. An instance whose pipeline fails is reported (log, status,
// heartbeat) and the others go on; Run returns the errors once every
// instance has stopped, or the admin endpoint's error.
func (f *fleet) Run(ctx context.Context) error {
	admin := status.NewServer(status.ServerConfig{
		DataDir:    f.cfg.Agent.DataDir,
		Snapshot:   f.Snapshot,
		Thresholds: thresholds(f.cfg),
		Gatherer:   f.metrics(),
		Logger:     f.log.With().Str("component", "admin").Logger(),
	})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return admin.Run(gctx) })
	for i, m := range f.members {
		g.Go(func() error { return f.runMember(gctx, i, m) })
	}
	f.log.Info().Str("version", version).Str("config", f.cfg.File).Int("instances", len(f.members)).Msg("agent started")
	err := g.Wait()
	f.log.Info().Msg("agent stopped")
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// runMember runs one instance's pipeline. Its failure is recorded and
// returns nil, so the others go on, unless it was the last one running.
func (f *fleet) runMember(ctx context.Context, i int, m *Agent) error {
	err := m.Run(ctx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	m.log.Error().Err(err).Msg("instance stopped; the other instances go on")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped[i] = err
	for _, e := range f.stopped {
		if e == nil {
			return nil
		}
	}
	var errs []error
	for j, e := range f.stopped {
		errs = append(errs, fmt.Errorf("instance %s: %w", f.members[j].cfg.Relay.Integration, e))
	}
	return errors.Join(errs...)
}

// stoppedErr is why member i stopped, or nil while it runs.
func (f *fleet) stoppedErr(i int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped[i]
}

// heartbeatFor is the heartbeat member i's forwarder publishes: the
// fleet's, from the first member still running, so the relay gets one
// heartbeat per agent carrying every instance; zero (not sent) from the
// others.
func (f *fleet) heartbeatFor(i int) wire.Heartbeat {
	f.mu.Lock()
	first := -1
	for j, e := range f.stopped {
		if e == nil {
			first = j
			break
		}
	}
	f.mu.Unlock()
	if i != first {
		return wire.Heartbeat{}
	}
	s := f.Snapshot()
	s.Finalize(thresholds(f.cfg), time.Now())
	hb, err := status.Heartbeat(s)
	if err != nil {
		f.log.Warn().Err(err).Msg("build heartbeat")
	}
	return hb
}

// Snapshot is the agent's status with one section per instance. Safe for
// concurrent use.
func (f *fleet) Snapshot() *status.Snapshot {
	s := &status.Snapshot{Agent: status.Agent{
		ID:           f.cfg.Agent.ID,
		Version:      version,
		Running:      true,
		PID:          os.Getpid(),
		Started:      f.started,
		ConfigFile:   f.cfg.File,
		DataDir:      f.cfg.Agent.DataDir,
		ServiceState: f.serviceState,
	}}
	for i, m := range f.members {
		ms := m.Snapshot()
		in := status.Instance{Integration: m.cfg.Relay.Integration, ServiceNow: ms.ServiceNow, Buffer: ms.Buffer, Relay: ms.Relay}
		if err := f.stoppedErr(i); err != nil {
			in.Error = err.Error()
		}
		s.Instances = append(s.Instances, in)
	}
	return s
}

// metrics is the fleet's /metrics: every instance's figures, labelled
// with its integration.
func (f *fleet) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, m := range f.members {
		prometheus.WrapRegistererWith(prometheus.Labels{"integration": m.cfg.Relay.Integration}, reg).MustRegister(agentCollector{m})
	}
	return reg
}

// Sync runs every instance's Sync at once (see Agent.Sync): nil only when
// every instance's polls were acknowledged by the relay. One instance
// failing does not stop the others; the error names each that failed.
func (f *fleet) Sync(ctx context.Context, timeout time.Duration) error {
	errs := make([]error, len(f.members))
	var wg sync.WaitGroup
	for i, m := range f.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Sync(ctx, timeout); err != nil {
				errs[i] = fmt.Errorf("instance %s: %w", m.cfg.Relay.Integration, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
