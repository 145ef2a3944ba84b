package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/secret"
)

// Duration is a time.Duration written as "90s", "1h" or in days, "90d".
type Duration = confload.Duration

// ByteSize is a size written as a number of bytes or with a unit, "8GiB".
type ByteSize = confload.ByteSize

// Secret is a value whose every printed form is "***".
type Secret = secret.Secret

// Error lists every problem of a configuration, each with its key path;
// the relay's configuration errors are the same type.
type Error = confload.Error

// Config is sei-agent's configuration.
type Config struct {
	Agent      Agent      `yaml:"agent"`
	ServiceNow ServiceNow `yaml:"servicenow"`
	Relay      Relay      `yaml:"relay"`
	Log        Log        `yaml:"log"`
	Status     Status     `yaml:"status"`
	// RemoteRequests says what the cloud may ask (remote.go).
	RemoteRequests RemoteRequests `yaml:"remote_requests"`
	// Instances is the multi-instance form: several ServiceNow instances,
	// each published under its own integration. It excludes ServiceNow
	// and Relay.Integration (see Split).
	Instances []Instance `yaml:"instances"`

	// File is the absolute path the configuration was loaded from.
	File string `yaml:"-"`
}

// Agent holds the agent's identity and local storage.
type Agent struct {
	ID             string   `yaml:"id"`
	DataDir        string   `yaml:"data_dir"`
	BufferMaxBytes ByteSize `yaml:"buffer_max_bytes"`
	MinFreeBytes   ByteSize `yaml:"min_free_bytes"`
}

// ServiceNow describes the instance and what to read from it.
type ServiceNow struct {
	URL    string `yaml:"url"`
	Type   string `yaml:"type"` // cloud | onprem
	Auth   Auth   `yaml:"auth"`
	CAFile string `yaml:"ca_file"`
	Proxy  string `yaml:"proxy"`
	// ProxyUsername and ProxyPassword authenticate to Proxy (Basic);
	// userinfo in the proxy URL is refused so it cannot leak.
	ProxyUsername      string                 `yaml:"proxy_username"`
	ProxyPassword      Secret                 `yaml:"proxy_password"`
	ProxyPasswordFile  string                 `yaml:"proxy_password_file"`
	InsecureSkipVerify bool                   `yaml:"insecure_skip_verify"`
	Interval           Duration               `yaml:"interval"`
	Lookback           Duration               `yaml:"lookback"`
	Overlap            Duration               `yaml:"overlap"`
	Lag                Duration               `yaml:"lag"`
	Timeout            Duration               `yaml:"timeout"`
	PageSize           int                    `yaml:"page_size"`
	RateLimit          float64                `yaml:"rate_limit"`
	ExcludeFields      []string               `yaml:"exclude_fields"`
	Tables             map[string]TableConfig `yaml:"tables"`
	Reconcile          Reconcile              `yaml:"reconcile"` // see reconcile.go
}

