package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/logging"
	"github.com/sei-edge/servicenow-edge/agent/service"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/relay/logsetup"
)

// defaultConfigPath is where the service looks without -c.
func defaultConfigPath() string {
	if p := os.Getenv("SEI_AGENT_CONFIG"); p != "" {
		return p
	}
	if runtime.GOOS == "windows" {
		return filepath.Join(os.Getenv("ProgramData"), "sei-agent", "agent.yaml")
	}
	return "/etc/sei-agent/agent.yaml"
}

// flags returns a FlagSet with -c for cmd; -h prints its flags on stdout.
func flags(cmd string, stdout io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("sei-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nflags:\n", fs.Name())
		fs.PrintDefaults()
	}
	path := fs.String("c", defaultConfigPath(), "configuration file")
	return fs, path
}

// parse parses args: -h prints the flags and ends the command with exit 0;
// a bad flag is a usage error that points at -h.
func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the flag package would print the usage on any error
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return exitError{exitOK}
	case err != nil:
		return usageError{fmt.Errorf("%w (%s -h lists the flags)", err, fs.Name())}
	}
	return nil
}

// loadConfig is the agent's one configuration path, run the same way by
// every command that needs a valid configuration (run, sync, validate,
// preview, login, install, start, restart): config.Load (parse, expand,
// defaults, validate), then what the ServiceNow client would refuse of it
// (each synced table's filter and field list, the client's settings), so
// a mistake stops every command now, with exit 2, instead of failing
// every poll. An invalid file is a usage error (exit 2).
func loadConfig(path string) (*config.Config, error) {
	c, err := config.Load(path)
	if err == nil {
		err = clientProblems(c)
	}
	if err != nil {
		return c, usageError{err}
	}
	return c, nil
}

// clientProblems reports what the ServiceNow client refuses of cfg: every
// table it could not scan, each naming its servicenow.tables key, and its
// own settings (config.Validate holds the same rules, so this is a guard).
func clientProblems(cfg *config.Config) error {
	var problems []string
	for _, t := range syncTables(cfg) {
		if err := t.Check(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if _, err := servicenow.New(clientConfig(cfg, zerolog.Nop(), nil)); err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	if err := checkLogFile(cfg.Log.File); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("load config %s: %w", cfg.File, &config.Error{Problems: problems})
	}
	return nil
}

// checkLogFile refuses a log.file that cannot be a file: the nearest
// existing folder on its path is not a folder. It changes nothing on disk;
// a permission problem shows when the log is opened.
func checkLogFile(path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("log.file: %s is a folder", path)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("log.file: %s is not a folder", dir)
		}
		if err == nil || dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// logOptions says where cfg's log goes. The name is the service's: on
// Windows it is the event-log source that installing the service
// registers.
func logOptions(cfg *config.Config) logging.Options {
	return logging.Options{Level: cfg.Log.Level, File: cfg.Log.File, DataDir: cfg.Agent.DataDir, Name: service.DefaultName}
}

// newLogger builds the process's one logger: JSON to the rotated file, the
// console writer on a terminal, journald priorities under systemd.
func newLogger(cfg *config.Config, stderr io.Writer, asService bool) (zerolog.Logger, io.Closer, error) {
	opts := logOptions(cfg)
	opts.Service = asService
	opts.Journald = asService && logging.UnderJournald()
	if f, ok := stderr.(*os.File); ok && logsetup.Terminal(f) {
		opts.Console = f
	}
	log, closer, err := logging.New(opts)
	if err != nil {
		return zerolog.Nop(), nil, usageError{fmt.Errorf("log.file: %w", err)}
	}
	return log, closer, nil
}

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
	return service.Run(svc, func(sctx context.Context) error {
		if cfgErr != nil {
			// Reported through the service manager too (exit code 2
			// stops systemd's restarts; Windows logs it).
			log.Error().Err(cfgErr).Msg("invalid configuration")
			return cfgErr
		}
		// Stop on the parent's signals as well as the service manager's.
		sctx, cancel := context.WithCancel(sctx)
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		a, err := openAgent(cfg, log)
		if err != nil {
			log.Error().Err(err).Msg("start agent")
			return err
		}
		defer a.Close()
		if !service.Interactive() {
			a.serviceState = service.StatusRunning
		}
		return a.Run(sctx)
	})
}

func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("sync", stdout)
	timeout := fs.Duration("timeout", time.Hour, "give up (exit 1) when not everything is acknowledged by then")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Agent.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent.data_dir: %w", err)
	}
	log, closer, err := newLogger(cfg, stderr, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	a, err := openAgent(cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	start := time.Now()
	if err := a.Sync(ctx, *timeout); err != nil {
		return err
	}
	var fetched int64
	for _, t := range a.poller.Stats().Tables {
		fetched += int64(t.LastRecords)
	}
	fs2 := a.fwd.Stats()
	fmt.Fprintf(stdout, "sync complete in %s: %d records fetched, %d batches acknowledged by the relay, buffer empty\n",
		time.Since(start).Round(time.Millisecond), fetched, fs2.Published)
	return nil
}
