package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sei-edge/servicenow-edge/agent/service"
)

// cmdRun runs the agent in the foreground or under the service manager
// until stopped: what the service runs.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("run", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, cfgErr := loadConfig(*path)
	if cfg == nil || cfg.Agent.DataDir == "" {
		return cfgErr
	}
	if err := os.MkdirAll(cfg.Agent.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent.data_dir: %w", err)
	}
	svc := serviceConfig(cfg)
	log, closer, err := newLogger(cfg, stderr, !service.Interactive())
	if err != nil {
		return errors.Join(cfgErr, err)
	}
	defer closer.Close()
	svc.Logger = log
	return service.Run(ctx, svc, func(sctx context.Context) error {
		if cfgErr != nil {
			// Reported through the service manager too (exit code 2
			// stops systemd's restarts; Windows logs it).
			log.Error().Err(cfgErr).Msg("invalid configuration")
			return cfgErr
		}
		a, err := openRunner(sctx, cfg, log)
		if err != nil {
			log.Error().Err(err).Msg("start agent")
			return err
		}
		defer a.Close()
		if !service.Interactive() {
			a.setServiceState(service.StatusRunning)
		}
		return a.Run(sctx)
	})
}
