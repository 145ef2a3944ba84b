// Command sei-relay is the cloud side of SEI ServiceNow Edge: it runs (or
// connects to) NATS JetStream, consumes the agents' batches into the record
// store and serves the HTTP API. Its other commands manage the agents
// allowed to connect and the quarantined batches.
//
// Usage:
//
//	sei-relay run [-c FILE]
//	sei-relay enroll [-c FILE] --tenant T --integration I --agent A [--out FILE] [--replace]
//	sei-relay revoke [-c FILE] --tenant T --agent A
//	sei-relay agents [-c FILE] [--json]
//	sei-relay quarantine [-c FILE] list [--json]
//	sei-relay quarantine [-c FILE] replay ID
//
// Exit codes: 0 success, 1 runtime failure, 2 usage or invalid configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError marks errors that exit with code 2: bad flags, an invalid
// configuration.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage:
  sei-relay run [-c FILE]
  sei-relay enroll [-c FILE] --tenant T --integration I --agent A [--out FILE] [--replace]
  sei-relay revoke [-c FILE] --tenant T --agent A
  sei-relay agents [-c FILE] [--json]
  sei-relay quarantine [-c FILE] list [--json]
  sei-relay quarantine [-c FILE] replay ID
  sei-relay health [-c FILE]
  sei-relay version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stderr)
	case "enroll":
		err = cmdEnroll(args[1:], stdout, stderr)
	case "revoke":
		err = cmdRevoke(args[1:], stdout)
	case "agents":
		err = cmdAgents(args[1:], stdout)
	case "quarantine":
		err = cmdQuarantine(ctx, args[1:], stdout)
	case "health":
		err = cmdHealth(ctx, args[1:], stdout)
	case "version", "--version":
		fmt.Fprintf(stdout, "sei-relay %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = usagef("unknown command %q\n%s", args[0], usage)
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "sei-relay %s: %v\n", args[0], err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "sei-relay %s: %v\n", args[0], err)
		return exitRuntime
	}
}
