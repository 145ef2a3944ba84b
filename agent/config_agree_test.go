package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/sei-edge/servicenow-edge/relay/command"
)

// agreeBase is a valid configuration whose ServiceNow and relay addresses
// refuse connections, so validate's network checks fail fast (exit 1) and
// nothing is reached. Files it names are created in dir.
func agreeBase(t *testing.T, dir string) map[string]any {
	t.Helper()
	for _, f := range []string{"sn-password", "seed.nk", "ca.pem", "proxy-password", "client-secret"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]any{
		"agent": map[string]any{"id": "edge-agree", "data_dir": "data"},
		"servicenow": map[string]any{
			"url":    "http://" + closedAddr(t),
			"auth":   map[string]any{"method": "basic", "username": "u", "password_file": "sn-password"},
			"tables": map[string]any{"incident": map[string]any{"exclude_fields": []any{"close_notes"}}},
		},
		"relay": map[string]any{"url": "nats://" + closedAddr(t), "credentials": "seed.nk", "tenant": "acme", "integration": "sn"},
	}
}

// set sets the dotted key in m (creating maps on the way); value nil
// deletes it.
func set(m map[string]any, key string, value any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	if value == nil {
		delete(m, parts[len(parts)-1])
		return
	}
	m[parts[len(parts)-1]] = value
}

// mutation changes one key of agreeBase; want is the problem's key path
// ("" for a configuration every command accepts).
type mutation struct {
	key   string
	value any
	extra map[string]any // further keys the case needs
	want  string
}

// closedProxy stands for a proxy URL nothing listens on.
const closedProxy = "http://closed-proxy"

