package config

import (
	"time"

	"github.com/sei-edge/servicenow-edge/relay/confload"
)

// Feed configures the change feed (/v1/changes, and the optional NATS form).
type Feed struct {
	// Poll is how often a waiting /v1/changes, and the NATS publisher, look
	// for writes of other relays on a shared PostgreSQL (writes of this
	// relay wake them at once).
	Poll confload.Duration `yaml:"poll"`
	// NATS publishes every change to sei.changes.<tenant>.<integration>.<table>,
	// captured by the SEI_CHANGES stream.
	NATS   bool       `yaml:"nats"`
	Stream FeedStream `yaml:"stream"`
}

// FeedStream sets the SEI_CHANGES stream's limits. Unlike SEI_INGEST it
// keeps changes after they are read (each consumer has its own durable), and
// drops the oldest when a limit is reached.
type FeedStream struct {
	MaxBytes        confload.ByteSize `yaml:"max_bytes"`
	MaxAge          confload.Duration `yaml:"max_age"`  // 0: no age limit
	Replicas        int               `yaml:"replicas"` // 0: 1 embedded, 3 external
	DuplicateWindow confload.Duration `yaml:"duplicate_window"`
}

// defaultFeed is Feed's part of Default.
func defaultFeed() Feed {
	return Feed{
		Poll: confload.Duration(time.Second),
		Stream: FeedStream{
			MaxBytes:        4 << 30,
			MaxAge:          confload.Duration(7 * 24 * time.Hour),
			DuplicateWindow: confload.Duration(10 * time.Minute),
		},
	}
}

// FeedReplicas is the effective replica count of SEI_CHANGES.
func (c *Config) FeedReplicas() int {
	if c.Feed.Stream.Replicas > 0 {
		return c.Feed.Stream.Replicas
	}
	return c.StreamReplicas()
}

func (c *Config) validateFeed(v *validator) {
	f := c.Feed
	if f.Poll.D() < 10*time.Millisecond || f.Poll.D() > time.Minute {
		v.add("feed.poll", "must be 10ms..1m (got %s)", f.Poll)
	}
	s := f.Stream
	c.validateStream(v, "feed.stream", Stream(s))
	if f.NATS && c.NATS.Embedded() && c.NATS.MaxStore < c.Stream.MaxBytes+s.MaxBytes {
		v.add("feed.stream.max_bytes", "with stream.max_bytes (%s) must fit in nats.max_store (%s) (got %s)", c.Stream.MaxBytes, c.NATS.MaxStore, s.MaxBytes)
	}
}
