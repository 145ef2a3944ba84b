package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sei-edge/servicenow-edge/agent/bundle"
	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/logging"
	"github.com/sei-edge/servicenow-edge/agent/service"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/command"
)

// cmdBundle writes a support bundle: status (live, or what the data
// directory shows when the agent is down), the redacted configuration,
// recent logs, figures and OS and service facts. Every secret the agent
// knows is scrubbed from every file.
func cmdBundle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("bundle", stdout)
	out := fs.String("o", "sei-agent-bundle.zip", "output file")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if cfg == nil || cfg.Agent.DataDir == "" {
		// Without a data directory there is nothing to collect.
		return command.Usage(fmt.Errorf("bundle needs agent.data_dir from the configuration: %w", err))
	}
	snap, err := liveStatus(ctx, cfg)
	var buf *buffer.Buffer // the stopped agent's: offline figures and stored tokens
	if err != nil {
		var bufErr error
		buf, bufErr = openExistingBuffer(cfg)
		if buf != nil {
			defer buf.Close()
		}
		snap = offlineSnapshot(cfg, err, buf, bufErr)
	}
	if err := writeBundle(ctx, cfg, *out, snap, buf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "support bundle written to %s\n", *out)
	return nil
}

// writeBundle writes cfg's support bundle to out with the status snap;
// buf is the agent's buffer when the caller holds it (the stopped agent's,
// or the running agent's own, for a remote request), whose stored OAuth
// tokens are scrubbed too; nil otherwise.
func writeBundle(ctx context.Context, cfg *config.Config, out string, snap *status.Snapshot, buf *buffer.Buffer) error {
	logFile, _ := logging.FilePath(logOptions(cfg))
	var excluded []string
	for _, t := range syncTables(cfg) {
		excluded = append(excluded, t.Exclude...)
	}
	return bundle.Write(ctx, out, bundle.Input{
		Status:         snap,
		RedactedConfig: cfg.Redacted(),
		Secrets:        bundleSecrets(ctx, cfg, buf),
		ExcludedFields: excluded,
		LogFiles:       bundle.LogFiles(logFile),
		Figures: map[string]any{"buffer": snap.Buffer, "relay": snap.Relay, "tables": snap.ServiceNow.Tables,
			"damaged_buffers": movedAsideListing(bufferDir(cfg))},
		DataDir:      cfg.Agent.DataDir,
		ServiceState: snap.Agent.ServiceState,
		ServiceFacts: serviceFacts(),
		Version:      version,
	})
}

// serviceFacts are what the bundle says of the service manager beyond the
// service's state.
func serviceFacts() map[string]string {
	if p := service.Platform(); p != "" {
		return map[string]string{"init_system": p}
	}
	return nil
}

// bundleSecrets is every secret the agent may hold: configured passwords
// and client secrets, the relay credentials (NKEY seed) and the OAuth
// tokens stored in buf, the stopped agent's buffer (nil while the agent
// runs, or when it has none).
func bundleSecrets(ctx context.Context, cfg *config.Config, buf *buffer.Buffer) []string {
	secrets := cfg.Secrets()
	if raw, err := os.ReadFile(cfg.Relay.Credentials); err == nil {
		secrets = append(secrets, string(raw)) // the scrubber masks each line too
	}
	if buf == nil {
		return secrets
	}
	if tok, err := (&tokenStore{buf: buf}).LoadToken(ctx); err == nil && tok != nil {
		for _, s := range []string{tok.AccessToken, tok.RefreshToken} {
			if s != "" {
				secrets = append(secrets, s)
			}
		}
	}
	return secrets
}

// movedBuffer lists one damaged buffer the agent moved aside: its files'
// names and sizes, never their contents (they hold ServiceNow records).
type movedBuffer struct {
	Dir   string      `json:"dir"`
	Files []movedFile `json:"files"`
	Error string      `json:"error,omitempty"`
}

type movedFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// movedAsideListing lists the buffers moved aside beside dir; nil when
// none.
func movedAsideListing(dir string) []movedBuffer {
	dirs, _ := buffer.MovedAside(dir)
	var out []movedBuffer
	for _, d := range dirs {
		mb := movedBuffer{Dir: d}
		entries, err := os.ReadDir(d)
		if err != nil {
			mb.Error = err.Error()
		}
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
				mb.Files = append(mb.Files, movedFile{Name: e.Name(), Size: fi.Size()})
			}
		}
		out = append(out, mb)
	}
	return out
}
