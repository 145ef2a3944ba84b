package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// validConfig is a configuration that loads, with files in dir.
func validConfig(t *testing.T, dir string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "seed.nk"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return `
agent: {id: a1, data_dir: data}
servicenow:
  url: https://x.service-now.com
  auth: {method: basic, username: u, password: pw}
relay: {url: "nats://127.0.0.1:4222", credentials: seed.nk, tenant: t, integration: i}
`
}

// TestUserinfoRefused: a user or password in servicenow.url,
// servicenow.proxy or relay.url is refused with a message naming the key
// and the keys to use, and the password never appears in the error.
func TestUserinfoRefused(t *testing.T) {
	const pw = "UNIQUE-userinfo-pw-5521"
	dir := t.TempDir()
	base := validConfig(t, dir)
	tests := []struct{ name, from, to, want string }{
		{"servicenow.url", "url: https://x.service-now.com", "url: https://bob:" + pw + "@x.service-now.com", "servicenow.url: must not hold a user or password"},
		{"servicenow.proxy", "auth: {", "proxy: http://bob:" + pw + "@proxy:3128\n  auth: {", "servicenow.proxy: must not hold a user or password"},
		{"relay.url", `url: "nats://127.0.0.1:4222"`, `url: "tls://bob:` + pw + `@relay:4222"`, "relay.url: must not hold a user or password"},
		{"user only", "url: https://x.service-now.com", "url: https://" + pw + "@x.service-now.com", "servicenow.url: must not hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := strings.Replace(base, tt.from, tt.to, 1)
			_, err := Parse([]byte(cfg), dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestProxyAuthKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "proxy.pw"), []byte("proxy-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := validConfig(t, dir)
	ok := strings.Replace(base, "auth: {", "proxy: http://proxy:3128\n  proxy_username: pu\n  proxy_password_file: proxy.pw\n  auth: {", 1)
	c, err := Parse([]byte(ok), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.ServiceNow.ProxyPassword.Reveal() != "proxy-secret" || c.ServiceNow.ProxyUsername != "pu" {
		t.Errorf("proxy auth = %q %q", c.ServiceNow.ProxyUsername, c.ServiceNow.ProxyPassword.Reveal())
	}
	if strings.Contains(string(c.Redacted()), "proxy-secret") || !containsAll(c.Secrets(), "proxy-secret") {
		t.Errorf("proxy password in Redacted or missing from Secrets")
	}
	for name, tc := range map[string]struct{ insert, want string }{
		"user without password": {"proxy: http://p:1\n  proxy_username: pu\n", "servicenow.proxy_password: set both"},
		"auth without proxy":    {"proxy_username: pu\n  proxy_password: x\n", "servicenow.proxy_username: applies only with servicenow.proxy"},
		"bad scheme":            {"proxy: socks5://p:1\n", "servicenow.proxy: must be a URL"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(base, "auth: {", tc.insert+"  auth: {", 1)), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestDollarWordLiteral: a password holding $word is kept as written;
// only ${NAME} expands and $$ is one $.
func TestDollarWordLiteral(t *testing.T) {
	t.Setenv("SEI_TEST_PW_PART", "mid")
	t.Setenv("HOME", "/should/not/appear")
	dir := t.TempDir()
	cfg := strings.Replace(validConfig(t, dir), "password: pw", `password: 'a$HOME$$b${SEI_TEST_PW_PART}c'`, 1)
	c, err := Parse([]byte(cfg), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ServiceNow.Auth.Password.Reveal(); got != "a$HOME$bmidc" {
		t.Errorf("password = %q, want a$HOME$bmidc", got)
	}
}

// TestParseErrorHidesNeighbours: a broken YAML line next to the password
// reports its line and column but never the password.
func TestParseErrorHidesNeighbours(t *testing.T) {
	const pw = "UNIQUE-neighbour-pw-7781"
	dir := t.TempDir()
	for name, cfg := range map[string]string{
		"bad indent": strings.Replace(validConfig(t, dir), "password: pw}", "password: "+pw+"}\n   broken: [x", 1),
		"bad value":  strings.Replace(validConfig(t, dir), "password: pw}", "password: "+pw+"}\n  interval: "+pw, 1),
		"unknown":    strings.Replace(validConfig(t, dir), "password: pw}", "password: "+pw+", pasword: "+pw+"}", 1),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "a.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), "line ") {
				t.Fatalf("err = %v, want a line number", err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("error shows the password:\n%v", err)
			}
		})
	}
}

// TestSizesAndDays: the agent takes the relay's size and duration forms.
func TestSizesAndDays(t *testing.T) {
	dir := t.TempDir()
	cfg := strings.Replace(validConfig(t, dir), "data_dir: data}", "data_dir: data, buffer_max_bytes: 8GiB, min_free_bytes: 512MiB}", 1)
	cfg = strings.Replace(cfg, "auth: {", "lookback: 30d\n  auth: {", 1)
	c, err := Parse([]byte(cfg), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.BufferMaxBytes != 8<<30 || c.Agent.MinFreeBytes != 512<<20 || c.ServiceNow.Lookback.D().Hours() != 720 {
		t.Errorf("got %v %v %v", c.Agent.BufferMaxBytes, c.Agent.MinFreeBytes, c.ServiceNow.Lookback)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestExampleDocumentsEveryKey: every key of Config appears in
// configs/agent.example.yaml (commented out or set).
func TestExampleDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile("../../configs/agent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(t reflect.Type, prefix string)
	var keys []string
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			keys = append(keys, name)
			ft := f.Type
			if ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	for _, k := range keys {
		if !strings.Contains(string(raw), k+":") {
			t.Errorf("agent.example.yaml does not mention %s", k)
		}
	}
}
