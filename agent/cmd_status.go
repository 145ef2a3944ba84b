package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/forward"
	"github.com/sei-edge/servicenow-edge/agent/poll"
	"github.com/sei-edge/servicenow-edge/agent/reconcile"
	"github.com/sei-edge/servicenow-edge/agent/service"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/secret"
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("status", stdout)
	asJSON := fs.Bool("json", false, "print the status as JSON (a stable, documented format)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if cfg == nil || cfg.Agent.DataDir == "" {
		return command.Usage(fmt.Errorf("status needs agent.data_dir from the configuration: %w", err))
	}
	snap, running, err := agentStatus(ctx, cfg)
	if err != nil {
		// Something answers but not properly, or we may not ask it:
		// not "not running", so not exit 3.
		fmt.Fprintf(stderr, "sei-agent: %v\n", err)
	}
	if *asJSON {
		if err := status.RenderJSON(stdout, snap); err != nil {
			return err
		}
	} else {
		colour := false
		if f, ok := stdout.(*os.File); ok {
			colour = status.ColourFor(f)
		}
		if err := status.Render(stdout, snap, colour); err != nil {
			return err
		}
	}
	if err != nil {
		return command.ExitError{Code: command.ExitFailure}
	}
	if code := status.ExitCode(snap, running); code != 0 {
		return command.ExitError{Code: code}
	}
	return nil
}

// agentStatus asks the running agent, or builds what it can offline. The
// error is set when an agent seems to run but could not be asked.
func agentStatus(ctx context.Context, cfg *config.Config) (*status.Snapshot, bool, error) {
	snap, err := liveStatus(ctx, cfg)
	if err == nil {
		return snap, true, nil
	}
	if cfg.Multi() {
		snap = offlineFleetSnapshot(cfg, err)
	} else {
		buf, bufErr := openExistingBuffer(cfg)
		if buf != nil {
			defer buf.Close()
		}
		snap = offlineSnapshot(cfg, err, buf, bufErr)
	}
	if errors.Is(err, status.ErrNotRunning) {
		err = nil
	}
	return snap, false, err
}

// liveStatus asks the running agent for its status; the error wraps
// status.ErrNotRunning when none runs.
func liveStatus(ctx context.Context, cfg *config.Config) (*status.Snapshot, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	snap, err := status.Query(qctx, cfg.Agent.DataDir)
	if err != nil {
		return nil, err
	}
	snap.Agent.ServiceState = serviceState(cfg)
	return snap, nil
}

// offlineSnapshot is the finalized status of an agent that did not answer
// (queryErr), from what its buffer holds: backlog, cursors, the last poll
// figures and the relay's confirmations. buf is nil when it could not be
// opened (bufErr).
func offlineSnapshot(cfg *config.Config, queryErr error, buf *buffer.Buffer, bufErr error) *status.Snapshot {
	s := &status.Snapshot{
		Agent: status.Agent{
			ID: cfg.Agent.ID, Version: version, ConfigFile: cfg.File, DataDir: cfg.Agent.DataDir,
			ServiceState: serviceState(cfg), Note: "agent not running: figures read from its data directory",
		},
		ServiceNow: status.ServiceNow{URL: secret.RedactURL(cfg.ServiceNow.URL), AuthMethod: cfg.ServiceNow.Auth.Method},
		Relay:      status.Relay{URL: secret.RedactURL(cfg.Relay.URL)},
	}
	if !errors.Is(queryErr, status.ErrNotRunning) {
		s.Agent.Note = fmt.Sprintf("could not ask the agent: %v", queryErr)
	}
	if buf != nil {
		s.Buffer = bufferSection(buf.Stats())
		repairSection(&s.Buffer, buf.RepairStats(), bufferDir(cfg))
		resyncSection(&s.Buffer, buf.Repairs())
		s.ServiceNow.TokenExpiry = refreshExpiry(cfg, buf.Get)
		names := tableNames(cfg)
		for _, t := range poll.LoadStats(buf.Get, names) {
			s.ServiceNow.Tables = append(s.ServiceNow.Tables, tableSection(t))
		}
		s.Relay.Confirmed = confirmedSection(forward.LoadConfirmed(buf.Get, names), time.Time{})
		addReconcile(cfg, &s.ServiceNow, reconcile.LoadResults(buf.Get, names))
	} else {
		s.Buffer.Error = bufErr.Error()
		s.Buffer.MovedAside, _ = buffer.MovedAside(bufferDir(cfg))
	}
	s.Finalize(thresholds(cfg), time.Now())
	return s
}

// offlineFleetSnapshot is offlineSnapshot for several instances: one
// section per instance, from its own buffer.
func offlineFleetSnapshot(cfg *config.Config, queryErr error) *status.Snapshot {
	var s *status.Snapshot
	for _, sub := range cfg.Split() {
		buf, bufErr := openExistingBuffer(sub)
		is := offlineSnapshot(sub, queryErr, buf, bufErr)
		if buf != nil {
			buf.Close()
		}
		if s == nil {
			s = &status.Snapshot{Agent: is.Agent}
			s.Agent.DataDir = cfg.Agent.DataDir
		}
		s.Instances = append(s.Instances, status.Instance{Integration: sub.Relay.Integration,
			ServiceNow: is.ServiceNow, Buffer: is.Buffer, Relay: is.Relay})
	}
	s.Finalize(thresholds(cfg), time.Now())
	return s
}

// serviceState is the service manager's view of the agent service.
func serviceState(cfg *config.Config) string {
	st, err := service.Status(serviceConfig(cfg))
	if err != nil {
		return "unknown"
	}
	return st
}
