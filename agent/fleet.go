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
	cfg *config.Config
	log zerolog.Logger
	// names are the instances' integrations; members their pipelines, in
	// the same order, nil for one that could not be opened (stopped says
	// why).
	names        []string
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
// yet. A damaged buffer is moved aside and healed (openHealingBuffer); an
// instance that cannot be opened at all (its folder, its buffer) is
// reported and stays stopped while the others run. openFleet fails only
// when no instance could be opened.
func openFleet(ctx context.Context, cfg *config.Config, log zerolog.Logger, oneShot bool) (*fleet, error) {
	subs := cfg.Split()
	applyMemoryLimit(len(subs)) // one buffer per instance
	f := &fleet{cfg: cfg, log: log, started: time.Now(), stopped: make([]error, len(subs)), members: make([]*Agent, len(subs))}
	opened := 0
	for i, sub := range subs {
		name := sub.Relay.Integration
		f.names = append(f.names, name)
		m, err := openMember(ctx, f, i, sub, oneShot)
		if err != nil {
			f.stopped[i] = err
			log.Error().Err(err).Str("integration", name).Msg("instance not started; the other instances go on")
			continue
		}
		f.members[i] = m
		opened++
	}
	if opened == 0 {
		return nil, f.stoppedErrors()
	}
	return f, nil
}

// openOneShotFleet opens the pipelines of a one-shot command over every
// instance: the fleet for the instances form; for the single-instance
// form a fleet of one holding the lone Agent, built as without instances
// (its own heartbeat and confirmations, its folder data_dir).
func openOneShotFleet(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*fleet, error) {
	if cfg.Multi() {
		return openFleet(ctx, cfg, log, true)
	}
	a, err := openOneShot(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &fleet{cfg: cfg, log: log, started: a.started, names: []string{cfg.Relay.Integration},
		members: []*Agent{a}, stopped: make([]error, 1)}, nil
}

// openMember opens instance i's pipeline from its configuration sub.
func openMember(ctx context.Context, f *fleet, i int, sub *config.Config, oneShot bool) (*Agent, error) {
	if err := os.MkdirAll(sub.Agent.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the folder of instance %s: %w", sub.Relay.Integration, err)
	}
	return openWith(ctx, &Agent{
		cfg: sub, log: f.log.With().Str("integration", sub.Relay.Integration).Logger(), oneShot: oneShot,
		member: true, memberHeartbeat: func() wire.Heartbeat { return f.heartbeatFor(i) },
	})
}

// Close releases every instance's buffer.
func (f *fleet) Close() error {
	var errs []error
	for _, m := range f.members {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}

// stoppedErrors joins why each stopped instance stopped, each named.
func (f *fleet) stoppedErrors() error {
	var errs []error
	for i, e := range f.stopped {
		if e != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", f.names[i], e))
		}
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
	g.Go(func() error { return f.runRemote(gctx) })
	for i, m := range f.members {
		if m != nil {
			g.Go(func() error { return f.runMember(gctx, i, m) })
		}
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
	return f.stoppedErrors()
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
		in := status.Instance{Integration: f.names[i]}
		if m != nil {
			ms := m.Snapshot()
			in.ServiceNow, in.Buffer, in.Relay = ms.ServiceNow, ms.Buffer, ms.Relay
		}
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
	for i, m := range f.members {
		if m != nil {
			prometheus.WrapRegistererWith(prometheus.Labels{"integration": f.names[i]}, reg).MustRegister(agentCollector{m})
		}
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
		if m == nil {
			errs[i] = fmt.Errorf("instance %s: %w", f.names[i], f.stoppedErr(i))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Sync(ctx, timeout); err != nil {
				errs[i] = fmt.Errorf("instance %s: %w", f.names[i], err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
