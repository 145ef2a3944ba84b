package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/forward"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// checkTimeout bounds each network step of validate: a dead host or
// proxy fails its check in seconds.
const checkTimeout = 10 * time.Second

// check is one line of `sei-agent validate`.
type check struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("validate", stdout)
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	checks := validateAll(ctx, *path)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checks); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(stdout, "%s %-22s %s\n", mark, c.Name, c.Detail)
		}
	}
	if !checks[0].OK && checks[0].Name == "config" {
		// An invalid configuration is exit 2, as for every command.
		return command.ExitError{Code: command.ExitUsage}
	}
	for _, c := range checks {
		if !c.OK {
			return command.ExitError{Code: command.ExitFailure}
		}
	}
	return nil
}

// validateAll runs every preflight check it can: a broken configuration
// stops before the network checks.
func validateAll(ctx context.Context, path string) []check {
	cfg, err := loadConfig(path)
	if err != nil {
		return []check{{"config", false, err.Error()}}
	}
	checks := []check{{"config", true, cfg.File}}
	checks = append(checks, checkDataDir(cfg)...)
	if cfg.Multi() {
		checks = append(checks, checkInstances(ctx, cfg)...)
	} else {
		checks = append(checks, checkBuffer(ctx, cfg))
		checks = append(checks, checkServiceNow(ctx, cfg)...)
	}
	checks = append(checks, checkRelay(ctx, cfg))
	if cfg.Multi() {
		checks = append(checks, checkEnrolled(cfg))
	}
	return checks
}

// checkInstances runs the buffer and ServiceNow checks of every instance
// of a multi-instance configuration, each check named after its instance
// ("snow-emea: servicenow auth"), so a failure says which one fails.
func checkInstances(ctx context.Context, cfg *config.Config) []check {
	var out []check
	for _, sub := range cfg.Split() {
		cs := append([]check{checkBuffer(ctx, sub)}, checkServiceNow(ctx, sub)...)
		for _, c := range cs {
			c.Name = sub.Relay.Integration + ": " + c.Name
			out = append(out, c)
		}
	}
	return out
}

func checkDataDir(cfg *config.Config) []check {
	dir := cfg.Agent.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return []check{{"data_dir", false, fmt.Sprintf("agent.data_dir %s: %v", dir, err)}}
	}
	f, err := os.CreateTemp(dir, ".validate-*")
	if err != nil {
		return []check{{"data_dir", false, fmt.Sprintf("agent.data_dir %s is not writable: %v", dir, err)}}
	}
	f.Close()
	os.Remove(f.Name())
	free, _, err := buffer.DiskSpace(dir)
	if err != nil {
		return []check{{"data_dir", false, fmt.Sprintf("free space of %s: %v", dir, err)}}
	}
	c := check{"data_dir", true, fmt.Sprintf("%s writable, %s free", dir, status.Bytes(int64(free)))}
	if int64(free) < int64(cfg.Agent.MinFreeBytes) {
		c.OK = false
		c.Detail = fmt.Sprintf("%s has %s free, less than agent.min_free_bytes (%s): the buffer would refuse writes",
			dir, status.Bytes(int64(free)), status.Bytes(int64(cfg.Agent.MinFreeBytes)))
	}
	return []check{c}
}

func checkServiceNow(ctx context.Context, cfg *config.Config) []check {
	tokens, release := borrowTokens(cfg)
	defer release()
	return checkServiceNowWith(ctx, cfg, tokens)
}

// checkServiceNowWith is checkServiceNow with the OAuth tokens given
// (hosted validate lends the relay's).
func checkServiceNowWith(ctx context.Context, cfg *config.Config, tokens servicenow.TokenStore) []check {
	// A preflight answers now: one attempt per request, each bounded, so a
	// dead host or proxy fails its check in seconds instead of retrying
	// as a poll does (eight attempts with backoff).
	cc := clientConfig(cfg, zerolog.Nop(), tokens)
	cc.MaxAttempts = 1
	cc.Timeout = min(cc.Timeout, checkTimeout)
	client, err := servicenow.New(cc)
	if err != nil {
		return []check{{"servicenow", false, err.Error()}}
	}
	var out []check
	pctx, cancel := context.WithTimeout(ctx, 3*checkTimeout) // dns, tcp and tls, then auth
	probe := client.Probe(pctx)
	cancel()
	authOK := false
	for _, c := range probe.Checks {
		if !c.OK && (c.Name == "dns" || c.Name == "tcp") {
			c.Detail = fmt.Sprintf("servicenow.url %s: %s", secret.RedactURL(cfg.ServiceNow.URL), c.Detail)
		}
		if !c.OK && cfg.ServiceNow.Proxy != "" && strings.Contains(c.Detail, "proxyconnect") {
			c.Detail = fmt.Sprintf("servicenow.proxy %s: %s", cfg.ServiceNow.Proxy, c.Detail)
		}
		authOK = authOK || (c.Name == "auth" && c.OK)
		out = append(out, check{"servicenow " + c.Name, c.OK, c.Detail})
	}
	// A skewed clock does not stop the table checks; a failed connection
	// or authentication does (every table would fail the same way).
	if !authOK {
		return out
	}
	for _, t := range syncTables(cfg) {
		tctx, cancel := context.WithTimeout(ctx, checkTimeout)
		fields, err := client.CheckTable(tctx, t)
		cancel()
		if err != nil {
			out = append(out, check{"table " + t.Name, false, err.Error()})
			continue
		}
		detail := fmt.Sprintf("readable; fields that leave: %s", strings.Join(fields, ","))
		if len(t.Exclude) > 0 {
			detail += fmt.Sprintf(" (excluded: %s)", strings.Join(t.Exclude, ","))
		}
		out = append(out, check{"table " + t.Name, true, detail})
	}
	return append(out, checkReconcile(ctx, client, cfg)...)
}

