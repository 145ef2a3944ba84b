package hosted

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Config configures a Supervisor. Every func is required.
type Config struct {
	Leases *Leases
	// List returns the integrations the relay wants polled.
	List func(ctx context.Context) ([]wire.HostedListItem, error)
	// Run runs the pipeline of integration id until ctx ends (it returns
	// nil then) or it fails. It is called only while the lease is held,
	// and its ctx ends when the lease is lost, the integration changes
	// (revision) or goes, or the Supervisor stops.
	Run     func(ctx context.Context, id string, revision uint64) error
	Version string
	Logger  zerolog.Logger
}

// Supervisor keeps this agent's fair share of leases and one pipeline per
// lease. Run owns every goroutine it starts.
type Supervisor struct {
	cfg  Config
	log  zerolog.Logger
	held map[string]*pipeline // only Run's goroutine touches it
}

// pipeline is one held lease and its running pipeline.
type pipeline struct {
	lease    Lease
	revision uint64
	cancel   context.CancelFunc
	fence    *time.Timer // cancels at lease.Deadline
	done     chan struct{}
}

// New returns a Supervisor.
func New(cfg Config) *Supervisor {
	return &Supervisor{cfg: cfg, log: cfg.Logger, held: map[string]*pipeline{}}
}

// heldIDs returns the integrations whose leases this agent holds.
func (s *Supervisor) heldIDs() []string {
	ids := make([]string, 0, len(s.held))
	for id := range s.held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Run takes, renews and gives up leases every quarter lease period until
// ctx ends; then it stops every pipeline and releases its leases.
func (s *Supervisor) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Leases.TTL() / 4)
	defer tick.Stop()
	defer s.stopAll(context.WithoutCancel(ctx))
	for {
		s.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// round is one pass: presence, renewals, changes, and the fair share.
func (s *Supervisor) round(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if err := s.cfg.Leases.Present(ctx, s.cfg.Version); err != nil {
		s.log.Warn().Err(err).Msg("announce presence")
	}
	list, listErr := s.cfg.List(ctx)
	if listErr != nil {
		s.log.Warn().Err(listErr).Msg("list hosted integrations")
	}
	want := map[string]uint64{}
	for _, it := range list {
		want[it.ID] = it.Revision
	}
	// Every renewal first: stopping a pipeline can take a while (its
	// in-flight publishes), and must not delay the other leases.
	acts := map[string]action{}
	for _, id := range s.heldIDs() {
		acts[id] = s.renew(ctx, id, want, listErr == nil)
	}
	for _, id := range s.heldIDs() {
		s.act(ctx, id, acts[id], want[id])
	}
	if listErr != nil {
		return
	}
	s.balance(ctx, list)
}

// action is what a round does with a held lease after the renewals.
type action int

const (
	keepRunning action = iota
	release            // deleted or waiting for an admin: stop, then release
	forget             // lost: stop, nothing to release
	restart            // settings changed
)

// renew renews one held lease and says what to do with its pipeline.
func (s *Supervisor) renew(ctx context.Context, id string, want map[string]uint64, listed bool) action {
	p := s.held[id]
	rev, ok := want[id]
	if listed && !ok {
		return release
	}
	// A renewal that has not answered by the deadline is a lost one.
	rctx, cancel := context.WithDeadline(ctx, p.lease.Deadline)
	le, err := s.cfg.Leases.Renew(rctx, p.lease)
	cancel()
	if err != nil {
		if errors.Is(err, ErrLost) || time.Now().After(p.lease.Deadline) {
			s.log.Warn().Err(err).Str("integration", id).Msg("lease lost: pipeline stopped")
			return forget
		}
		s.log.Warn().Err(err).Str("integration", id).Msg("renew lease (will retry)")
		return keepRunning
	}
	p.lease = le
	p.fence.Reset(time.Until(le.Deadline))
	if listed && rev != p.revision {
		return restart
	}
	return keepRunning
}

// act carries out a renewal's action; a pipeline that ended on its own (an
// error it logged) while its lease is held runs again.
func (s *Supervisor) act(ctx context.Context, id string, a action, rev uint64) {
	p := s.held[id]
	switch a {
	case release:
		s.log.Info().Str("integration", id).Msg("integration deleted or waiting for an admin: stopping its pipeline")
		s.drop(ctx, id, true)
	case forget:
		s.drop(ctx, id, false)
	case restart:
		s.log.Info().Str("integration", id).Msg("integration changed: restarting its pipeline")
		s.stop(p)
		s.start(ctx, p, rev)
	default:
		select {
		case <-p.done:
			if time.Now().Before(p.lease.Deadline) {
				s.start(ctx, p, p.revision)
			}
		default:
		}
	}
}

// balance gives up a lease above the fair share, or takes free ones below.
func (s *Supervisor) balance(ctx context.Context, list []wire.HostedListItem) {
	v, err := s.cfg.Leases.Look(ctx)
	if err != nil {
		s.log.Warn().Err(err).Msg("read leases")
		return
	}
	agents := max(v.Agents, 1)
	share := (len(list) + agents - 1) / agents
	if len(s.held) > share {
		ids := s.heldIDs()
		id := ids[len(ids)-1]
		s.log.Info().Str("integration", id).Int("share", share).Msg("handing an integration to another hosted agent")
		s.drop(ctx, id, true)
		return
	}
	for _, it := range list {
		if len(s.held) >= share {
			return
		}
		if _, mine := s.held[it.ID]; mine || v.Holders[it.ID] != "" {
			continue
		}
		le, err := s.cfg.Leases.Acquire(ctx, it.ID)
		if err != nil {
			if !errors.Is(err, ErrLost) {
				s.log.Warn().Err(err).Str("integration", it.ID).Msg("take lease")
			}
			continue
		}
		p := &pipeline{lease: le}
		p.fence = time.AfterFunc(time.Until(le.Deadline), func() {}) // set in start
		s.held[it.ID] = p
		s.log.Info().Str("integration", it.ID).Msg("lease taken: starting its pipeline")
		s.start(ctx, p, it.Revision)
	}
}

// start runs p's pipeline in a goroutine whose ctx the fence cancels at
// the lease deadline.
func (s *Supervisor) start(ctx context.Context, p *pipeline, revision uint64) {
	pctx, cancel := context.WithCancel(ctx)
	p.revision, p.cancel, p.done = revision, cancel, make(chan struct{})
	p.fence.Stop()
	p.fence = time.AfterFunc(time.Until(p.lease.Deadline), cancel)
	id, done := p.lease.ID, p.done
	go func() {
		defer close(done)
		if err := s.cfg.Run(pctx, id, revision); err != nil && pctx.Err() == nil {
			s.log.Error().Err(err).Str("integration", id).Msg("pipeline stopped")
		}
	}()
}

// stop cancels p's pipeline and waits until it ended.
func (s *Supervisor) stop(p *pipeline) {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
}

// drop stops id's pipeline and forgets the lease; release deletes it
// (only once the pipeline ended), so another agent may take it at once.
func (s *Supervisor) drop(ctx context.Context, id string, release bool) {
	p := s.held[id]
	s.stop(p)
	p.fence.Stop()
	delete(s.held, id)
	if release {
		if err := s.cfg.Leases.Release(ctx, p.lease); err != nil {
			s.log.Warn().Err(err).Str("integration", id).Msg("release lease")
		}
	}
}

// stopAll stops every pipeline, then releases the leases and the presence
// key, within a few seconds (ctx is Run's, without its cancellation).
func (s *Supervisor) stopAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, id := range s.heldIDs() {
		s.drop(ctx, id, true)
	}
	if err := s.cfg.Leases.Absent(ctx); err != nil {
		s.log.Warn().Err(err).Msg("withdraw presence")
	}
}
