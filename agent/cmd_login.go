package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
)

// cmdLogin runs the OAuth authorization-code flow and stores the tokens in
// the agent's state, where the service finds them. The service must be
// stopped: it holds the state's lock.
func cmdLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("login", stdout)
	integration := integrationFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	all, err := loadConfig(*path)
	if err != nil {
		return err
	}
	cfg, err := chooseInstance("login", all, *integration)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Agent.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent.data_dir: %w", err)
	}
	log, closer, err := newLogger(all, stderr, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	// Only the buffer, which keeps the tokens: the first login may create it.
	buf, err := openBuffer(cfg, log)
	if err != nil {
		return fmt.Errorf("%w (stop the sei-agent service before `sei-agent login`: it holds %s)", err, bufferDir(cfg))
	}
	defer buf.Close()
	tok, err := servicenow.Login(ctx, clientConfig(cfg, log, &tokenStore{buf: buf}), stdout, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed in: tokens stored in %s (access token valid until %s)\n", cfg.Agent.DataDir, tok.Expiry.Format("2006-01-02 15:04:05 MST"))
	return nil
}
