package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/confload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if got := c.StreamReplicas(); got != 1 {
		t.Errorf("StreamReplicas() embedded = %d, want 1", got)
	}
	c.NATS.URL = "tls://nats1:4222"
	if got := c.StreamReplicas(); got != 3 {
		t.Errorf("StreamReplicas() external = %d, want 3", got)
	}
}

func TestContainerConfigValidates(t *testing.T) {
	t.Setenv("SEI_RELAY_PUBLIC_URL", "tls://relay.example.com:4222")
	path := filepath.Join("..", "..", "packaging", "relay", "relay.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.DataDir != "/var/lib/sei-relay" || c.NATS.PublicURL != "tls://relay.example.com:4222" {
		t.Errorf("unexpected values: data_dir %q, public_url %q", c.DataDir, c.NATS.PublicURL)
	}
}

func TestExampleConfigValidates(t *testing.T) {
	t.Setenv("SEI_RELAY_TOKEN", "s3cret")
	path := filepath.Join("..", "..", "configs", "relay.example.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.HTTP.Token.Reveal() != "s3cret" {
		t.Errorf("http.token = %q, want expanded from env", c.HTTP.Token.Reveal())
	}
	if c.Stream.MaxBytes != 8<<30 || c.Stream.MaxAge != 0 || c.NATS.PublicURL != "tls://relay.example.com:4222" {
		t.Errorf("unexpected values: %+v", c)
	}
	if !filepath.IsAbs(c.DataDir) && !strings.HasPrefix(c.DataDir, filepath.Join("..", "..", "configs")) {
		t.Errorf("data_dir %q not resolved against the file's directory", c.DataDir)
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "configs", "relay.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"data_dir", "listen", "token", "token_file", "public_url", "cert_file",
		"key_file", "disable", "allow_plaintext", "sync_always", "max_store", "max_memory", "url",
		"credentials", "system_credentials", "ca_file", "kind", "dsn", "dsn_file", "max_bytes", "max_age", "replicas",
		"duplicate_window", "max_deliver", "ack_wait", "quarantine_max_batches", "quarantine_max_bytes", "decode_budget_bytes", "stale_after", "level", "file"} {
		if !strings.Contains(string(raw), key+":") {
			t.Errorf("relay.example.yaml does not mention %s", key)
		}
	}
	// Keys whose names repeat elsewhere: their section must say them.
	for section, keys := range map[string][]string{"  tls:": {"cert_file", "key_file"}} {
		_, after, ok := strings.Cut(strings.SplitN(string(raw), "\nnats:", 2)[0], section)
		for _, key := range keys {
			if !ok || !strings.Contains(after, key+":") {
				t.Errorf("relay.example.yaml does not document http.tls.%s", key)
			}
		}
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := Default()
	c.DataDir = ""
	c.HTTP.Listen = "8080"
	c.NATS.Listen = "0.0.0.0:4222"
	c.NATS.TLS.Disable = true
	c.NATS.TLS.CertFile = "cert.pem"
	c.NATS.CAFile = "ca.pem"
	c.NATS.SystemCredentials = "sys.creds"
	c.NATS.PublicURL = "http://x"
	c.Store.Kind = StorePostgres
	c.Stream.MaxBytes = 0
	c.Stream.DuplicateWindow = 0
	c.Stream.Replicas = 3
	c.Consumer.MaxDeliver = 0
	c.Consumer.AckWait = 0
	c.Consumer.DecodeBudgetBytes = 1 << 20
	c.Heartbeat.StaleAfter = 0
	c.Log.Level = "loud"
	err := c.Validate()
	var ve *Error
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v, want *Error", err)
	}
	want := []string{
		`data_dir: required`,
		`http.listen: must be host:port (got "8080")`,
		`nats.system_credentials: applies only with nats.url (external cluster); the embedded server's system account is the relay's own`,
		`nats.ca_file: applies only with nats.url (external cluster); the embedded server uses nats.tls`,
		`nats.tls: set both cert_file and key_file, or neither (a development certificate is generated)`,
		`nats.tls.disable: conflicts with nats.tls.cert_file/key_file`,
		`nats.tls.disable: plaintext on non-loopback "0.0.0.0:4222" needs nats.allow_plaintext: true`,
		`nats.public_url: must be nats://host:port or tls://host:port (got "http://x")`,
		`store.dsn: required when store.kind is postgres`,
		`stream.max_bytes: must be > 0 (got 0)`,
		`stream.replicas: must be 1 with the embedded single-node server (got 3)`,
		`stream.duplicate_window: must be > 0 (got 0s)`,
		`consumer.decode_budget_bytes: must be at least 16MiB, the largest batch (got 1048576)`,
		`consumer.max_deliver: must be >= 1 (got 0)`,
		`consumer.ack_wait: must be >= 1s (got 0s)`,
		`heartbeat.stale_after: must be > 0 (got 0s)`,
		`log.level: must be one of trace, debug, info, warn, error (got "loud")`,
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestValidateCases(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		wants string // "" = valid
	}{
		{"plaintext loopback", func(c *Config) { c.NATS.TLS.Disable = true }, ""},
		{"http tls cert without key", func(c *Config) { c.HTTP.TLS.CertFile = "c.pem" }, "http.tls: set both cert_file and key_file"},
		{"http tls both", func(c *Config) { c.HTTP.TLS = HTTPTLS{CertFile: "c.pem", KeyFile: "k.pem"} }, ""},
		{"quarantine bound zero", func(c *Config) { c.Consumer.QuarantineMaxBatches = 0 }, "consumer.quarantine_max_batches: must be >= 1"},
		{"plaintext public allowed", func(c *Config) {
			c.NATS.Listen, c.NATS.TLS.Disable, c.NATS.AllowPlaintext = "0.0.0.0:4222", true, true
		}, ""},
		{"external", func(c *Config) { c.NATS.URL, c.NATS.CAFile = "tls://a:4222,tls://b:4222", "/ca.pem" }, ""},
		{"external bad url", func(c *Config) { c.NATS.URL = "a:4222" }, "nats.url:"},
		{"external with tls", func(c *Config) { c.NATS.URL, c.NATS.TLS.CertFile = "nats://a:4222", "c" }, "nats.tls:"},
		{"bad kind", func(c *Config) { c.Store.Kind = "sqlite" }, `store.kind: must be badger or postgres (got "sqlite")`},
		{"dsn with badger", func(c *Config) { c.Store.DSN = "postgres://x" }, "store.dsn: applies only"},
		{"postgres ok", func(c *Config) { c.Store.Kind, c.Store.DSN = StorePostgres, "postgres://x" }, ""},
		{"max_store too small", func(c *Config) { c.NATS.MaxStore = 1 << 20 }, "nats.max_store: must be at least stream.max_bytes (8GiB) (got 1MiB)"},
		{"dup window > age", func(c *Config) { c.Stream.MaxAge = confload.Duration(time.Minute) }, "stream.duplicate_window: must not exceed"},
		{"quota max_bytes below one batch", func(c *Config) { c.Quota.MaxBytes = 1000 }, "quota.max_bytes: must be 0 (no limit) or at least 1MiB"},
		{"quota max_bytes", func(c *Config) { c.Quota.MaxBytes = 64 << 20 }, ""},
		{"bad port", func(c *Config) { c.HTTP.Listen = "127.0.0.1:99999" }, "http.listen: port must be 0..65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wants == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wants != "" && (err == nil || !strings.Contains(err.Error(), tt.wants)):
				t.Fatalf("Validate() = %v, want containing %q", err, tt.wants)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "token", "tok-from-file\n")
	writeFile(t, dir, "dsn", "postgres://u:p@db/sei\n")
	path := writeFile(t, dir, "relay.yaml", `
data_dir: data
http: {listen: "127.0.0.1:0", token_file: token}
store: {kind: postgres, dsn_file: dsn}
stream: {max_bytes: 1GiB, max_age: 24h, duplicate_window: 2m}
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := []any{c.DataDir, c.HTTP.Token.Reveal(), c.Store.DSN.Reveal(), c.Stream.MaxBytes, c.Stream.MaxAge.D(), c.Consumer.MaxDeliver}
	want := []any{filepath.Join(dir, "data"), "tok-from-file", "postgres://u:p@db/sei", confload.ByteSize(1 << 30), 24 * time.Hour, 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "token", "x")
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "http: {listen: ':1', tokn: x}\n", "tokn"},
		{"unknown top key", "datadir: x\n", "datadir"},
		{"unset env", "http: {token: '${SEI_TEST_UNSET_VAR}'}\n", "SEI_TEST_UNSET_VAR"},
		{"bad size", "stream: {max_bytes: 12XB}\n", "stream.max_bytes: must be a size"},
		{"bad duration", "stream: {max_age: soon}\n", "stream.max_age: must be a duration"},
		{"days", "stream: {max_age: 0.5d}\n", "stream.max_age: must be a duration"},
		{"userinfo in nats.url", "nats: {url: 'nats://u:hunter2@a:4222'}\n", "nats.url: must not hold a user or password"},
		{"missing secret file", "store: {kind: postgres, dsn_file: nope}\n", "store.dsn_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, dir, "c.yaml", tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load() = %v, want error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Load(writeFile(t, dir, "c.yaml", "http: {token: a, token_file: token}\n")); err == nil ||
		!strings.Contains(err.Error(), "http.token_file: set only one of http.token and http.token_file") {
		t.Fatalf("Load() = %v, want both-set problem", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("data_dir: x\nhttp: {listen: ':1'}\nstream: {max_bytes: 1GiB}\n"))
	f.Add([]byte("nats: {url: 'tls://a:1', tls: {disable: true}}\n"))
	f.Add([]byte("${X}: [1, {a: b}]"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := Default()
		if err := Parse(raw, &c); err != nil {
			return
		}
		_ = c.Validate() // must not panic
	})
}
