package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sei-edge/servicenow-edge/relay/config"
)

// errHelp is returned after -h printed a command's flags: exit 0.
var errHelp = errors.New("help shown")

// newFlags returns a flag set that reports errors instead of exiting, with
// the -c/--config flag every command takes; -h prints the flags on stdout.
func newFlags(name string, stdout io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("sei-relay "+name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nflags:\n", fs.Name())
		fs.PrintDefaults()
	}
	path := fs.String("c", "", "configuration file (default: built-in defaults)")
	fs.StringVar(path, "config", "", "configuration file")
	return fs, path
}

// parse parses args: -h prints the flags (errHelp), a bad flag is a usage
// error that points at -h.
func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the flag package would print the usage on any error
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return errHelp
	case err != nil:
		return usageError{fmt.Errorf("%w (%s -h lists the flags)", err, fs.Name())}
	}
	return nil
}

// loadConfig loads and validates path, or the defaults when path is empty;
// an invalid configuration is a usage error (exit 2), the same for every
// command.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		cfg := config.Default()
		if err := cfg.Validate(); err != nil {
			return cfg, usageError{err}
		}
		return cfg, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}
