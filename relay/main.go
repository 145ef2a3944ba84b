package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sei-edge/servicenow-edge/relay/command"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage:
  sei-relay run [-c FILE]
  sei-relay enroll [-c FILE] --tenant T --integration I --agent A [--out FILE] [--replace]
  sei-relay hosted enroll [-c FILE] --agent NAME [--out FILE]
  sei-relay revoke [-c FILE] --tenant T --agent A
  sei-relay agents [-c FILE] [--json]
  sei-relay quarantine [-c FILE] list [--tenant T] [--json]
  sei-relay quarantine [-c FILE] show [--tenant T] [--raw] ID
  sei-relay quarantine [-c FILE] replay [--tenant T] ID
  sei-relay token create [-c FILE] --tenant T [--name N]
  sei-relay token list [-c FILE] [--json]
  sei-relay token revoke [-c FILE] ID
  sei-relay ask [-c FILE] --tenant T --agent A status|validate|preview|resync|bundle
      [--integration I] [--table X] [--limit N] [--from TIME] [-o FILE]
  sei-relay health [-c FILE]
  sei-relay version
`

func main() {
	command.Main("sei-relay", run)
}

// run executes one command and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return command.ExitUsage
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "enroll":
		err = cmdEnroll(ctx, args[1:], stdout, stderr)
	case "hosted":
		err = cmdHosted(ctx, args[1:], stdout, stderr)
	case "revoke":
		err = cmdRevoke(ctx, args[1:], stdout)
	case "agents":
		err = cmdAgents(ctx, args[1:], stdout)
	case "token":
		err = cmdToken(ctx, args[1:], stdout)
	case "quarantine":
		err = cmdQuarantine(ctx, args[1:], stdout)
	case "ask":
		err = cmdAsk(ctx, args[1:], stdout)
	case "health":
		err = cmdHealth(ctx, args[1:], stdout)
	case "version", "--version":
		fmt.Fprintf(stdout, "sei-relay %s\n", version)
		return command.ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return command.ExitOK
	default:
		err = command.Usagef("unknown command %q\n%s", args[0], usage)
	}
	if !command.Silent(err) {
		fmt.Fprintf(stderr, "sei-relay %s: %v\n", args[0], err)
	}
	return command.Code(err)
}
