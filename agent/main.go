// Command sei-agent polls ServiceNow's Table API, buffers what changed in a
// local Badger outbox and forwards it to the SEI relay over NATS JetStream.
//
// Usage:
//
//	sei-agent run      -c FILE          poll and forward until stopped (what the service runs)
//	sei-agent sync     -c FILE          one poll now; forward until everything is acknowledged
//	sei-agent reconcile -c FILE [--table T]  one completeness sweep now; forward until acknowledged
//	sei-agent validate -c FILE [--json] preflight checks, one line each
//	sei-agent status  [-c FILE] [--json] what is working and what is not
//	sei-agent preview  -c FILE TABLE    a few records exactly as they would leave
//	sei-agent login    -c FILE          OAuth authorization-code sign-in
//	sei-agent hosted   -c FILE          poll the relay's hosted (ServiceNow Cloud) integrations
//	sei-agent bundle   -c FILE -o FILE  support bundle (no secrets)
//	sei-agent install|uninstall|start|stop|restart -c FILE
//	sei-agent version
//
// With several ServiceNow instances (instances: in the configuration),
// preview and login take --integration I to choose one; the others work
// on every instance.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage or invalid configuration,
// 3 (status only) the agent is not running.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sei-edge/servicenow-edge/relay/command"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes are command's (0 ok, 1 failure, 2 usage or invalid
// configuration); status also exits 3 when the agent is not running
// (status.ExitCode).

func main() {
	privateFiles()
	applyMemoryLimit(1) // raised by openFleet for each more instance
	command.Main("sei-agent", run)
}

// run executes one command, reports its error and maps it to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	if !command.Silent(err) {
		fmt.Fprintf(stderr, "sei-agent: %v\n", err)
	}
	return command.Code(err)
}

const usage = `usage: sei-agent <command> [flags]

commands:
  run       -c FILE            poll and forward until stopped (what the service runs)
  sync      -c FILE            poll once now and forward until the relay acknowledged everything
  reconcile -c FILE [--table T]  sweep now: compare with ServiceNow, repair, forward until acknowledged
  validate  -c FILE [--json]   check configuration, ServiceNow, relay and disk
  status   [-c FILE] [--json]  show what is working and what is not
  preview   -c FILE TABLE      print a few records exactly as they would leave (--integration I: which instance)
  login     -c FILE            sign in to ServiceNow (OAuth authorization code; --integration I: which instance)
  hosted    -c FILE            poll the relay's hosted ServiceNow Cloud integrations (SEI side)
  bundle    -c FILE -o FILE    write a support bundle (no secrets)
  install | uninstall | start | stop | restart  -c FILE   manage the system service
  version                      print the version
`

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return command.Usage(errors.New("no command given"))
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "sync":
		return cmdSync(ctx, rest, stdout, stderr)
	case "reconcile":
		return cmdReconcile(ctx, rest, stdout, stderr)
	case "validate":
		return cmdValidate(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "preview":
		return cmdPreview(ctx, rest, stdout, stderr)
	case "login":
		return cmdLogin(ctx, rest, stdout, stderr)
	case "hosted":
		return cmdHosted(ctx, rest, stdout, stderr)
	case "bundle":
		return cmdBundle(ctx, rest, stdout, stderr)
	case "install", "uninstall", "start", "stop", "restart":
		return cmdService(ctx, cmd, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "sei-agent %s\n", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return command.Usagef("unknown command %q", cmd)
}
