package config

import (
	"fmt"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/logging"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Validate reports every problem of the configuration, each with its key
// path, as an *Error, or nil. Parse calls it after loading; a caller that
// builds or changes a Config itself calls it too.
func (c *Config) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return &Error{Problems: p}
	}
	return nil
}

// problems lists every problem of the configuration, each with its key
// path.
func (c *Config) problems() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if err := wire.CheckName("agent.id", c.Agent.ID); err != nil {
		add("%v", err)
	}
	if c.Agent.DataDir == "" {
		add("agent.data_dir: required (the folder for the buffer, state and logs)")
	}
	if c.Agent.BufferMaxBytes < 16<<20 {
		add("agent.buffer_max_bytes: must be at least 16777216 (16 MiB) (got %d)", c.Agent.BufferMaxBytes)
	}
	if c.Agent.MinFreeBytes < 0 {
		add("agent.min_free_bytes: must not be negative (got %d)", c.Agent.MinFreeBytes)
	}

	sn := &c.ServiceNow
	if u, err := url.Parse(sn.URL); sn.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("servicenow.url: must be an http(s) URL such as https://acme.service-now.com (got %q)", sn.URL)
	}
	if sn.Type != "cloud" && sn.Type != "onprem" {
		add("servicenow.type: must be cloud or onprem (got %q)", sn.Type)
	}
	p = append(p, sn.Auth.problems()...)
	checkFile := func(key, path string) {
		if path == "" {
			return
		}
		if _, err := os.Stat(path); err != nil {
			add("%s: %v", key, err)
		}
	}
	checkFile("servicenow.ca_file", sn.CAFile)
	if sn.Proxy != "" {
		if u, err := url.Parse(sn.Proxy); err != nil || u.Host == "" {
			add("servicenow.proxy: must be a URL such as http://proxy:3128 (got %q)", sn.Proxy)
		}
	}
	if d := time.Duration(sn.Interval); d < time.Minute {
		add("servicenow.interval: must be at least 1m (got %s)", d)
	}
	if d := time.Duration(sn.Lookback); d <= 0 {
		add("servicenow.lookback: must be positive (got %s)", d)
	}
	if d := time.Duration(sn.Overlap); d < 0 || d > time.Hour {
		add("servicenow.overlap: must be 0..1h (got %s)", d)
	}
	if d := time.Duration(sn.Lag); d < 0 || d > 10*time.Minute {
		add("servicenow.lag: must be 0..10m (got %s)", d)
	}
	if d := time.Duration(sn.Timeout); d < time.Second || d > 10*time.Minute {
		add("servicenow.timeout: must be 1s..10m (got %s)", d)
	}
	if sn.PageSize < 1 || sn.PageSize > 10000 {
		add("servicenow.page_size: must be 1..10000 (got %d)", sn.PageSize)
	}
	if sn.RateLimit < 0 {
		add("servicenow.rate_limit: must not be negative (got %g)", sn.RateLimit)
	}
	p = append(p, sn.exclusionProblems()...)
	names := make([]string, 0, len(sn.Tables))
	for name := range sn.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := sn.Tables[name]
		key := "servicenow.tables." + name
		if !wire.ValidTable(name) {
			add("%s: invalid table name (lower case letters, digits and _)", key)
		}
		if t.Field != "" && t.Field != "sys_updated_on" && t.Field != "sys_created_on" {
			add("%s.field: must be sys_updated_on or sys_created_on (got %q)", key, t.Field)
		}
	}

	r := &c.Relay
	if u, err := url.Parse(r.URL); r.URL == "" || err != nil || u.Host == "" ||
		(u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "wss" && u.Scheme != "ws") {
		add("relay.url: must be a NATS URL such as tls://relay.example.com:4222 (got %q); `sei-relay enroll` prints it", r.URL)
	}
	if r.Credentials == "" {
		add("relay.credentials: required: the file `sei-relay enroll` wrote")
	} else {
		checkFile("relay.credentials", r.Credentials)
	}
	checkFile("relay.ca_file", r.CAFile)
	if err := wire.CheckName("relay.tenant", r.Tenant); err != nil {
		add("%v", err)
	}
	if err := wire.CheckName("relay.integration", r.Integration); err != nil {
		add("%v", err)
	}

	if _, err := logging.ParseLevel(c.Log.Level); err != nil {
		add("%v", err)
	}
	if d := time.Duration(c.Status.BacklogAge); d < time.Minute {
		add("status.backlog_age: must be at least 1m (got %s)", d)
	}
	if d := time.Duration(c.Status.RelayDegraded); d <= 0 {
		add("status.relay_degraded: must be positive (got %s)", d)
	}
	if d, f := time.Duration(c.Status.RelayDegraded), time.Duration(c.Status.RelayFailing); f < d {
		add("status.relay_failing: must be at least status.relay_degraded (got %s < %s)", f, d)
	}
	return p
}

func (a *Auth) problems() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	switch a.Method {
	case "basic":
		if a.Username == "" {
			add("servicenow.auth.username: required for basic auth")
		}
		if a.Password == "" {
			add("servicenow.auth.password: required for basic auth (or password_file, or ${ENV})")
		}
	case "oauth":
		if d := time.Duration(a.RefreshTokenLifetime); d < time.Hour {
			add("servicenow.auth.refresh_token_lifetime: must be at least 1h (got %s)", d)
		}
		if a.ClientID == "" {
			add("servicenow.auth.client_id: required for oauth")
		}
		if a.ClientSecret == "" {
			add("servicenow.auth.client_secret: required for oauth (or client_secret_file, or ${ENV})")
		}
		switch a.Grant {
		case "", "password":
			if a.Username == "" || a.Password == "" {
				add("servicenow.auth: the oauth password grant needs username and password")
			}
		case "client_credentials", "authorization_code":
		default:
			add("servicenow.auth.grant: must be password, client_credentials or authorization_code (got %q)", a.Grant)
		}
	default:
		add("servicenow.auth.method: must be basic or oauth (got %q)", a.Method)
	}
	return p
}
