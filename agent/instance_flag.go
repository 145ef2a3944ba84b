package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/relay/command"
)

// integrationFlag adds --integration to a command that works on one
// ServiceNow instance (preview, login).
func integrationFlag(fs *flag.FlagSet) *string {
	return fs.String("integration", "", "with several instances (instances:), the one to use, by its integration")
}

// chooseInstance returns the single-instance configuration cmd works on:
// cfg itself in the single-instance form (a --integration given must be
// relay.integration), else the instance named by --integration, which is
// required when there are several. A wrong or missing choice is a usage
// error listing the integrations.
func chooseInstance(cmd string, cfg *config.Config, integration string) (*config.Config, error) {
	subs := cfg.Split()
	if integration == "" {
		if len(subs) == 1 {
			return subs[0], nil
		}
		return nil, command.Usagef("%s: this configuration has several instances (%s): choose one with --integration",
			cmd, strings.Join(cfg.Integrations(), ", "))
	}
	for _, sub := range subs {
		if sub.Relay.Integration == integration {
			return sub, nil
		}
	}
	return nil, command.Usage(fmt.Errorf("%s: --integration %q is not in this configuration (it has %s)",
		cmd, integration, strings.Join(cfg.Integrations(), ", ")))
}
