package config

import (
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/logsetup"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Validate reports every problem of the configuration, each with its key
// path, as an *Error, or nil. It holds every rule the agent's commands
// apply to the file itself, the ServiceNow client's included, so
// `validate`, `install`, `run` and the other commands accept and refuse
// the same files. Parse calls it; a caller that builds or changes a Config
// itself calls it too.
func (c *Config) Validate() error {
	var p confload.Problems
	c.Agent.check(&p)
	if c.Multi() {
		c.checkInstances(&p)
	} else {
		c.ServiceNow.check(&p)
	}
	c.Relay.check(&p, c.Multi())
	c.Log.check(&p)
	c.Status.check(&p)
	c.RemoteRequests.check(&p)
	return p.Err()
}

func (a *Agent) check(p *confload.Problems) {
	if err := wire.CheckName("agent.id", a.ID); err != nil {
		*p = append(*p, err.Error())
	}
	if a.DataDir == "" {
		p.Add("agent.data_dir", "required (the folder for the buffer, state and logs)")
	}
	if a.BufferMaxBytes < 16<<20 {
		p.Add("agent.buffer_max_bytes", "must be at least 16MiB (got %s)", a.BufferMaxBytes)
	}
	if a.MinFreeBytes < 0 {
		p.Add("agent.min_free_bytes", "must not be negative (got %d)", a.MinFreeBytes)
	}
}

func (sn *ServiceNow) check(p *confload.Problems) {
	checkInstanceURL(p, sn.URL)
	if sn.Type != "cloud" && sn.Type != "onprem" {
		p.Add("servicenow.type", "must be cloud or onprem (got %q)", sn.Type)
	}
	sn.Auth.check(p)
	checkFile(p, "servicenow.ca_file", sn.CAFile)
	sn.checkProxy(p)
	sn.checkTimes(p)
	if sn.PageSize < 1 || sn.PageSize > 10000 {
		p.Add("servicenow.page_size", "must be 1..10000 (got %d)", sn.PageSize)
	}
	if sn.RateLimit < 0 {
		p.Add("servicenow.rate_limit", "must not be negative (got %g)", sn.RateLimit)
	}
	sn.checkTables(p)
	sn.checkReconcile(p)
	*p = append(*p, sn.exclusionProblems()...)
}

// checkInstanceURL: an http(s) URL with a host, no path, query or
// userinfo. A refused URL is shown redacted.
func checkInstanceURL(p *confload.Problems, raw string) {
	const key = "servicenow.url"
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		p.Add(key, "required: the instance URL, such as https://acme.service-now.com")
	case secret.HasUserinfo(raw):
		p.Add(key, "must not hold a user or password: use servicenow.auth.username and password (or password_file)")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		p.Add(key, "must be an http(s) URL such as https://acme.service-now.com (got %q)", secret.RedactURL(raw))
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "":
		p.Add(key, "must have no path or query (got %q)", secret.RedactURL(raw))
	}
}

func (sn *ServiceNow) checkProxy(p *confload.Problems) {
	if sn.Proxy == "" {
		if sn.ProxyUsername != "" || sn.ProxyPassword != "" {
			p.Add("servicenow.proxy_username", "applies only with servicenow.proxy")
		}
		return
	}
	if secret.HasUserinfo(sn.Proxy) {
		p.Add("servicenow.proxy", "must not hold a user or password: use servicenow.proxy_username and proxy_password (or proxy_password_file)")
	} else if u, err := url.Parse(sn.Proxy); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		p.Add("servicenow.proxy", "must be a URL such as http://proxy:3128 (got %q)", secret.RedactURL(sn.Proxy))
	}
	if (sn.ProxyUsername == "") != (sn.ProxyPassword == "") {
		p.Add("servicenow.proxy_password", "set both servicenow.proxy_username and proxy_password (or proxy_password_file), or neither")
	}
}

func (sn *ServiceNow) checkTimes(p *confload.Problems) {
	between := func(key string, d Duration, lo, hi time.Duration, rule string) {
		if d.D() < lo || (hi > 0 && d.D() > hi) {
			p.Add(key, "must be %s (got %s)", rule, d)
		}
	}
	between("servicenow.interval", sn.Interval, time.Minute, 0, "at least 1m")
	between("servicenow.lookback", sn.Lookback, 1, 0, "positive")
	between("servicenow.overlap", sn.Overlap, 0, time.Hour, "0..1h")
	between("servicenow.lag", sn.Lag, 0, 10*time.Minute, "0..10m")
	between("servicenow.timeout", sn.Timeout, time.Second, 10*time.Minute, "1s..10m")
}

