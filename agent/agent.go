package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/forward"
	"github.com/sei-edge/servicenow-edge/agent/poll"
	"github.com/sei-edge/servicenow-edge/agent/reconcile"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Agent is the composition root: the buffer, the ServiceNow client, the
// poller, the forwarder and the admin endpoint, built from one
// configuration. Close releases what Open acquired.
type Agent struct {
	cfg     *config.Config
	log     zerolog.Logger
	buf     *buffer.Buffer
	sn      *servicenow.Client
	poller  *poll.Poller
	fwd     *forward.Forwarder
	sweeper *reconcile.Sweeper // completeness sweeps (reconcile.go)
	started time.Time
	// serviceState is "running" when the service manager runs the agent,
	// "" when run by hand: what /status and heartbeats say of it.
	serviceState string
	// oneShot: the forwarder stops on a permanent error (openOneShot).
	oneShot bool
	// member is set when the agent is one instance's pipeline of an agent
	// with several (fleet): the fleet serves the admin endpoint and builds
	// the heartbeat, which memberHeartbeat returns (a zero one when
	// another member's forwarder sends it).
	member          bool
	memberHeartbeat func() wire.Heartbeat
	// confirmWait, when set (a hosted pipeline that took its integration
	// over: takeover.go), holds the first poll at most this long for the
	// relay's confirmations.
	confirmWait time.Duration
}

// shutdownGrace bounds how long in-flight publishes may take after a stop.
const shutdownGrace = 20 * time.Second

// openAgent builds every component; nothing connects or polls yet.
func openAgent(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*Agent, error) {
	return open(ctx, cfg, log, false)
}

// openOneShot is openAgent for a command that runs once (sync): its
// forwarder gives up on a permanent relay error instead of retrying, so
// the command can say why at once.
func openOneShot(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*Agent, error) {
	return open(ctx, cfg, log, true)
}

func open(ctx context.Context, cfg *config.Config, log zerolog.Logger, oneShot bool) (*Agent, error) {
	return openWith(ctx, &Agent{cfg: cfg, log: log, oneShot: oneShot})
}

