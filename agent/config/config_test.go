package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeExample copies configs/agent.example.yaml into dir with the files it
// names, so it loads as an admin's would.
func writeExample(t *testing.T, dir string) string {
	t.Helper()
	raw, err := os.ReadFile("../../configs/agent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"edge-01.nk", "relay-ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExampleLoads(t *testing.T) {
	t.Setenv("SN_PASSWORD", "s3cret-from-env")
	dir := t.TempDir()
	c, err := Load(writeExample(t, dir))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if got := c.ServiceNow.Auth.Password.Reveal(); got != "s3cret-from-env" {
		t.Errorf("password = %q, want the env value", got)
	}
	if c.Agent.DataDir != filepath.Join(dir, "sei-agent-data") {
		t.Errorf("data_dir = %q, want it resolved against the file's folder", c.Agent.DataDir)
	}
	if time.Duration(c.ServiceNow.Lookback) != 90*24*time.Hour {
		t.Errorf("lookback = %v", time.Duration(c.ServiceNow.Lookback))
	}
	if got := c.ServiceNow.Tables["incident"].ExcludeFields; len(got) != 1 || got[0] != "close_notes" {
		t.Errorf("incident exclude_fields = %v", got)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Setenv("SN_PASSWORD", "hunter2-secret")
	c, err := Load(writeExample(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(c)
	for name, out := range map[string]string{
		"redacted yaml": string(c.Redacted()),
		"json":          string(js),
		"%v":            strings.Join([]string{c.ServiceNow.Auth.Password.String()}, ""),
	} {
		if strings.Contains(out, "hunter2-secret") {
			t.Errorf("%s shows the password:\n%s", name, out)
		}
	}
	if got := c.Secrets(); len(got) != 1 || got[0] != "hunter2-secret" {
		t.Errorf("Secrets() = %v", got)
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pw"), []byte("from-file\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "seed.nk"), []byte("x"), 0o600)
	cfg := `
agent: {id: a1, data_dir: data}
servicenow:
  url: https://x.service-now.com
  auth: {method: basic, username: u, password_file: pw}
relay: {url: "nats://127.0.0.1:4222", credentials: seed.nk, tenant: t, integration: i}
`
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(cfg), 0o600)
	c, err := Load(filepath.Join(dir, "a.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ServiceNow.Auth.Password.Reveal() != "from-file" {
		t.Errorf("password = %q", c.ServiceNow.Auth.Password.Reveal())
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	cfg := `
agent: {id: "Bad Id", buffer_max_bytes: 10}
servicenow:
  url: "ftp://x"
  type: mainframe
  auth: {method: oauth, grant: implicit}
  page_size: 0
  interval: 10s
  tables:
    "Bad-Table": {field: opened_at}
relay: {url: "http://x", tenant: "T", integration: ""}
log: {level: loud}
`
	_, err := Parse([]byte(cfg), t.TempDir())
	if err == nil {
		t.Fatal("want an error")
	}
	want := []string{
		"agent.id:", "agent.data_dir:", "agent.buffer_max_bytes:", "servicenow.url:",
		"servicenow.type:", "servicenow.auth.client_id:", "servicenow.auth.client_secret:",
		"servicenow.auth.grant:", "servicenow.page_size: must be 1..10000 (got 0)",
		"servicenow.interval:", "servicenow.tables.Bad-Table: invalid table name",
		"servicenow.tables.Bad-Table.field:", "relay.url:", "relay.credentials:",
		"relay.tenant:", "relay.integration:", "log.level:",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestUnknownKeyAndUnsetEnv(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"unknown key", "agent:\n  idd: x\n", "idd"},
		{"unset env", "agent:\n  id: ${SEI_SURELY_UNSET_VAR}\n", "SEI_SURELY_UNSET_VAR"},
		{"both secret and file", "servicenow:\n  auth: {password: a, password_file: /etc/hostname}\n", "servicenow.auth.password_file: set only one of servicenow.auth.password and servicenow.auth.password_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.cfg), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("agent: {id: a}\n"))
	f.Add([]byte("servicenow:\n  tables:\n    incident: {exclude_fields: [a]}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse(raw, t.TempDir())
		if err == nil && c.Validate() != nil {
			t.Fatalf("Parse accepted a configuration with problems: %v", c.Validate())
		}
	})
}

// TestLogLevelIsTheLoggers: log.level accepts exactly what the logger
// does ("warning" and upper case included).
func TestLogLevelIsTheLoggers(t *testing.T) {
	for level, ok := range map[string]bool{"warning": true, "DEBUG": true, "": true, "fatal": false, "loud": false} {
		c := Default()
		c.Log.Level = level
		err := c.Validate()
		bad := err != nil && strings.Contains(err.Error(), "log.level:")
		if bad == ok {
			t.Errorf("log.level %q: problem %v, want %v", level, bad, !ok)
		}
	}
}

// TestValidateAfterChange: Validate is the same check Parse runs, for a
// Config a caller built or changed itself.
func TestValidateAfterChange(t *testing.T) {
	c := Default()
	err := c.Validate()
	var invalid *Error
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "agent.id:") {
		t.Fatalf("Validate of the bare defaults = %v, want an *Error naming agent.id", err)
	}
	c.ServiceNow.PageSize = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "servicenow.page_size: must be 1..10000 (got 0)") {
		t.Errorf("Validate after setting page_size 0 = %v", err)
	}
}
