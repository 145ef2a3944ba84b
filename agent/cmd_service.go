package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sei-edge/servicenow-edge/agent/service"
)

// cmdService installs, removes and controls the system service.
func cmdService(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	fs, path := flags(action, stdout)
	purge := false
	if action == "uninstall" {
		fs.BoolVar(&purge, "purge", false, "also delete agent.data_dir (the buffer, cursors and tokens)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil && !(action == "uninstall" || action == "stop") || cfg == nil {
		// A broken configuration must not block removing or stopping
		// the service; everything else needs a valid one.
		return err
	}
	log, closer, err := newLogger(cfg, stderr, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	svc := serviceConfig(cfg)
	svc.Logger = log
	switch action {
	case "install":
		err = service.Install(svc)
	case "uninstall":
		err = service.Uninstall(svc, purge)
	default:
		err = service.Control(svc, action)
	}
	if err != nil {
		return fmt.Errorf("%s service: %w", action, err)
	}
	fmt.Fprintf(stdout, "sei-agent service: %s done\n", action)
	return nil
}
