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

// agreeMultiBase is agreeBase in the instances form: two instances, the
// second with its own secret file and exclusions.
func agreeMultiBase(t *testing.T, dir string) map[string]any {
	t.Helper()
	m := agreeBase(t, dir)
	sn := m["servicenow"].(map[string]any)
	delete(m, "servicenow")
	delete(m["relay"].(map[string]any), "integration")
	emea := map[string]any{
		"url":    "http://" + closedAddr(t),
		"auth":   map[string]any{"method": "basic", "username": "u2", "password_file": "sn-password"},
		"tables": map[string]any{"sys_user": map[string]any{"exclude_fields": []any{"email"}}},
	}
	m["instances"] = []any{
		map[string]any{"integration": "snow-prod", "servicenow": sn},
		map[string]any{"integration": "snow-emea", "servicenow": emea},
	}
	return m
}

// agreeMultiCases are bad (or good) values in the instances form: the key
// is set in instance 1's servicenow block unless it starts with "/" (then
// it is a top-level key, or an instance field with "/instances/N/").
var agreeMultiCases = []mutation{
	{key: "url", value: "https://bob:pw@emea.service-now.com", want: "instances[1].servicenow.url"},
	{key: "url", value: "", want: "instances[1].servicenow.url"},
	{key: "interval", value: "10s", want: "instances[1].servicenow.interval"},
	{key: "page_size", value: 0, want: "instances[1].servicenow.page_size"},
	{key: "auth.password_file", value: "missing", want: "instances[1].servicenow.auth.password_file"},
	{key: "auth.password", value: "both", want: "instances[1].servicenow.auth.password_file"},
	{key: "auth.username", value: "${SEI_AGREE_UNSET}", want: "instances[1].servicenow.auth.username"},
	{key: "proxy", value: "http://u:pw@proxy:3128", want: "instances[1].servicenow.proxy"},
	{key: "tables.incident.filter", value: "active=true^NQpriority=1", want: "instances[1].servicenow.tables.incident.filter"},
	{key: "exclude_fields", value: []any{"sys_id"}, want: "instances[1].servicenow.exclude_fields"},
	{key: "tables.sys_user.fields", value: []any{"bad field!"}, want: "instances[1].servicenow.tables.sys_user"},
	{key: "typo", value: "x", want: "instances[1].servicenow.typo"},
	{key: "/instances/1/integration", value: "Snow EMEA", want: "instances[1].integration"},
	{key: "/instances/1/integration", value: "snow-prod", want: "instances[1].integration"},
	{key: "/instances/1/integration", value: nil, want: "instances[1].integration"},
	{key: "/relay.integration", value: "sn", want: "relay.integration"},
	{key: "/servicenow.url", value: "https://acme.service-now.com", want: "servicenow"},
	// Accepted by every command:
	{key: "rate_limit", value: 5},
	{key: "auth.password", value: "pa$word$$", extra: map[string]any{"auth.password_file": nil}},
}

// setInstance sets key (dotted, inside instance i's servicenow block) in m.
func setInstance(m map[string]any, i int, key string, value any) {
	set(m["instances"].([]any)[i].(map[string]any)["servicenow"].(map[string]any), key, value)
}

// TestCommandsAgreeOnMultiConfig is TestCommandsAgreeOnConfig for the
// instances form: every rule of the single block applies to each
// instance, through the one config path, and every command names the
// instance's key.
func TestCommandsAgreeOnMultiConfig(t *testing.T) {
	for _, tc := range agreeMultiCases {
		t.Run(tc.key+"="+strings.ReplaceAll(yamlString(t, tc.value), "/", "∕"), func(t *testing.T) {
			dir := t.TempDir()
			m := agreeMultiBase(t, dir)
			for k, v := range tc.extra {
				setInstance(m, 1, k, v)
			}
			switch {
			case strings.HasPrefix(tc.key, "/instances/1/"):
				in := m["instances"].([]any)[1].(map[string]any)
				set(in, strings.TrimPrefix(tc.key, "/instances/1/"), tc.value)
			case strings.HasPrefix(tc.key, "/"):
				set(m, tc.key[1:], tc.value)
			default:
				setInstance(m, 1, tc.key, tc.value)
			}
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

// TestInstanceChoice: preview and login need --integration with several
// instances, and refuse one the configuration lacks, listing them.
func TestInstanceChoice(t *testing.T) {
	dir := t.TempDir()
	raw, err := yaml.Marshal(agreeMultiBase(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"preview", "incident"}, {"login"}, {"preview", "--integration", "snow-apac", "incident"}, {"login", "--integration", "snow-apac"}} {
		code, out, errOut := agentCmd(context.Background(), append([]string{args[0], "-c", path}, args[1:]...)...)
		if code != command.ExitUsage || !strings.Contains(errOut, "snow-prod, snow-emea") || !strings.Contains(errOut, "--integration") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}