func (sn *ServiceNow) checkTables(p *confload.Problems) {
	names := make([]string, 0, len(sn.Tables))
	for name := range sn.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t, key := sn.Tables[name], "servicenow.tables."+name
		if !wire.ValidTable(name) {
			p.Add(key, "invalid table name (lower case letters, digits and _)")
		}
		if t.Field != "" && t.Field != "sys_updated_on" && t.Field != "sys_created_on" {
			p.Add(key+".field", "must be sys_updated_on or sys_created_on (got %q)", t.Field)
		}
	}
}

func (a *Auth) check(p *confload.Problems) {
	switch a.Method {
	case "basic":
		a.checkBasic(p)
	case "oauth":
		a.checkOAuth(p)
	default:
		p.Add("servicenow.auth.method", "must be basic or oauth (got %q)", a.Method)
	}
}

func (a *Auth) checkBasic(p *confload.Problems) {
	if a.Username == "" {
		p.Add("servicenow.auth.username", "required for basic auth")
	}
	if a.Password == "" {
		p.Add("servicenow.auth.password", "required for basic auth (or password_file, or ${ENV})")
	}
}

func (a *Auth) checkOAuth(p *confload.Problems) {
	if d := a.RefreshTokenLifetime; d.D() < time.Hour {
		p.Add("servicenow.auth.refresh_token_lifetime", "must be at least 1h (got %s)", d)
	}
	if a.ClientID == "" {
		p.Add("servicenow.auth.client_id", "required for oauth")
	}
	if a.ClientSecret == "" {
		p.Add("servicenow.auth.client_secret", "required for oauth (or client_secret_file, or ${ENV})")
	}
	switch a.Grant {
	case "", "password":
		if a.Username == "" || a.Password == "" {
			p.Add("servicenow.auth", "the oauth password grant needs username and password")
		}
	case "client_credentials", "authorization_code":
	default:
		p.Add("servicenow.auth.grant", "must be password, client_credentials or authorization_code (got %q)", a.Grant)
	}
	if a.RedirectURL != "" {
		r, err := url.Parse(a.RedirectURL)
		if err != nil || r.Scheme != "http" || !loopback(r.Hostname()) {
			p.Add("servicenow.auth.redirect_url", "must be an http loopback URL such as http://localhost:8765/oauth/callback (got %q)", secret.RedactURL(a.RedirectURL))
		}
	}
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// check applies the relay block's rules; with instances (multi) the
// integration is each instance's, checked by checkInstances.
func (r *Relay) check(p *confload.Problems, multi bool) {
	u, err := url.Parse(r.URL)
	switch {
	case secret.HasUserinfo(r.URL):
		p.Add("relay.url", "must not hold a user or password: the agent authenticates with relay.credentials")
	case r.URL == "" || err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "wss" && u.Scheme != "ws"):
		p.Add("relay.url", "must be a NATS URL such as tls://relay.example.com:4222 (got %q); `sei-relay enroll` prints it", secret.RedactURL(r.URL))
	}
	if r.Credentials == "" {
		p.Add("relay.credentials", "required: the file `sei-relay enroll` wrote")
	} else {
		checkFile(p, "relay.credentials", r.Credentials)
	}
	checkFile(p, "relay.ca_file", r.CAFile)
	for _, kv := range [][2]string{{"relay.tenant", r.Tenant}, {"relay.integration", r.Integration}} {
		if multi && kv[0] == "relay.integration" {
			continue
		}
		if err := wire.CheckName(kv[0], kv[1]); err != nil {
			*p = append(*p, err.Error())
		}
	}
}

func (l *Log) check(p *confload.Problems) {
	if _, err := logsetup.ParseLevel(l.Level); err != nil {
		p.Add("log.level", "%v", err)
	}
}

func (s *Status) check(p *confload.Problems) {
	if d := s.BacklogAge; d.D() < time.Minute {
		p.Add("status.backlog_age", "must be at least 1m (got %s)", d)
	}
	if d := s.RelayDegraded; d.D() <= 0 {
		p.Add("status.relay_degraded", "must be positive (got %s)", d)
	}
	if s.RelayFailing < s.RelayDegraded {
		p.Add("status.relay_failing", "must be at least status.relay_degraded (got %s < %s)", s.RelayFailing, s.RelayDegraded)
	}
}

// checkFile reports a file that cannot be found.
func checkFile(p *confload.Problems, key, path string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		p.Add(key, "%v", err)
	}
}
