package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// Config is sei-agent's configuration.
type Config struct {
	Agent      Agent      `yaml:"agent"`
	ServiceNow ServiceNow `yaml:"servicenow"`
	Relay      Relay      `yaml:"relay"`
	Log        Log        `yaml:"log"`
	Status     Status     `yaml:"status"`

	// File is the absolute path the configuration was loaded from.
	File string `yaml:"-"`
}

// Agent holds the agent's identity and local storage.
type Agent struct {
	ID             string `yaml:"id"`
	DataDir        string `yaml:"data_dir"`
	BufferMaxBytes int64  `yaml:"buffer_max_bytes"`
	MinFreeBytes   int64  `yaml:"min_free_bytes"`
}

// ServiceNow describes the instance and what to read from it.
type ServiceNow struct {
	URL                string                 `yaml:"url"`
	Type               string                 `yaml:"type"` // cloud | onprem
	Auth               Auth                   `yaml:"auth"`
	CAFile             string                 `yaml:"ca_file"`
	Proxy              string                 `yaml:"proxy"`
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

// Defaults returns the configuration before a file is read.
func Defaults() Config {
	return Config{
		Agent: Agent{BufferMaxBytes: 1 << 30, MinFreeBytes: 256 << 20},
		ServiceNow: ServiceNow{
			Type:     "cloud",
			Auth:     Auth{Method: "basic", RefreshTokenLifetime: Duration(100 * 24 * time.Hour)},
			Interval: Duration(time.Hour),
			Lookback: Duration(90 * 24 * time.Hour),
			Overlap:  Duration(2 * time.Minute),
			Lag:      Duration(5 * time.Second),
			Timeout:  Duration(60 * time.Second),
			PageSize: 1000,
		},
		Log: Log{Level: "info"},
		Status: Status{
			BacklogAge:    Duration(3 * time.Hour),
			RelayDegraded: Duration(time.Minute),
			RelayFailing:  Duration(2 * time.Hour),
		},
	}
}

// Load reads, expands and parses the file at path, resolves `*_file`
// secrets and relative paths (against the file's folder, never the working
// directory: a Windows service starts in System32), and validates. The error
// lists every problem.
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
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", abs, err)
	}
	c.File = abs
	return c, nil
}

// Parse is Load for bytes; relative paths resolve against dir.
func Parse(raw []byte, dir string) (*Config, error) {
	c := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(raw), yaml.DisallowUnknownField())
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, errors.New(yaml.FormatError(err, false, true))
	}
	problems := expandEnv(&c)
	c.resolvePaths(dir)
	problems = append(problems, c.readSecretFiles()...)
	var invalid *Error
	if errors.As(c.Validate(), &invalid) {
		problems = append(problems, invalid.Problems...)
	}
	if len(problems) > 0 {
		return &c, &Error{Problems: problems}
	}
	return &c, nil
}

// Error lists every problem found in a configuration.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

func (c *Config) resolvePaths(dir string) {
	for _, p := range []*string{
		&c.Agent.DataDir, &c.ServiceNow.CAFile, &c.ServiceNow.Auth.PasswordFile,
		&c.ServiceNow.Auth.ClientSecretFile, &c.Relay.Credentials, &c.Relay.CAFile, &c.Log.File,
	} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

func (c *Config) readSecretFiles() []string {
	var problems []string
	read := func(key, file string, dst *Secret) {
		if file == "" {
			return
		}
		if *dst != "" {
			problems = append(problems, fmt.Sprintf("%s: set either it or %s_file, not both", key, key))
			return
		}
		b, err := os.ReadFile(file)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s_file: %v", key, err))
			return
		}
		*dst = Secret(strings.TrimRight(string(b), "\r\n"))
	}
	read("servicenow.auth.password", c.ServiceNow.Auth.PasswordFile, &c.ServiceNow.Auth.Password)
	read("servicenow.auth.client_secret", c.ServiceNow.Auth.ClientSecretFile, &c.ServiceNow.Auth.ClientSecret)
	return problems
}

// Secrets returns every secret value of the configuration, for scrubbing
// support bundles and checking logs.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []Secret{c.ServiceNow.Auth.Password, c.ServiceNow.Auth.ClientSecret} {
		if s != "" {
			out = append(out, s.Reveal())
		}
	}
	return out
}

// Redacted returns the configuration as YAML with every secret as "***".
func (c *Config) Redacted() []byte {
	b, err := yaml.Marshal(c)
	if err != nil {
		return []byte("# could not render configuration: " + err.Error())
	}
	return b
}
