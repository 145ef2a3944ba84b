package config

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/logsetup"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Error lists every problem of a configuration, one per line, each
// starting with its key path; the agent's configuration errors are the
// same type.
type Error = confload.Error

// Validate checks the whole configuration and returns an *Error naming
// every problem, or nil. Load runs it; a caller that builds or changes a
// Config itself runs it too.
func (c *Config) Validate() error {
	v := &validator{}
	if c.DataDir == "" {
		v.add("data_dir", "required")
	}
	v.hostPort("http.listen", c.HTTP.Listen)
	if (c.HTTP.TLS.CertFile == "") != (c.HTTP.TLS.KeyFile == "") {
		v.add("http.tls", "set both cert_file and key_file, or neither (plain HTTP)")
	}
	c.validateNATS(v)
	c.validateStore(v)
	c.validateLimits(v)
	c.validateFeed(v)
	c.validateRequests(v)
	c.validateHosted(v)
	if _, err := logsetup.ParseLevel(c.Log.Level); err != nil {
		v.add("log.level", "%v", err)
	}
	return v.problems.Err()
}

func (c *Config) validateNATS(v *validator) {
	n := c.NATS
	if !n.Embedded() {
		for _, one := range strings.Split(n.URL, ",") {
			if u, err := url.Parse(strings.TrimSpace(one)); err != nil || u.Host == "" || !oneOf(u.Scheme, "nats", "tls") {
				v.add("nats.url", "must be nats://host:port or tls://host:port, comma-separated (got %q)", secret.RedactURL(n.URL))
				break
			}
		}
		if secret.HasUserinfo(n.URL) {
			v.add("nats.url", "must not hold a user or password: put the relay's credentials in nats.credentials")
		}
		if n.TLS.CertFile != "" || n.TLS.KeyFile != "" {
			v.add("nats.tls", "applies only to the embedded server; remove it or nats.url")
		}
		return
	}
	if n.Credentials != "" {
		v.add("nats.credentials", "applies only with nats.url (external cluster)")
	}
	if n.SystemCredentials != "" {
		v.add("nats.system_credentials", "applies only with nats.url (external cluster); the embedded server's system account is the relay's own")
	}
	if n.CAFile != "" {
		v.add("nats.ca_file", "applies only with nats.url (external cluster); the embedded server uses nats.tls")
	}
	host := v.hostPort("nats.listen", n.Listen)
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		v.add("nats.tls", "set both cert_file and key_file, or neither (a development certificate is generated)")
	}
	if n.TLS.Disable && (n.TLS.CertFile != "" || n.TLS.KeyFile != "") {
		v.add("nats.tls.disable", "conflicts with nats.tls.cert_file/key_file")
	}
	if n.TLS.Disable && host != "" && !isLoopback(host) && !n.AllowPlaintext {
		v.add("nats.tls.disable", "plaintext on non-loopback %q needs nats.allow_plaintext: true", n.Listen)
	}
	if n.PublicURL != "" {
		u, err := url.Parse(n.PublicURL)
		if err != nil || u.Host == "" || !oneOf(u.Scheme, "nats", "tls") {
			v.add("nats.public_url", "must be nats://host:port or tls://host:port (got %q)", secret.RedactURL(n.PublicURL))
		}
		if secret.HasUserinfo(n.PublicURL) {
			v.add("nats.public_url", "must not hold a user or password: agents authenticate with their credentials file")
		}
	}
	if n.MaxMemory <= 0 {
		v.add("nats.max_memory", "must be > 0 (got %d)", n.MaxMemory)
	}
	if n.MaxStore < c.Stream.MaxBytes {
		v.add("nats.max_store", "must be at least stream.max_bytes (%s) (got %s)", c.Stream.MaxBytes, n.MaxStore)
	}
}

func (c *Config) validateStore(v *validator) {
	switch c.Store.Kind {
	case StoreBadger:
		if c.Store.DSN != "" || c.Store.DSNFile != "" {
			v.add("store.dsn", "applies only when store.kind is postgres")
		}
	case StorePostgres:
		if c.Store.DSN == "" {
			v.add("store.dsn", "required when store.kind is postgres")
		}
	default:
		v.add("store.kind", "must be badger or postgres (got %q)", c.Store.Kind)
	}
}

