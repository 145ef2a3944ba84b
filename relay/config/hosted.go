package config

import (
	"net/url"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/secret"
)

// Hosted configures hosted integrations (ServiceNow Cloud polled by
// `sei-agent hosted`, nothing installed at the customer). They are off
// until SecretKeyFile is set.
type Hosted struct {
	// SecretKeyFile holds the 32-byte key that seals the integrations'
	// secrets (64 hex digits, e.g. `openssl rand -hex 32`). Every relay
	// replica needs the same key.
	SecretKeyFile string `yaml:"secret_key_file"`
	// PublicURL is the relay's HTTP API as a browser reaches it; the OAuth
	// redirect URL to register in ServiceNow is PublicURL/v1/oauth/callback.
	PublicURL string `yaml:"public_url"`
	// LeaseTTL is the hosted agents' lease period: an integration whose
	// hosted agent died moves to another within it.
	LeaseTTL confload.Duration `yaml:"lease_ttl"`
	// CAFile is a CA the relay trusts, beside the system's, for the
	// instances' certificates (tests, private clouds).
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether hosted integrations are on.
func (h Hosted) Enabled() bool { return h.SecretKeyFile != "" }

// defaultHosted is Hosted's part of Default.
func defaultHosted() Hosted { return Hosted{LeaseTTL: confload.Duration(30 * time.Second)} }

func (c *Config) validateHosted(v *validator) {
	h := c.Hosted
	if !h.Enabled() && (h.PublicURL != "" || h.CAFile != "") {
		v.add("hosted.secret_key_file", "required to enable hosted integrations (hosted.public_url or hosted.ca_file is set)")
	}
	if h.LeaseTTL.D() < 3*time.Second || h.LeaseTTL.D() > 10*time.Minute {
		v.add("hosted.lease_ttl", "must be 3s..10m (got %s)", h.LeaseTTL)
	}
	if h.PublicURL == "" {
		return
	}
	u, err := url.Parse(h.PublicURL)
	switch {
	case secret.HasUserinfo(h.PublicURL):
		v.add("hosted.public_url", "must not hold a user or password")
	case err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		v.add("hosted.public_url", "must be the relay's address, such as https://sei.example.com (got %q)", secret.RedactURL(h.PublicURL))
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		v.add("hosted.public_url", "must be https (http only on a loopback address, for tests) (got %q)", u.Scheme)
	}
}