// checkRelay connects with the agent's credentials and measures a round trip.
func checkRelay(ctx context.Context, cfg *config.Config) check {
	opts := []nats.Option{
		nats.Name("sei-agent validate " + cfg.Agent.ID),
		nats.CustomInboxPrefix(wire.InboxPrefix(cfg.Relay.Tenant, cfg.Agent.ID)),
		nats.Timeout(checkTimeout),
		nats.NoReconnect(),
	}
	if cfg.Relay.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.Relay.CAFile))
	}
	cred, err := forward.CredentialOption(cfg.Relay.Credentials)
	if err != nil {
		return check{"relay", false, err.Error()}
	}
	opts = append(opts, cred)
	nc, err := nats.Connect(cfg.Relay.URL, opts...)
	shown := secret.RedactURL(cfg.Relay.URL)
	if err != nil {
		return check{"relay", false, fmt.Sprintf("connect to relay.url %s with relay.credentials %s: %v", shown, filepath.Base(cfg.Relay.Credentials), err)}
	}
	defer nc.Close()
	rtt, err := nc.RTT()
	if err != nil {
		return check{"relay", false, fmt.Sprintf("relay %s: %v", shown, err)}
	}
	return check{"relay", true, fmt.Sprintf("%s reachable, credentials accepted, round trip %s", shown, rtt.Round(time.Microsecond))}
}

// checkBuffer reads and verifies every buffered batch and state value. It
// never creates a buffer, never moves one aside and repairs nothing: it
// says what is damaged and what the agent will read again.
func checkBuffer(ctx context.Context, cfg *config.Config) check {
	dir := bufferDir(cfg)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return check{"buffer", true, fmt.Sprintf("none yet at %s (made at the first run)", dir)}
	}
	buf, err := openBuffer(cfg, zerolog.Nop())
	switch {
	case errors.Is(err, buffer.ErrDamaged):
		return check{"buffer", false, fmt.Sprintf("%v: the agent will move it aside to %s%s<time> and read every table again "+
			"from the relay's confirmations (or servicenow.lookback)", err, filepath.Base(dir), buffer.DamagedPrefix)}
	case err != nil && strings.Contains(err.Error(), "another process"), err != nil && strings.Contains(err.Error(), "Cannot acquire directory lock"):
		return check{"buffer", true, fmt.Sprintf("%s is in use by the running agent, which verifies each batch before it sends it", dir)}
	case err != nil:
		return check{"buffer", false, err.Error()}
	}
	defer buf.Close()
	rep, err := buf.Verify(ctx)
	if err != nil {
		return check{"buffer", false, err.Error()}
	}
	detail := fmt.Sprintf("%d batches, %s verified, %d state keys", rep.Batches, status.Bytes(rep.Bytes), rep.StateKeys)
	if moved, _ := buffer.MovedAside(dir); len(moved) > 0 {
		detail += fmt.Sprintf("; %d damaged buffer(s) moved aside earlier, kept for support: %s", len(moved), strings.Join(moved, ", "))
	}
	if len(rep.Repairs) > 0 {
		detail += fmt.Sprintf("; %d damaged range(s) waiting to be read again from ServiceNow", len(rep.Repairs))
	}
	if len(rep.Damaged) == 0 {
		return check{"buffer", true, detail}
	}
	var rereads []string
	for _, r := range rep.Reread {
		rereads = append(rereads, describeRange(r))
	}
	return check{"buffer", false, fmt.Sprintf("%s; DAMAGED: %s; the agent removes the damaged batches unsent and reads again: %s",
		detail, strings.Join(rep.Damaged, "; "), strings.Join(rereads, "; "))}
}

// describeRange names a batch's range for a person.
func describeRange(r buffer.Range) string {
	if r.Table == "" {
		return "every table from the relay's confirmation"
	}
	return fmt.Sprintf("%s from %s to %s", r.Table, cursorText(r.From), cursorText(r.To))
}

func cursorText(raw string) string {
	var c servicenow.Cursor
	if json.Unmarshal([]byte(raw), &c) != nil || c.Time == "" {
		return "?"
	}
	return c.Time
}
