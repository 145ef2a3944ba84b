package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestRefusedAuthorization(t *testing.T) {
	for _, tc := range []struct {
		name string
		sn   status.ServiceNow
		want string
	}{
		{"healthy", status.ServiceNow{Tables: []status.TableStatus{{Name: "incident"}}}, ""},
		{"other error", status.ServiceNow{Tables: []status.TableStatus{{Name: "incident", LastError: "fetch incident page 1: 503"}}}, ""},
		{"refresh refused in a table", status.ServiceNow{Tables: []status.TableStatus{{Name: "incident",
			LastError: "get OAuth token from https://x/oauth_token.do: the refresh token was refused (expired or revoked): run `sei-agent login`"}}},
			"the refresh token was refused (expired or revoked)"},
		{"no token as the cycle's auth error", status.ServiceNow{AuthError: "no valid OAuth token for the authorization_code grant"}, "no valid OAuth token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusedAuthorization(tc.sn); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPipelineConfig: a hosted integration becomes the configuration an
// on-prem admin would write, checked on the same path; a bad one is
// refused naming the key.
func TestPipelineConfig(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "own.creds")
	writePrivate(creds, []byte("SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4"))
	h := &hostedAgent{cfg: &hostedConfig{Hosted: hostedSection{Name: "h1", DataDir: dir},
		Relay: hostedRelay{URL: "nats://127.0.0.1:4222", Credentials: creds}}, log: zerolog.Nop()}
	off := false
	p := wire.HostedPipeline{ID: "acme.snow", Tenant: "acme", Name: "snow", URL: "https://acme.service-now.com", Agent: "hosted-snow",
		Auth:          wire.HostedAuth{Method: "basic", Username: "sei", Password: "pw"},
		ExcludeFields: []string{"description"}, Interval: "2h",
		Tables: map[string]wire.HostedTable{"sys_audit": {Enabled: &off}, "incident": {ExcludeFields: []string{"close_notes"}}}}
	cfg, err := h.pipelineConfig(p, filepath.Join(dir, "p"), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Relay.Tenant != "acme" || cfg.Relay.Integration != "snow" || cfg.Agent.ID != "hosted-snow" || cfg.Relay.Credentials != creds ||
		cfg.ServiceNow.Interval.D().Hours() != 2 || cfg.ServiceNow.Auth.Password.Reveal() != "pw" {
		t.Errorf("pipeline config: %+v", cfg)
	}
	for _, table := range tableNames(cfg) {
		if table == "sys_audit" {
			t.Error("a disabled table is synced")
		}
	}
	p.Tables = map[string]wire.HostedTable{"incident": {ExcludeFields: []string{"sys_id"}}}
	if _, err := h.pipelineConfig(p, filepath.Join(dir, "p"), ""); err == nil || !strings.Contains(err.Error(), "acme.snow") {
		t.Errorf("excluding sys_id: %v", err)
	}
}

func TestPipelineDirFitsTheSocket(t *testing.T) {
	long := "acme-" + strings.Repeat("t", 58) + "." + strings.Repeat("n", 56)
	for _, base := range []string{"/var/lib/sei-hosted", "/srv/" + strings.Repeat("d", 40)} {
		for _, id := range []string{"acme.snow", long} {
			d := pipelineDir(base, id)
			if len(d)+socketRoom > maxSocketPath {
				t.Errorf("%s: %d bytes", d, len(d)+socketRoom)
			}
			if pipelineDir(base, id) != d {
				t.Error("not deterministic")
			}
		}
	}
	if d := pipelineDir("/var/lib/sei-hosted", "acme.snow"); d != "/var/lib/sei-hosted/integrations/acme.snow" {
		t.Errorf("a short id is not readable: %s", d)
	}
	if pipelineDir("/x", long) == pipelineDir("/x", long+"2") {
		t.Error("two long ids share a folder")
	}
	c := &hostedConfig{Hosted: hostedSection{Name: "h1", DataDir: "/" + strings.Repeat("d", 80)}}
	var p confload.Problems
	c.check(&p)
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "hosted.data_dir: must be at most") {
		t.Errorf("a long hosted.data_dir: %v", err)
	}
}

func TestHostedConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "h.yaml")
	os.WriteFile(cfg, []byte("hosted: {name: \"H 1\"}\nrelay: {url: \"tls://u:pw-SEKRIT@relay:4222\"}\nservicenow: {url: x}\n"), 0o600)
	code, _, stderr := agentCmd(t.Context(), "hosted", "-c", cfg)
	if code != 2 || !strings.Contains(stderr, "servicenow") || strings.Contains(stderr, "SEKRIT") {
		t.Errorf("unknown key: exit %d\n%s", code, stderr)
	}
	os.WriteFile(cfg, []byte("hosted: {name: \"H 1\"}\nrelay: {url: \"tls://u:pw-SEKRIT@relay:4222\"}\n"), 0o600)
	code, _, stderr = agentCmd(t.Context(), "hosted", "-c", cfg)
	for _, key := range []string{"hosted.name", "hosted.data_dir", "relay.url", "relay.credentials"} {
		if code != 2 || !strings.Contains(stderr, key) {
			t.Errorf("exit %d, stderr does not name %s:\n%s", code, key, stderr)
		}
	}
	if strings.Contains(stderr, "SEKRIT") {
		t.Errorf("the error shows the password: %s", stderr)
	}
}
