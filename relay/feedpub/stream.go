package feedpub

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// StreamConfig holds the limits of the SEI_CHANGES stream a deployment
// chooses (config feed.stream.*).
type StreamConfig struct {
	// Replicas: 1 embedded, 3 in a cluster. Default 1.
	Replicas int
	// MaxBytes bounds the stream; the oldest changes go first. 0: no limit.
	MaxBytes int64
	// MaxAge drops changes older than this; 0: no limit.
	MaxAge time.Duration
	// Duplicates is the Nats-Msg-Id window; default DefaultDuplicates.
	Duplicates time.Duration
}

// DefaultDuplicates is the default de-duplication window: long enough for a
// relay to restart and re-publish what it had not marked.
const DefaultDuplicates = 10 * time.Minute

// JetStreamConfig is the stream EnsureStream applies: file storage, limits
// retention (consumers keep their own durable positions), discard old.
//
// It looks like ingest.StreamConfig's and differs on purpose, so the two
// are kept apart: SEI_CHANGES keeps changes for many readers and drops the
// oldest when full, where SEI_INGEST is a work queue that refuses new
// batches (agents keep them buffered). The limits are checked once for
// both, in relay/config.
func (sc StreamConfig) JetStreamConfig() jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:        wire.ChangesStreamName,
		Description: "SEI ServiceNow Edge: every change the relay stored, for cloud consumers",
		Subjects:    []string{wire.ChangesWildcard},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    max(sc.Replicas, 1),
		MaxBytes:    sc.MaxBytes,
		MaxAge:      sc.MaxAge,
		MaxMsgs:     -1,
		Duplicates:  sc.Duplicates,
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = -1
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = DefaultDuplicates
	}
	if cfg.MaxAge > 0 && cfg.Duplicates > cfg.MaxAge {
		cfg.Duplicates = cfg.MaxAge // JetStream refuses a window past the age
	}
	return cfg
}

// EnsureStream creates SEI_CHANGES or updates it to sc. Idempotent.
func EnsureStream(ctx context.Context, js jetstream.JetStream, sc StreamConfig) (jetstream.Stream, error) {
	cfg := sc.JetStreamConfig()
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return s, nil
}
