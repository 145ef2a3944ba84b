package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// multiBase is a valid two-instance configuration; files it names are
// created in dir.
func multiBase(t *testing.T, dir string) string {
	t.Helper()
	for _, f := range []string{"seed.nk", "emea-password"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("emea-secret-from-file\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return `
agent: {id: edge-01, data_dir: data}
relay: {url: "nats://relay:4222", credentials: seed.nk, tenant: acme}
instances:
  - integration: snow-prod
    servicenow:
      url: https://prod.service-now.com
      auth: {method: basic, username: sei, password: "${SEI_TEST_PROD_PW}"}
      interval: 15m
      exclude_fields: [description]
  - integration: snow-emea
    servicenow:
      url: https://emea.service-now.com
      auth: {method: basic, username: sei, password_file: emea-password}
      rate_limit: 2
      tables:
        incident: {exclude_fields: [close_notes]}
`
}

func TestInstancesLoad(t *testing.T) {
	t.Setenv("SEI_TEST_PROD_PW", "prod-secret-from-env")
	dir := t.TempDir()
	c, err := Parse([]byte(multiBase(t, dir)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Multi() || len(c.Instances) != 2 {
		t.Fatalf("instances = %d", len(c.Instances))
	}
	prod, emea := c.Instances[0].ServiceNow, c.Instances[1].ServiceNow
	if prod.Auth.Password.Reveal() != "prod-secret-from-env" || emea.Auth.Password.Reveal() != "emea-secret-from-file" {
		t.Errorf("passwords not expanded/read per instance")
	}
	// Defaults apply per instance, and each keeps its own settings.
	if prod.Interval.D() != 15*time.Minute || emea.Interval.D() != time.Hour {
		t.Errorf("intervals = %s, %s", prod.Interval, emea.Interval)
	}
	if emea.PageSize != 1000 || emea.Type != "cloud" || emea.Lookback.D() != 90*24*time.Hour || prod.RateLimit != 0 || emea.RateLimit != 2 {
		t.Errorf("defaults not applied per instance: %+v", emea)
	}
	subs := c.Split()
	if len(subs) != 2 || subs[0].Relay.Integration != "snow-prod" || subs[1].Relay.Integration != "snow-emea" {
		t.Fatalf("split: %+v", subs)
	}
	if want := filepath.Join(dir, "data", "instances", "snow-emea"); subs[1].Agent.DataDir != want {
		t.Errorf("instance data dir = %s, want %s", subs[1].Agent.DataDir, want)
	}
	for _, s := range subs {
		if err := s.Validate(); err != nil {
			t.Errorf("split config of %s invalid: %v", s.Relay.Integration, err)
		}
	}
	if got := strings.Join(c.Integrations(), ","); got != "snow-prod,snow-emea" {
		t.Errorf("integrations = %s", got)
	}
	secrets := strings.Join(c.Secrets(), " ")
	red := string(c.Redacted())
	for _, s := range []string{"prod-secret-from-env", "emea-secret-from-file"} {
		if !strings.Contains(secrets, s) {
			t.Errorf("Secrets lacks %s", s)
		}
		if strings.Contains(red, s) {
			t.Errorf("Redacted shows %s", s)
		}
	}
	if !strings.Contains(red, "snow-emea") {
		t.Errorf("Redacted lacks the instances:\n%s", red)
	}
}

// TestSingleFormUnchanged: the single form splits into itself, same data
// dir.
func TestSingleFormUnchanged(t *testing.T) {
	c := Default()
	c.Agent.DataDir = "/d"
	subs := c.Split()
	if len(subs) != 1 || subs[0] != &c || subs[0].Agent.DataDir != "/d" || c.Multi() {
		t.Errorf("single form split = %+v", subs)
	}
}

func TestInstancesErrorsNameTheKey(t *testing.T) {
	t.Setenv("SEI_TEST_PROD_PW", "x")
	cases := []struct {
		name, old, new string
		want           []string
	}{
		{"bad integration", "integration: snow-emea", "integration: Snow EMEA", []string{"instances[1].integration"}},
		{"missing integration", "  - integration: snow-emea\n", "  - \n", []string{"instances[1].integration"}},
		{"duplicate integration", "integration: snow-emea", "integration: snow-prod", []string{"instances[1].integration", "already used by instances[0]"}},
		{"bad url", "url: https://emea.service-now.com", "url: https://u:p@emea.service-now.com", []string{"instances[1].servicenow.url"}},
		{"bad interval", "interval: 15m", "interval: 5s", []string{"instances[0].servicenow.interval"}},
		{"missing secret file", "password_file: emea-password", "password_file: nope", []string{"instances[1].servicenow.auth.password_file"}},
		{"unset env", "${SEI_TEST_PROD_PW}", "${SEI_TEST_UNSET_PW}", []string{"instances[0].servicenow.auth.password", "SEI_TEST_UNSET_PW"}},
		{"unknown key", "rate_limit: 2", "rate_limt: 2", []string{"instances[1].servicenow.rate_limt"}},
		{"bad exclusion", "exclude_fields: [close_notes]", "exclude_fields: [sys_id]", []string{"instances[1].servicenow.tables"}},
		{"relay.integration too", "tenant: acme}", "tenant: acme, integration: snow}", []string{"relay.integration", "instances[N].integration"}},
		{"servicenow too", "instances:", "servicenow: {url: https://x.service-now.com}\ninstances:", []string{"servicenow:", "not both"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			raw := multiBase(t, dir)
			if !strings.Contains(raw, tc.old) {
				t.Fatalf("base lacks %q", tc.old)
			}
			_, err := Parse([]byte(strings.Replace(raw, tc.old, tc.new, 1)), dir)
			var invalid *Error
			if !errors.As(err, &invalid) {
				t.Fatalf("err = %v, want *Error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "emea-secret-from-file") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

// TestMultiExampleLoads: configs/agent.multi.example.yaml loads as an
// admin's would.
func TestMultiExampleLoads(t *testing.T) {
	t.Setenv("SN_PROD_PASSWORD", "prod-pw")
	dir := t.TempDir()
	raw, err := os.ReadFile("../../configs/agent.multi.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"edge-01.nk", "relay-ca.pem", "emea-client-secret"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("multi example: %v", err)
	}
	if got := strings.Join(c.Integrations(), ","); got != "snow-prod,snow-emea" {
		t.Errorf("integrations = %s", got)
	}
	if c.Instances[1].ServiceNow.Auth.ClientSecret.Reveal() != "x" || c.Instances[1].ServiceNow.Interval.D() != 2*time.Hour {
		t.Errorf("emea instance = %+v", c.Instances[1].ServiceNow)
	}
}