// Auth selects and configures the authentication to ServiceNow.
type Auth struct {
	Method           string `yaml:"method"` // basic | oauth
	Grant            string `yaml:"grant"`  // oauth: password | client_credentials | authorization_code
	Username         string `yaml:"username"`
	Password         Secret `yaml:"password"`
	PasswordFile     string `yaml:"password_file"`
	ClientID         string `yaml:"client_id"`
	ClientSecret     Secret `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is the loopback URL registered in the ServiceNow OAuth
	// application for `sei-agent login` (authorization_code grant).
	RedirectURL string `yaml:"redirect_url"`
	// RefreshTokenLifetime is the OAuth application's refresh token
	// lifetime (ServiceNow's default is 100 days). With the
	// authorization_code grant an admin must run `sei-agent login` before
	// it ends; status warns 14 days ahead.
	RefreshTokenLifetime Duration `yaml:"refresh_token_lifetime"`
}

// TableConfig adjusts one table. Tables named here are added to the
// defaults; Enabled false removes a default table.
type TableConfig struct {
	Enabled       *bool    `yaml:"enabled"`
	Field         string   `yaml:"field"` // incremental field: sys_updated_on | sys_created_on
	Filter        string   `yaml:"filter"`
	Fields        []string `yaml:"fields"` // include list; empty means every readable field
	ExcludeFields []string `yaml:"exclude_fields"`
	// Reconcile overrides servicenow.reconcile for this table.
	Reconcile *TableReconcile `yaml:"reconcile"`
}

// Relay says where batches go.
type Relay struct {
	URL         string `yaml:"url"`
	Credentials string `yaml:"credentials"` // .creds file (user JWT + seed) written by `sei-relay enroll`
	CAFile      string `yaml:"ca_file"`
	Tenant      string `yaml:"tenant"`
	Integration string `yaml:"integration"`
}

// Log configures logging.
type Log struct {
	Level string `yaml:"level"`
	File  string `yaml:"file"`
}

// Status holds the thresholds of the status verdict.
type Status struct {
	// BacklogAge: the oldest unsent batch may be this old before DEGRADED.
	BacklogAge Duration `yaml:"backlog_age"`
	// RelayDegraded and RelayFailing: how long the relay may be
	// unreachable before DEGRADED, then FAILING.
	RelayDegraded Duration `yaml:"relay_degraded"`
	RelayFailing  Duration `yaml:"relay_failing"`
}

// Default returns the configuration before a file is read.
func Default() Config {
	return Config{
		Agent: Agent{BufferMaxBytes: 1 << 30, MinFreeBytes: 256 << 20},
		ServiceNow: ServiceNow{
			Type:      "cloud",
			Auth:      Auth{Method: "basic", RefreshTokenLifetime: Duration(100 * 24 * time.Hour)},
			Interval:  Duration(time.Hour),
			Lookback:  Duration(90 * 24 * time.Hour),
			Overlap:   Duration(2 * time.Minute),
			Lag:       Duration(5 * time.Second),
			Timeout:   Duration(60 * time.Second),
			PageSize:  1000,
			Reconcile: Reconcile{Interval: Duration(24 * time.Hour)},
		},
		Log: Log{Level: "info"},
		Status: Status{
			BacklogAge:    Duration(3 * time.Hour),
			RelayDegraded: Duration(time.Minute),
			RelayFailing:  Duration(2 * time.Hour),
		},
		RemoteRequests: defaultRemoteRequests(),
	}
}

// Load is the agent's one configuration path, the same for every command:
// Default, overlaid with the file at path (strict YAML), ${NAME} expanded,
// relative paths resolved against the file's folder (never the working
// directory: a Windows service starts in System32), `*_file` secrets read,
// then Validate. The error lists every problem, each with its key path and
// never a value. On a validation error the returned Config is still filled
// (status and bundle need its data_dir); on a decode error it is nil.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c, err := Parse(raw, filepath.Dir(abs))
	if c != nil {
		c.File = abs
	}
	if err != nil {
		return c, fmt.Errorf("load config %s: %w", abs, err)
	}
	return c, nil
}

// Parse is Load for bytes; relative paths resolve against dir.
func Parse(raw []byte, dir string) (*Config, error) {
	c := Default()
	if err := confload.Decode(raw, &c); err != nil {
		return nil, err
	}
	problems := confload.Expand(&c)
	c.resolvePaths(dir)
	problems = append(problems, c.readSecretFiles()...)
	var invalid *Error
	if errors.As(c.Validate(), &invalid) {
		problems = append(problems, invalid.Problems...)
	}
	return &c, problems.Err()
}

func (c *Config) resolvePaths(dir string) {
	sn := &c.ServiceNow
	confload.ResolvePaths(dir, &c.Agent.DataDir, &sn.CAFile, &sn.Auth.PasswordFile, &sn.Auth.ClientSecretFile,
		&sn.ProxyPasswordFile, &c.Relay.Credentials, &c.Relay.CAFile, &c.Log.File)
	c.resolveInstancePaths(dir)
}

func (c *Config) readSecretFiles() confload.Problems {
	sn := &c.ServiceNow
	return confload.ReadSecretFiles(append([]confload.SecretFile{
		{Key: "servicenow.auth.password", File: sn.Auth.PasswordFile, Dst: &sn.Auth.Password},
		{Key: "servicenow.auth.client_secret", File: sn.Auth.ClientSecretFile, Dst: &sn.Auth.ClientSecret},
		{Key: "servicenow.proxy_password", File: sn.ProxyPasswordFile, Dst: &sn.ProxyPassword},
	}, c.instanceSecretFiles()...)...)
}

// Secrets returns every secret value of the configuration, for scrubbing
// support bundles and checking logs.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range append([]Secret{c.ServiceNow.Auth.Password, c.ServiceNow.Auth.ClientSecret, c.ServiceNow.ProxyPassword}, c.instanceSecrets()...) {
		if s != "" {
			out = append(out, s.Reveal())
		}
	}
	return out
}

// Redacted returns the configuration as YAML with every secret as "***"
// and every URL through secret.RedactURL.
func (c *Config) Redacted() []byte {
	r := *c
	for _, u := range []*string{&r.ServiceNow.URL, &r.ServiceNow.Proxy, &r.ServiceNow.Auth.RedirectURL, &r.Relay.URL} {
		*u = secret.RedactURL(*u)
	}
	r.redactInstances(secret.RedactURL)
	b, err := yaml.Marshal(&r)
	if err != nil {
		return []byte("# could not render configuration: " + err.Error())
	}
	return b
}