// validateStream checks the limits of a stream (SEI_INGEST's or
// SEI_CHANGES'), whose keys are under prefix.
func (c *Config) validateStream(v *validator, prefix string, s Stream) {
	if s.MaxBytes <= 0 {
		v.add(prefix+".max_bytes", "must be > 0 (got %d)", s.MaxBytes)
	}
	if s.MaxAge < 0 {
		v.add(prefix+".max_age", "must be >= 0, 0 for no limit (got %s)", s.MaxAge)
	}
	if s.Replicas < 0 || s.Replicas > 5 {
		v.add(prefix+".replicas", "must be 0..5, 0 for 1 embedded and 3 external (got %d)", s.Replicas)
	}
	if c.NATS.Embedded() && s.Replicas > 1 {
		v.add(prefix+".replicas", "must be 1 with the embedded single-node server (got %d)", s.Replicas)
	}
	if s.DuplicateWindow <= 0 {
		v.add(prefix+".duplicate_window", "must be > 0 (got %s)", s.DuplicateWindow)
	} else if s.MaxAge > 0 && s.DuplicateWindow > s.MaxAge {
		v.add(prefix+".duplicate_window", "must not exceed "+prefix+".max_age %s (got %s)", s.MaxAge, s.DuplicateWindow)
	}
}

func (c *Config) validateLimits(v *validator) {
	c.validateStream(v, "stream", c.Stream)
	if c.Consumer.QuarantineMaxBatches < 1 {
		v.add("consumer.quarantine_max_batches", "must be >= 1 (got %d)", c.Consumer.QuarantineMaxBatches)
	}
	if c.Consumer.QuarantineMaxBytes < 1<<20 {
		v.add("consumer.quarantine_max_bytes", "must be at least 1MiB (got %d)", c.Consumer.QuarantineMaxBytes)
	}
	if c.Consumer.DecodeBudgetBytes < wire.MaxDecoded {
		v.add("consumer.decode_budget_bytes", "must be at least %dMiB, the largest batch (got %d)", wire.MaxDecoded>>20, c.Consumer.DecodeBudgetBytes)
	}
	if c.Consumer.MaxDeliver < 1 {
		v.add("consumer.max_deliver", "must be >= 1 (got %d)", c.Consumer.MaxDeliver)
	}
	if c.Consumer.AckWait.D() < time.Second {
		v.add("consumer.ack_wait", "must be >= 1s (got %s)", c.Consumer.AckWait)
	}
	if c.Quota.MaxMessages < 0 {
		v.add("quota.max_messages", "must be >= 0, 0 for no limit (got %d)", c.Quota.MaxMessages)
	}
	if c.Quota.MaxBytes != 0 && c.Quota.MaxBytes < 1<<20 {
		v.add("quota.max_bytes", "must be 0 (no limit) or at least 1MiB, one batch's size (got %d)", c.Quota.MaxBytes)
	}
	if c.Quota.ConnectionsPerAgent < 1 || c.Quota.ConnectionsPerAgent > 1000 {
		v.add("quota.connections_per_agent", "must be 1..1000 (got %d)", c.Quota.ConnectionsPerAgent)
	}
	if c.Quota.CheckInterval.D() < 100*time.Millisecond {
		v.add("quota.check_interval", "must be >= 100ms (got %s)", c.Quota.CheckInterval)
	}
	if c.Heartbeat.StaleAfter <= 0 {
		v.add("heartbeat.stale_after", "must be > 0 (got %s)", c.Heartbeat.StaleAfter)
	}
}

type validator struct{ problems confload.Problems }

func (v *validator) add(key, format string, args ...any) { v.problems.Add(key, format, args...) }

// hostPort checks a host:port listen address and returns its host.
func (v *validator) hostPort(key, addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "must be host:port (got %q)", addr)
		return ""
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(key, "port must be 0..65535 (got %q)", port)
	}
	return host
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}
