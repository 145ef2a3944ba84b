// Package command holds the command-line conventions sei-agent and
// sei-relay share: exit codes, the error that means "usage or invalid
// configuration", flag sets whose -h prints the flags and exits 0, and
// Main, which runs a command line under the interrupt rules.
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sei-edge/servicenow-edge/relay/interrupt"
)

// Exit codes of both programs.
const (
	ExitOK      = 0
	ExitFailure = 1 // runtime failure
	ExitUsage   = 2 // usage or invalid configuration; stops systemd's restarts
)

// UsageError marks a mistake on the command line or in the configuration:
// exit code 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage marks err as a usage error.
func Usage(err error) error { return UsageError{Err: err} }

// Usagef is Usage(fmt.Errorf(...)).
func Usagef(format string, args ...any) error { return Usage(fmt.Errorf(format, args...)) }

// ExitError ends a command with a specific exit code and nothing more to
// print (status's 1 and 3, validate's 2 after its own report, 0 after -h).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit %d", e.Code) }

// Code maps a command's error to the process exit code.
func Code(err error) int {
	var ee ExitError
	var ue UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitFailure
}

// Silent reports whether err needs no message (an ExitError).
func Silent(err error) bool {
	var ee ExitError
	return err == nil || errors.As(err, &ee)
}

// Flags returns a flag set named name ("sei-agent sync") that reports
// errors instead of exiting; -h prints its flags on stdout.
func Flags(name string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nflags:\n", fs.Name())
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args: -h prints the flags and returns ExitError{ExitOK}; a
// bad flag is a UsageError that points at -h.
func Parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the flag package would print the usage on any error
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return ExitError{Code: ExitOK}
	case err != nil:
		return Usage(fmt.Errorf("%w (%s -h lists the flags)", err, fs.Name()))
	}
	return nil
}

// ParseFlagsOnly is Parse for a command that takes no arguments besides
// its flags: one left over is a usage error.
func ParseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// Main runs a program's command line under the interrupt rules shared by
// both programs (the first SIGINT or SIGTERM cancels ctx; a second aborts
// with ExitFailure) and exits with run's code.
func Main(program string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := interrupt.Context(context.Background(), func() {
		fmt.Fprintf(os.Stderr, "%s: second signal: aborting without a graceful stop\n", program)
		os.Exit(ExitFailure)
	})
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
