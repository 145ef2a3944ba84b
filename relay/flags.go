package main

import (
	"flag"
	"io"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/config"
)

// newFlags returns a flag set with the -c/--config flag every command
// takes; -h prints the flags on stdout (command.Flags).
func newFlags(name string, stdout io.Writer) (*flag.FlagSet, *string) {
	fs := command.Flags("sei-relay "+name, stdout)
	path := fs.String("c", "", "configuration file (default: built-in defaults)")
	fs.StringVar(path, "config", "", "configuration file")
	return fs, path
}

// parse is command.Parse.
func parse(fs *flag.FlagSet, args []string) error { return command.Parse(fs, args) }

// loadConfig loads and validates path, or the defaults when path is empty;
// an invalid configuration is a usage error (exit 2), the same for every
// command.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		cfg := config.Default()
		if err := cfg.Validate(); err != nil {
			return cfg, command.Usage(err)
		}
		return cfg, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, command.Usage(err)
	}
	return cfg, nil
}
