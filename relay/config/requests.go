package config

import (
	"time"

	"github.com/sei-edge/servicenow-edge/relay/confload"
)

// Requests configures remote requests to agents
// (POST /v1/agents/{tenant}/{agent}/requests).
type Requests struct {
	// Timeout is how long the relay waits for an agent to accept a
	// request before answering 504 (the agent is offline or not
	// connected).
	Timeout confload.Duration `yaml:"timeout"`
	// AnswerTimeout is how long an accepted request may take to be
	// answered whole (validate checks the network, a bundle is large).
	AnswerTimeout confload.Duration `yaml:"answer_timeout"`
	// BundleMaxBytes bounds one support bundle; BundleStoreMaxBytes all
	// the bundles kept (the SEI_BUNDLES object store), each for BundleTTL.
	BundleMaxBytes      confload.ByteSize `yaml:"bundle_max_bytes"`
	BundleStoreMaxBytes confload.ByteSize `yaml:"bundle_store_max_bytes"`
	BundleTTL           confload.Duration `yaml:"bundle_ttl"`
}

// defaultRequests is Requests' part of Default.
func defaultRequests() Requests {
	return Requests{
		Timeout:             confload.Duration(10 * time.Second),
		AnswerTimeout:       confload.Duration(2 * time.Minute),
		BundleMaxBytes:      64 << 20,
		BundleStoreMaxBytes: 1 << 30,
		BundleTTL:           confload.Duration(24 * time.Hour),
	}
}

func (c *Config) validateRequests(v *validator) {
	r := c.Requests
	if r.Timeout.D() < 100*time.Millisecond || r.Timeout.D() > 5*time.Minute {
		v.add("requests.timeout", "must be 100ms..5m (got %s)", r.Timeout)
	}
	// The HTTP server's write timeout is 5 minutes.
	if r.AnswerTimeout.D() < time.Second || r.AnswerTimeout.D() > 4*time.Minute {
		v.add("requests.answer_timeout", "must be 1s..4m (got %s)", r.AnswerTimeout)
	}
	if r.BundleMaxBytes < 1<<20 || r.BundleMaxBytes > 1<<30 {
		v.add("requests.bundle_max_bytes", "must be 1MiB..1GiB (got %s)", r.BundleMaxBytes)
	}
	if r.BundleStoreMaxBytes < r.BundleMaxBytes {
		v.add("requests.bundle_store_max_bytes", "must hold at least one bundle, requests.bundle_max_bytes %s (got %s)", r.BundleMaxBytes, r.BundleStoreMaxBytes)
	}
	if r.BundleTTL.D() < time.Minute {
		v.add("requests.bundle_ttl", "must be at least 1m (got %s)", r.BundleTTL)
	}
}
