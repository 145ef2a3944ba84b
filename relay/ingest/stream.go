package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// StreamConfig holds the settings of the ingest stream that a deployment
// chooses. Everything else is fixed by EnsureStream, the name
// (wire.StreamName) and subjects (wire.IngestWildcard) included.
type StreamConfig struct {
	// Replicas is 1 for the embedded single-node server, 3 in a cluster.
	// Default 1.
	Replicas int
	// MaxBytes bounds the stream; 0 or less means no limit. When the stream is
	// full, publishers get an error and agents keep their batches buffered.
	MaxBytes int64
	// MaxAge drops batches no relay consumed in time; 0 (the default) keeps
	// them until consumed. Any other value can lose data during a long outage.
	MaxAge time.Duration
	// Duplicates is the Nats-Msg-Id deduplication window; default 10 minutes.
	Duplicates time.Duration
}

// DefaultDuplicates is the default deduplication window of the stream.
const DefaultDuplicates = 10 * time.Minute

// JetStreamConfig returns the full stream configuration EnsureStream applies:
// file storage, work-queue retention (a batch leaves the stream once a relay
// acknowledged or quarantined it) and "discard new" (a full stream refuses
// new batches rather than dropping unconsumed ones), plus sc's settings with
// their defaults.
//
// It looks like feedpub.StreamConfig's and differs on purpose, so the two
// are kept apart: SEI_INGEST is a work queue that refuses new batches when
// full (agents keep them buffered, nothing is lost) and bounds a message's
// size, where SEI_CHANGES keeps changes for many readers and drops the
// oldest. The limits are checked once for both, in relay/config.
func (sc StreamConfig) JetStreamConfig() jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:        wire.StreamName,
		Description: "SEI ServiceNow Edge: record batches from agents to relays",
		Subjects:    []string{wire.IngestWildcard},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
		MaxBytes:    sc.MaxBytes,
		MaxAge:      sc.MaxAge,
		MaxMsgs:     -1,
		Duplicates:  sc.Duplicates,
		MaxMsgSize:  wire.MaxPayload + 64<<10, // batch plus headers
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = -1
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = DefaultDuplicates
	}
	return cfg
}

// EnsureStream creates the ingest stream, or updates it to sc when it exists.
// It is idempotent and safe to call from several relays at once.
func EnsureStream(ctx context.Context, js jetstream.JetStream, sc StreamConfig) (jetstream.Stream, error) {
	cfg := sc.JetStreamConfig()
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return s, nil
}