// openWith opens the buffer of a (cfg, log and options set) and builds
// the rest.
func openWith(ctx context.Context, a *Agent) (*Agent, error) {
	buf, err := openHealingBuffer(ctx, a.cfg, a.log, time.Now)
	if err != nil {
		return nil, err
	}
	a.buf, a.started = buf, time.Now()
	if err := a.build(); err != nil {
		buf.Close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) build() error {
	sn, err := newServiceNowClient(a.cfg, a.log, &tokenStore{buf: a.buf})
	if err != nil {
		return err
	}
	a.sn = sn
	a.poller = poll.New(poll.Config{
		Tables:   syncTables(a.cfg),
		Lookback: time.Duration(a.cfg.ServiceNow.Lookback),
		Overlap:  time.Duration(a.cfg.ServiceNow.Overlap),
		Lag:      time.Duration(a.cfg.ServiceNow.Lag),
		Interval: time.Duration(a.cfg.ServiceNow.Interval),
		Logger:   a.log.With().Str("component", "poll").Logger(),
		// The relay's confirmations: where a table restarts when its own
		// position was lost to damage.
		Confirmed: func(table string) (wire.Version, bool) {
			v, ok := a.fwd.Stats().Confirmed[table]
			return v, ok
		},
	}, sn, a.buf)
	a.fwd, err = forward.New(forward.Config{
		URL:             a.cfg.Relay.URL,
		Credentials:     a.cfg.Relay.Credentials,
		CAFile:          a.cfg.Relay.CAFile,
		Tenant:          a.cfg.Relay.Tenant,
		Integration:     a.cfg.Relay.Integration,
		Agent:           a.cfg.Agent.ID,
		PublishTimeout:  shutdownGrace,
		Heartbeat:       a.heartbeatSource(),
		Shared:          a.member,
		StopOnPermanent: a.oneShot,
		Logger:          a.log.With().Str("component", "forward").Logger(),
	}, a.buf)
	if err != nil {
		return err
	}
	a.fwd.LoadConfirmed(tableNames(a.cfg))
	a.sweeper = a.newSweeper()
	// Damage found while running (a batch failing its checksum, the
	// relay's rejection) is read again at once, not at the next interval.
	a.buf.OnRepair(a.poller.Wake)
	return nil
}

// heartbeatSource is what the forwarder publishes as the heartbeat: this
// agent's snapshot, or for a fleet member the fleet's.
func (a *Agent) heartbeatSource() func() wire.Heartbeat {
	if a.member {
		return a.memberHeartbeat
	}
	return a.heartbeat
}

// Close releases the buffer (and with it Badger's directory lock).
func (a *Agent) Close() error { return a.buf.Close() }

// Run polls and forwards until ctx ends, serving the admin endpoint
// meanwhile. In-flight publishes get shutdownGrace to finish.
func (a *Agent) Run(ctx context.Context) error {
	if a.cfg.ServiceNow.InsecureSkipVerify {
		a.log.Warn().Str("url", secret.RedactURL(a.cfg.ServiceNow.URL)).Msg("servicenow.insecure_skip_verify is set: the instance's certificate is NOT verified")
	}
	admin := status.NewServer(status.ServerConfig{
		DataDir:    a.cfg.Agent.DataDir,
		Snapshot:   a.Snapshot,
		Thresholds: a.thresholds(),
		Gatherer:   a.metrics(),
		Logger:     a.log.With().Str("component", "admin").Logger(),
	})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.buf.Run(gctx) })
	g.Go(func() error {
		a.awaitConfirmations(gctx)
		return a.poller.Run(gctx)
	})
	g.Go(func() error { return a.fwd.Run(gctx) })
	g.Go(func() error { return a.sweeper.Run(gctx) })
	if !a.member { // the fleet serves one admin endpoint and answers remote requests for every instance
		g.Go(func() error { return admin.Run(gctx) })
		g.Go(func() error { return a.runRemote(gctx) })
	}
	a.log.Info().Str("version", version).Str("config", a.cfg.File).Msg("agent started")
	err := g.Wait()
	a.log.Info().Msg("agent stopped")
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Sync polls every table once and forwards until the buffer is empty: it
// returns nil only when everything polled was acknowledged by JetStream.
// Damage found meanwhile (a batch failing its checksum when leased) is
// repaired before it returns: the damaged ranges are polled again and
// forwarded, up to syncRepairRounds times.
func (a *Agent) Sync(ctx context.Context, timeout time.Duration) error {
	// Repairs found while forwarding are read again, a few rounds at most.
	err := a.whileForwarding(ctx, "sync", timeout, func(ctx context.Context) error {
		for round := 0; round <= syncRepairRounds; round++ {
			if round > 0 && len(a.buf.Repairs()) == 0 {
				break
			}
			if err := a.poller.PollOnce(ctx); err != nil {
				return fmt.Errorf("sync: %w", err)
			}
			if err := a.drain(ctx, "sync"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if rs := a.buf.RepairStats(); rs.Pending > 0 {
		return fmt.Errorf("sync: %d damaged range(s) still to read again after %d repair rounds (last: %s)",
			rs.Pending, syncRepairRounds, rs.Last.Reason)
	}
	return nil
}

// whileForwarding runs work (a one-shot command's: what names it in
// errors) with the forwarder running, all within timeout. A forwarder that
// fails (a bad credentials file, a permanent refusal:
// Config.StopOnPermanent) cancels the ctx work gets, so work ends at once,
// and its error is the one reported; otherwise work's is.
func (a *Agent) whileForwarding(ctx context.Context, what string, timeout time.Duration, work func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fctx, stopForward := context.WithCancel(ctx)
	defer stopForward()
	g, gctx := errgroup.WithContext(fctx)
	g.Go(func() error { return a.fwd.Run(gctx) })
	workErr := work(gctx)
	stopForward()
	if err := g.Wait(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return workErr
}

// drain waits until the buffer is empty; when ctx ends first, its error
// says what is left, where it should have gone and the relay's last error.
func (a *Agent) drain(ctx context.Context, what string) error {
	err := a.waitEmpty(ctx)
	if err == nil {
		return nil
	}
	st := a.buf.Stats()
	return fmt.Errorf("%s: %d batches (%d records) not acknowledged by the relay at %s: %w; last relay error: %s",
		what, st.PendingBatches, st.PendingRecords, secret.RedactURL(a.cfg.Relay.URL), err, orNone(a.fwd.Stats().LastError))
}

// syncRepairRounds bounds the polls Sync makes for damage it finds.
const syncRepairRounds = 3

// waitEmpty returns when the buffer holds no batch, or ctx ends.
func (a *Agent) waitEmpty(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !a.buf.Empty() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func bufferDir(cfg *config.Config) string {
	return cfg.Agent.DataDir + string(os.PathSeparator) + "buffer"
}

// openBuffer opens the agent's buffer, creating it when the data directory
// has none yet. It fails while another process (the running agent) holds
// it, and with an error wrapping buffer.ErrDamaged when it is damaged.
func openBuffer(cfg *config.Config, log zerolog.Logger) (*buffer.Buffer, error) {
	buf, err := buffer.Open(buffer.Options{
		Dir:          bufferDir(cfg),
		MaxBytes:     int64(cfg.Agent.BufferMaxBytes),
		MinFreeBytes: uint64(cfg.Agent.MinFreeBytes),
		Logger:       log.With().Str("component", "badger").Logger(),
		Mirror:       forward.ConfirmedPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("open buffer in %s: %w", bufferDir(cfg), err)
	}
	return buf, nil
}

// openHealingBuffer is openBuffer for the commands that run the agent (run,
// sync): a buffer too damaged to open is moved aside, kept for support, and
// a fresh one starts with the relay's confirmations (from the buffer's
// mirror) and a repair that re-reads every table from them, or from the
// lookback where there is none. The agent does not crash-loop on a bad
// disk block; it says so loudly, in the log and in status.
func openHealingBuffer(ctx context.Context, cfg *config.Config, log zerolog.Logger, now func() time.Time) (*buffer.Buffer, error) {
	buf, damage := openBufferWaiting(ctx, cfg, log)
	if damage == nil || !errors.Is(damage, buffer.ErrDamaged) {
		return buf, damage
	}
	moved, err := buffer.MoveAside(bufferDir(cfg), now())
	if err != nil {
		return nil, fmt.Errorf("%w; and %w", damage, err)
	}
	log.Error().Err(damage).Str("moved_to", moved).
		Msg("BUFFER DAMAGED: moved aside; starting a fresh buffer and re-reading every table from the relay's confirmations (or the lookback)")
	buf, err = openBuffer(cfg, log)
	if err != nil {
		return nil, err
	}
	reason := fmt.Sprintf("buffer could not be opened and was moved aside to %s: %v", moved, damage)
	if _, err := buf.AddRepair(ctx, buffer.Repair{Reason: reason}); err != nil {
		buf.Close()
		return nil, fmt.Errorf("record the repair of the moved-aside buffer: %w", err)
	}
	return buf, nil
}

// inUseWait is how long openBufferWaiting waits for another process to
// let go of the buffer, and inUseRetry how often it tries meanwhile.
var inUseWait, inUseRetry = 30 * time.Second, 250 * time.Millisecond

// openBufferWaiting is openBuffer that waits, up to inUseWait, while
// another process holds the buffer: `sei-agent status` or `bundle` run
// while the service starts read the buffer for a moment, and the agent
// (or one of its instances) must not fail to start because of it.
func openBufferWaiting(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*buffer.Buffer, error) {
	deadline := time.Now().Add(inUseWait)
	for logged := false; ; {
		buf, err := openBuffer(cfg, log)
		if !errors.Is(err, buffer.ErrInUse) || time.Now().After(deadline) {
			return buf, err
		}
		if !logged {
			log.Warn().Err(err).Dur("wait", inUseWait).Msg("buffer in use by another process; waiting for it")
			logged = true
		}
		t := time.NewTimer(inUseRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// openExistingBuffer opens the buffer for the commands that only read from
// it or borrow its tokens (status, bundle, validate, preview). Unlike
// openBuffer it never creates one: that would leave a fresh buffer owned by
// whoever ran the command (root, before the service first started).
func openExistingBuffer(cfg *config.Config) (*buffer.Buffer, error) {
	_, err := os.Stat(bufferDir(cfg))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no buffer yet at %s (the agent never ran)", bufferDir(cfg))
	case err != nil:
		return nil, fmt.Errorf("open buffer in %s: %w", bufferDir(cfg), err)
	}
	return openBuffer(cfg, zerolog.Nop())
}
