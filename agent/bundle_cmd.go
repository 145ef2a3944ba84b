package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/bundle"
	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/logging"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// cmdBundle writes a support bundle: status (live, or what the data
// directory shows when the agent is down), the redacted configuration,
// recent logs, figures and OS and service facts. Every secret the agent
// knows is scrubbed from every file.
func cmdBundle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("bundle", stderr)
	out := fs.String("o", "sei-agent-bundle.zip", "output file")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if cfg == nil || cfg.Agent.DataDir == "" {
		// Without a data directory there is nothing to collect.
		return usageError{fmt.Errorf("bundle needs agent.data_dir from the configuration: %w", err)}
	}
	snap, _, _ := agentStatus(ctx, cfg)
	logFile, _ := logging.FilePath(logging.Options{File: cfg.Log.File, DataDir: cfg.Agent.DataDir})
	var excluded []string
	for _, t := range syncTables(cfg) {
		excluded = append(excluded, t.Exclude...)
	}
	err = bundle.Write(ctx, *out, bundle.Input{
		Status:         snap,
		RedactedConfig: cfg.Redacted(),
		Secrets:        bundleSecrets(cfg),
		ExcludedFields: excluded,
		LogFiles:       bundle.LogFiles(logFile),
		Figures:        map[string]any{"buffer": snap.Buffer, "relay": snap.Relay, "tables": snap.ServiceNow.Tables},
		DataDir:        cfg.Agent.DataDir,
		ServiceState:   snap.Agent.ServiceState,
		Version:        version,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "support bundle written to %s\n", *out)
	return nil
}

// bundleSecrets is every secret the agent may hold: configured passwords
// and client secrets, the relay credentials (NKEY seed) and, when the
// agent is stopped, the stored OAuth tokens.
func bundleSecrets(cfg *config.Config) []string {
	secrets := cfg.Secrets()
	if raw, err := os.ReadFile(cfg.Relay.Credentials); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				secrets = append(secrets, line)
			}
		}
	}
	buf, err := buffer.Open(buffer.Options{Dir: bufferDir(cfg), MaxBytes: cfg.Agent.BufferMaxBytes, Logger: zerolog.Nop()})
	if err != nil {
		return secrets // running (locked) or no buffer yet
	}
	defer buf.Close()
	if tok, err := (&tokenStore{buf: buf}).LoadToken(context.Background()); err == nil && tok != nil {
		for _, s := range []string{tok.AccessToken, tok.RefreshToken} {
			if s != "" {
				secrets = append(secrets, s)
			}
		}
	}
	return secrets
}