// agreeCases is one bad (or good) value for every configuration key.
var agreeCases = []mutation{
	{key: "agent.id", value: "Edge 01", want: "agent.id"},
	{key: "agent.data_dir", value: "", want: "agent.data_dir"},
	{key: "agent.buffer_max_bytes", value: "1MiB", want: "agent.buffer_max_bytes"},
	{key: "agent.buffer_max_bytes", value: "lots", want: "agent.buffer_max_bytes"},
	{key: "agent.min_free_bytes", value: -1, want: "agent.min_free_bytes"},
	{key: "agent.idd", value: "x", want: "agent.idd"},
	{key: "servicenow.url", value: "", want: "servicenow.url"},
	{key: "servicenow.url", value: "ftp://acme", want: "servicenow.url"},
	{key: "servicenow.url", value: "https://acme.service-now.com/now/nav", want: "servicenow.url"},
	{key: "servicenow.url", value: "https://bob:pw@acme.service-now.com", want: "servicenow.url"},
	{key: "servicenow.type", value: "mainframe", want: "servicenow.type"},
	{key: "servicenow.auth.method", value: "kerberos", want: "servicenow.auth.method"},
	{key: "servicenow.auth.username", value: nil, want: "servicenow.auth.username"},
	{key: "servicenow.auth.password_file", value: "missing", want: "servicenow.auth.password_file"},
	{key: "servicenow.auth.password", value: "both", want: "servicenow.auth.password_file"},
	{key: "servicenow.auth.grant", value: "implicit", extra: map[string]any{"servicenow.auth.method": "oauth", "servicenow.auth.client_id": "c", "servicenow.auth.client_secret_file": "client-secret"}, want: "servicenow.auth.grant"},
	{key: "servicenow.auth.client_id", value: nil, extra: map[string]any{"servicenow.auth.method": "oauth", "servicenow.auth.client_secret_file": "client-secret"}, want: "servicenow.auth.client_id"},
	{key: "servicenow.auth.client_secret_file", value: "missing", extra: map[string]any{"servicenow.auth.method": "oauth", "servicenow.auth.client_id": "c"}, want: "servicenow.auth.client_secret_file"},
	{key: "servicenow.auth.client_secret", value: nil, extra: map[string]any{"servicenow.auth.method": "oauth", "servicenow.auth.client_id": "c"}, want: "servicenow.auth.client_secret"},
	{key: "servicenow.auth.redirect_url", value: "https://example.com/cb", extra: map[string]any{"servicenow.auth.method": "oauth", "servicenow.auth.grant": "authorization_code", "servicenow.auth.client_id": "c", "servicenow.auth.client_secret_file": "client-secret"}, want: "servicenow.auth.redirect_url"},
	{key: "servicenow.auth.refresh_token_lifetime", value: "5m", extra: map[string]any{"servicenow.auth.method": "oauth", "servicenow.auth.grant": "client_credentials", "servicenow.auth.client_id": "c", "servicenow.auth.client_secret_file": "client-secret"}, want: "servicenow.auth.refresh_token_lifetime"},
	{key: "servicenow.ca_file", value: "missing.pem", want: "servicenow.ca_file"},
	{key: "servicenow.proxy", value: "http://u:pw@proxy:3128", want: "servicenow.proxy"},
	{key: "servicenow.proxy", value: "proxy:3128", want: "servicenow.proxy"},
	{key: "servicenow.proxy_username", value: "pu", want: "servicenow.proxy_username"},
	{key: "servicenow.proxy_password", value: "pp", extra: map[string]any{"servicenow.proxy": "http://proxy:3128"}, want: "servicenow.proxy_password"},
	{key: "servicenow.proxy_password_file", value: "missing", extra: map[string]any{"servicenow.proxy": "http://proxy:3128", "servicenow.proxy_username": "pu"}, want: "servicenow.proxy_password_file"},
	{key: "servicenow.insecure_skip_verify", value: "maybe", want: "servicenow.insecure_skip_verify"},
	{key: "servicenow.interval", value: "10s", want: "servicenow.interval"},
	{key: "servicenow.lookback", value: "0s", want: "servicenow.lookback"},
	{key: "servicenow.overlap", value: "2h", want: "servicenow.overlap"},
	{key: "servicenow.lag", value: "1h", want: "servicenow.lag"},
	{key: "servicenow.timeout", value: "1ms", want: "servicenow.timeout"},
	{key: "servicenow.page_size", value: 0, want: "servicenow.page_size"},
	{key: "servicenow.rate_limit", value: -1, want: "servicenow.rate_limit"},
	{key: "servicenow.exclude_fields", value: "description", want: "servicenow.exclude_fields"},
	{key: "servicenow.exclude_fields", value: []any{"bad field!"}, want: "servicenow.tables"},
	{key: "servicenow.tables.Bad-Table", value: map[string]any{}, want: "servicenow.tables.Bad-Table"},
	{key: "servicenow.tables.incident.enabled", value: "perhaps", want: "servicenow.tables.incident.enabled"},
	{key: "servicenow.tables.incident.field", value: "opened_at", want: "servicenow.tables.incident.field"},
	{key: "servicenow.tables.incident.filter", value: "active=true^NQpriority=1", want: "servicenow.tables.incident.filter"},
	{key: "servicenow.tables.incident.fields", value: []any{"number", "bad field!"}, want: "servicenow.tables.incident"},
	{key: "servicenow.tables.incident.exclude_fields", value: []any{"bad field!"}, want: "servicenow.tables.incident"},
	{key: "relay.url", value: "http://relay:4222", want: "relay.url"},
	{key: "relay.url", value: "tls://agent:pw@relay:4222", want: "relay.url"},
	{key: "relay.credentials", value: nil, want: "relay.credentials"},
	{key: "relay.credentials", value: "missing.nk", want: "relay.credentials"},
	{key: "relay.ca_file", value: "missing.pem", want: "relay.ca_file"},
	{key: "relay.tenant", value: "Acme", want: "relay.tenant"},
	{key: "relay.integration", value: "", want: "relay.integration"},
	{key: "log.level", value: "loud", want: "log.level"},
	{key: "log.file", value: "/dev/null/sei-agent.log", want: "log.file"},
	{key: "status.backlog_age", value: "1s", want: "status.backlog_age"},
	{key: "status.relay_degraded", value: "0s", want: "status.relay_degraded"},
	{key: "status.relay_failing", value: "10s", want: "status.relay_failing"},
	{key: "status.relay_degraded", value: "${SEI_AGREE_UNSET}", want: "status.relay_degraded"},
	{key: "servicenow.auth.username", value: "${SEI_AGREE_UNSET}", want: "servicenow.auth.username"},
	{key: "remote_requests.allow", value: []any{"status", "shell"}, want: "remote_requests.allow"},
	{key: "remote_requests.allow", value: []any{"status", "status"}, want: "remote_requests.allow"},
	{key: "remote_requests.allow", value: "status", want: "remote_requests.allow"},
	{key: "remote_requests.deny", value: []any{"bundle"}, want: "remote_requests.deny"},
	// Accepted by every command:
	{key: "agent.buffer_max_bytes", value: "8GiB"},
	{key: "servicenow.lookback", value: "30d"},
	{key: "servicenow.auth.password", value: "pa$word$$", extra: map[string]any{"servicenow.auth.password_file": nil}},
	{key: "servicenow.proxy", value: closedProxy, extra: map[string]any{"servicenow.proxy_username": "pu", "servicenow.proxy_password_file": "proxy-password"}},
	{key: "servicenow.tables.incident.filter", value: "active=true"},
	{key: "remote_requests.allow", value: []any{"status", "validate", "preview", "resync", "bundle"}},
	{key: "remote_requests.allow", value: []any{}},
}

