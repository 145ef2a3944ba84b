package main

import (
	"context"
	"fmt"
	"io"

	"github.com/goccy/go-yaml"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// cmdHosted runs `sei-relay hosted enroll [-c FILE] --agent NAME [--out
// FILE]`: it writes the credentials of a hosted agent (`sei-agent
// hosted`), a user of the relay's account limited to the leases and the
// hosted subjects, and prints the hosted agent's relay: block.
func cmdHosted(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "enroll" {
		return command.Usagef("usage: sei-relay hosted enroll [-c FILE] --agent NAME [--out FILE]")
	}
	fs, path := newFlags("hosted enroll", stdout)
	agent := fs.String("agent", "", "the hosted agent's name (its hosted.name)")
	out := fs.String("out", "", "credentials file to write (default data_dir/credentials/hosted.NAME.creds)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if err := wire.CheckName("--agent", *agent); err != nil {
		return command.Usage(err)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	credsPath, err := credentialsPath(cfg, *out, "hosted."+*agent)
	if err != nil {
		return err
	}
	keys, err := enroll.LoadKeys(cfg.DataDir)
	if err != nil {
		return err
	}
	creds, err := keys.HostedUserCreds(*agent)
	if err != nil {
		return err
	}
	if err := enroll.WriteCredentials(credsPath, creds); err != nil {
		return err
	}
	ri, _ := readRunInfo(cfg.DataDir)
	url, ca := agentURL(cfg, ri, stderr)
	block := map[string]any{
		"hosted": map[string]string{"name": *agent, "data_dir": "/var/lib/sei-hosted"},
		"relay":  map[string]string{"url": url, "credentials": credsPath, "ca_file": ca},
	}
	text, err := yaml.MarshalWithOptions(block, yaml.Indent(2))
	if err != nil {
		return fmt.Errorf("encode hosted block: %w", err)
	}
	fmt.Fprintf(stdout, "# sei-agent hosted configuration for %q (copy the credentials and ca_file to its machine)\n", *agent)
	_, err = stdout.Write(text)
	return err
}
