package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/confload"
)

func TestExampleDocumentsHosted(t *testing.T) {
	t.Setenv("SEI_RELAY_TOKEN", "s3cret")
	c, err := Load(filepath.Join("..", "..", "configs", "relay.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Hosted
	if !h.Enabled() || !filepath.IsAbs(h.SecretKeyFile) || h.PublicURL != "https://sei-relay.example.com" || h.LeaseTTL.D() != 30*time.Second || h.CAFile != "" {
		t.Errorf("example hosted block: %+v", h)
	}
}

func TestValidateHosted(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(h *Hosted)
		want string
	}{
		{"off", func(h *Hosted) {}, ""},
		{"public url without key", func(h *Hosted) { h.PublicURL = "https://x.example.com" }, "hosted.secret_key_file: required"},
		{"http public url", func(h *Hosted) { h.SecretKeyFile = "k"; h.PublicURL = "http://x.example.com" }, "hosted.public_url: must be https"},
		{"loopback http", func(h *Hosted) { h.SecretKeyFile = "k"; h.PublicURL = "http://127.0.0.1:8080" }, ""},
		{"userinfo", func(h *Hosted) { h.SecretKeyFile = "k"; h.PublicURL = "https://u:pw-SEKRIT@x.example.com" }, "hosted.public_url: must not hold"},
		{"path", func(h *Hosted) { h.SecretKeyFile = "k"; h.PublicURL = "https://x.example.com/sei" }, "hosted.public_url: must be the relay's address"},
		{"short lease", func(h *Hosted) { h.LeaseTTL = confload.Duration(time.Second) }, "hosted.lease_ttl: must be 3s..10m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c.Hosted)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "pw-SEKRIT"):
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}
