package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/confload"
)

func TestExampleDocumentsFeed(t *testing.T) {
	t.Setenv("SEI_RELAY_TOKEN", "s3cret")
	path := filepath.Join("..", "..", "configs", "relay.example.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block := string(raw)[strings.Index(string(raw), "\nfeed:"):]
	for _, key := range []string{"poll:", "nats:", "stream:", "max_bytes:", "max_age:", "replicas:", "duplicate_window:"} {
		if !strings.Contains(block, key) {
			t.Errorf("the feed block of relay.example.yaml does not mention %s", key)
		}
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Feed != defaultFeed() {
		t.Errorf("example feed block %+v differs from the defaults %+v", c.Feed, defaultFeed())
	}
}

func TestValidateFeed(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"poll too short", func(c *Config) { c.Feed.Poll = confload.Duration(time.Millisecond) }, "feed.poll: must be 10ms..1m"},
		{"no bytes", func(c *Config) { c.Feed.Stream.MaxBytes = 0 }, "feed.stream.max_bytes: must be > 0"},
		{"negative age", func(c *Config) { c.Feed.Stream.MaxAge = confload.Duration(-time.Second) }, "feed.stream.max_age"},
		{"replicas embedded", func(c *Config) { c.Feed.Stream.Replicas = 3 }, "feed.stream.replicas: must be 1 with the embedded"},
		{"window past age", func(c *Config) { c.Feed.Stream.MaxAge = confload.Duration(time.Minute) }, "feed.stream.duplicate_window: must not exceed"},
		{"does not fit", func(c *Config) { c.Feed.NATS = true; c.Feed.Stream.MaxBytes = 9 << 30 }, "must fit in nats.max_store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	c := Default()
	c.Feed.NATS = true
	if err := c.Validate(); err != nil {
		t.Errorf("default with feed.nats: %v", err)
	}
}
