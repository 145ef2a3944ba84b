package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/logsetup"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// hostedConfig is `sei-agent hosted`'s configuration: who it is, where it
// keeps its pipelines' buffers, and how it reaches the relay. Nothing of
// ServiceNow: the integrations come from the relay.
type hostedConfig struct {
	Hosted hostedSection `yaml:"hosted"`
	Relay  hostedRelay   `yaml:"relay"`
	Log    config.Log    `yaml:"log"`
	File   string        `yaml:"-"`
}

type hostedSection struct {
	// Name identifies this hosted agent among the others (leases, logs).
	Name string `yaml:"name"`
	// DataDir holds one folder per integration: its buffer and cursors.
	DataDir string `yaml:"data_dir"`
	// CAFile is a CA to trust, beside the system's, for the instances'
	// certificates (tests, private clouds).
	CAFile string `yaml:"ca_file"`
}

type hostedRelay struct {
	URL string `yaml:"url"`
	// Credentials is the hosted role's .creds file (`sei-relay hosted
	// enroll`), a user of the relay's account.
	Credentials string `yaml:"credentials"`
	CAFile      string `yaml:"ca_file"`
}

// loadHostedConfig reads, expands, resolves and checks the file; every
// problem names its key (exit 2).
func loadHostedConfig(path string) (*hostedConfig, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, command.Usage(fmt.Errorf("load config %s: %w", path, err))
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		return nil, command.Usage(fmt.Errorf("load config: %w", err))
	}
	c := &hostedConfig{Log: config.Log{Level: "info"}, File: abs}
	if err := confload.Decode(raw, c); err != nil {
		return nil, command.Usage(fmt.Errorf("load config %s: %w", abs, err))
	}
	problems := confload.Expand(c)
	confload.ResolvePaths(filepath.Dir(abs), &c.Hosted.DataDir, &c.Hosted.CAFile, &c.Relay.Credentials, &c.Relay.CAFile, &c.Log.File)
	c.check(&problems)
	if err := problems.Err(); err != nil {
		return nil, command.Usage(fmt.Errorf("load config %s: %w", abs, err))
	}
	return c, nil
}

func (c *hostedConfig) check(p *confload.Problems) {
	if !wire.ValidName(c.Hosted.Name) {
		p.Add("hosted.name", "must match [a-z0-9][a-z0-9_-]{0,62} (got %q)", c.Hosted.Name)
	}
	if c.Hosted.DataDir == "" {
		p.Add("hosted.data_dir", "required")
	} else if d := pipelineDir(c.Hosted.DataDir, strings.Repeat("x", 200)); len(d)+socketRoom > maxSocketPath {
		p.Add("hosted.data_dir", "must be at most %d bytes long: each pipeline's admin socket lives under it (got %d)",
			maxSocketPath-socketRoom-len(d)+len(c.Hosted.DataDir), len(c.Hosted.DataDir))
	}
	u, err := url.Parse(c.Relay.URL)
	switch {
	case secret.HasUserinfo(c.Relay.URL):
		p.Add("relay.url", "must not hold a user or password: use relay.credentials")
	case err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls"):
		p.Add("relay.url", "must be a NATS URL such as tls://relay.example.com:4222 (got %q)", secret.RedactURL(c.Relay.URL))
	}
	if c.Relay.Credentials == "" {
		p.Add("relay.credentials", "required: the file `sei-relay hosted enroll` wrote")
	}
	for key, f := range map[string]string{"relay.credentials": c.Relay.Credentials, "relay.ca_file": c.Relay.CAFile, "hosted.ca_file": c.Hosted.CAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			p.Add(key, "%v", err)
		}
	}
	if _, err := logsetup.ParseLevel(c.Log.Level); err != nil {
		p.Add("log.level", "%v", err)
	}
}