// TestCommandsAgreeOnConfig: validate, run and install (and every other
// command that needs a valid configuration) accept and refuse the same
// configurations: a bad value of any key is exit 2 from each, naming the
// key; a good one passes each command's configuration stage. Before, a
// config install accepted could be refused by run, and validate reported
// some as a ServiceNow failure (exit 1).
func TestCommandsAgreeOnConfig(t *testing.T) {
	for _, tc := range agreeCases {
		name := tc.key + "=" + strings.ReplaceAll(yamlString(t, tc.value), "/", "∕")
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			m := agreeBase(t, dir)
			for k, v := range tc.extra {
				set(m, k, v)
			}
			value := tc.value
			if value == closedProxy { // a proxy that refuses at once: validate stays fast
				value = "http://" + closedAddr(t)
			}
			set(m, tc.key, value)
			raw, err := yaml.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "agent.yaml")
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				checkAccepted(t, path)
				return
			}
			for _, args := range [][]string{
				{"validate"}, {"run"}, {"install"}, {"sync"}, {"preview", "incident"}, {"login"}, {"start"}, {"restart"},
			} {
				code, stdout, stderr := agentCmd(context.Background(), append([]string{args[0], "-c", path}, args[1:]...)...)
				if code != command.ExitUsage {
					t.Errorf("%s: exit %d, want 2\n%s%s", args[0], code, stdout, stderr)
					continue
				}
				if !strings.Contains(stdout+stderr, tc.want) {
					t.Errorf("%s: the error does not name %s:\n%s%s", args[0], tc.want, stdout, stderr)
				}
			}
		})
	}
}

// checkAccepted: validate gets past its config check, run starts, and
// the configuration stage install runs accepts it. Both commands get a
// cancelled context, so the network checks and the agent stop at once
// (exit 1 or 0, never 2).
func checkAccepted(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, out, errOut := agentCmd(ctx, "validate", "-c", path)
	if code == command.ExitUsage || !strings.HasPrefix(out, "ok   config") {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := agentCmd(ctx, "run", "-c", path); code == command.ExitUsage {
		t.Errorf("run: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := loadConfig(path); err != nil { // what install runs before touching the system
		t.Errorf("install's configuration stage: %v", err)
	}
}

func yamlString(t *testing.T, v any) string {
	if v == nil {
		return "unset"
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
