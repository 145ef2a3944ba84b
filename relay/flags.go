package main

import (
	"flag"
	"io"

	"github.com/sei-edge/servicenow-edge/relay/config"
)

// newFlags returns a flag set that reports errors instead of exiting, with
// the -c/--config flag every command takes.
func newFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("sei-relay "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("c", "", "configuration file (default: built-in defaults)")
	fs.StringVar(path, "config", "", "configuration file")
	return fs, path
}

// parse parses args, mapping flag errors to usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	return nil
}

// loadConfig loads path (or the defaults when path is empty) and validates
// it; every problem is a usage error.
func loadConfig(path string) (config.Config, error) {
	cfg := config.Default()
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return cfg, usageError{err}
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}
