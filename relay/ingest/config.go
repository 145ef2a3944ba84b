package ingest

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Defaults of Config.
const (
	DefaultDurable         = "sei-relay"
	DefaultMaxDeliver      = 10
	DefaultAckWait         = 30 * time.Second
	DefaultBatch           = 32
	DefaultMaxGroupRecords = 10000
	DefaultDecodeBudget    = 2 * wire.MaxDecoded
	DefaultNakDelay        = time.Second
	DefaultMaxNakDelay     = time.Minute
	DefaultConfirmInterval = time.Second
	DefaultLagInterval     = 15 * time.Second
	// DefaultPartTTL is how long the parts of an incomplete part set are
	// kept, and DefaultExpireInterval how often they are looked for.
	DefaultPartTTL        = 7 * 24 * time.Hour
	DefaultExpireInterval = time.Hour
	// DefaultQuarantineBatches and DefaultQuarantineBytes bound one
	// tenant's quarantine.
	DefaultQuarantineBatches = 1000
	DefaultQuarantineBytes   = 256 << 20
)

// Config configures a Consumer. JS, Conn and Store are required; every zero
// duration or count takes its default.
type Config struct {
	// JS is the JetStream context the consumer fetches from.
	JS jetstream.JetStream
	// Conn publishes delivery confirmations and receives heartbeats.
	Conn *nats.Conn
	// Store receives the records, heartbeats and quarantined batches.
	Store store.Store
	// Logger receives the consumer's log; the zero Logger logs nothing.
	Logger zerolog.Logger

	// Stream, when set, is created or updated by Run before consuming (see
	// EnsureStream). When nil the stream (wire.StreamName) is managed
	// elsewhere and Run waits for it to exist.
	Stream *StreamConfig

	// Durable is the consumer name every relay shares; default "sei-relay".
	// It also names the heartbeat queue group.
	Durable string
	// MaxDeliver is how many deliveries a batch gets before it is
	// quarantined; default 10.
	MaxDeliver int
	// AckWait is how long the server waits for an ack before redelivering;
	// default 30s. InProgress is sent every AckWait/3 during a slow write.
	AckWait time.Duration
	// Batch is how many messages one fetch asks for; default 32. Messages
	// that are ready together are applied in one store transaction.
	Batch int
	// MaxGroupRecords caps the records of one store transaction; default
	// 10000. A single batch larger than it is still applied whole.
	MaxGroupRecords int
	// DecodeBudget bounds the inflated bytes of the decoded batches the
	// consumer holds at once, whatever a fetch delivered (Batch messages
	// of up to wire.MaxDecoded each): each message's size is measured
	// before its records are parsed, and the batches held are applied
	// first when it would not fit. It is at least wire.MaxDecoded, so any
	// batch the wire allows fits alone; default DefaultDecodeBudget (two
	// of the largest batches). It also caps one store transaction.
	DecodeBudget int64
	// NakDelay is the redelivery delay after the first failed write, doubled
	// per delivery up to MaxNakDelay; defaults 1s and 1m.
	NakDelay    time.Duration
	MaxNakDelay time.Duration
	// ConfirmInterval is the least time between two confirmations to one
	// agent; default 1s.
	ConfirmInterval time.Duration
	// LagInterval is how often the consumer's backlog gauge is refreshed;
	// default 15s.
	LagInterval time.Duration
	// PartTTL is how long the parts of an incomplete part set are kept
	// (DefaultPartTTL); ExpireInterval how often expired sets are deleted
	// (DefaultExpireInterval).
	PartTTL        time.Duration
	ExpireInterval time.Duration

	// Quarantine bounds each tenant's quarantine; zero fields take
	// DefaultQuarantineBatches and DefaultQuarantineBytes. A batch past the
	// bound is refused and counted (quarantine_refused_total).
	Quarantine store.QuarantineLimits

	// Ledger, when set, counts each tenant's bytes in the stream and may
	// refuse a tenant's batches (quota.max_bytes): the gateway asks Admit
	// before forwarding a batch and calls Added when the stream stored it;
	// the consumer calls Removed when a batch left the stream.
	Ledger Ledger

	// Metrics, when set, registers the consumer's metrics (names start with
	// sei_relay_ingest_).
	Metrics prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Ledger tracks the bytes each tenant holds in the stream (relay/quota's
// Ledger, or its Shared on an external cluster). Its methods must be safe
// for concurrent use; Added and Removed must not block, Admit may wait for
// one short request.
type Ledger interface {
	// Admit returns an error, for the agent to read, when tenant may not
	// send another batch now.
	Admit(tenant string) error
	// Added counts n bytes the stream stored for tenant.
	Added(tenant string, n int64)
	// Removed counts n bytes of tenant that left the stream.
	Removed(tenant string, n int64)
}

// noLedger admits everything.
type noLedger struct{}

func (noLedger) Admit(string) error    { return nil }
func (noLedger) Added(string, int64)   {}
func (noLedger) Removed(string, int64) {}

var durableRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// withDefaults returns cfg with every zero field set to its default, or an
// error naming each invalid field.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	if cfg.JS == nil {
		errs = append(errs, errors.New("ingest: JS is required"))
	}
	if cfg.Conn == nil {
		errs = append(errs, errors.New("ingest: Conn is required"))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("ingest: Store is required"))
	}
	setDefault(&cfg.Durable, DefaultDurable)
	if !durableRE.MatchString(cfg.Durable) {
		errs = append(errs, fmt.Errorf("ingest: Durable must match %s (got %q)", durableRE, cfg.Durable))
	}
	setDefault(&cfg.MaxDeliver, DefaultMaxDeliver)
	setDefault(&cfg.AckWait, DefaultAckWait)
	setDefault(&cfg.Batch, DefaultBatch)
	setDefault(&cfg.MaxGroupRecords, DefaultMaxGroupRecords)
	setDefault(&cfg.DecodeBudget, DefaultDecodeBudget)
	setDefault(&cfg.NakDelay, DefaultNakDelay)
	setDefault(&cfg.MaxNakDelay, DefaultMaxNakDelay)
	setDefault(&cfg.ConfirmInterval, DefaultConfirmInterval)
	setDefault(&cfg.LagInterval, DefaultLagInterval)
	setDefault(&cfg.PartTTL, DefaultPartTTL)
	setDefault(&cfg.ExpireInterval, DefaultExpireInterval)
	setDefault(&cfg.Quarantine.MaxBatches, DefaultQuarantineBatches)
	setDefault(&cfg.Quarantine.MaxBytes, DefaultQuarantineBytes)
	if cfg.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("ingest: MaxDeliver must be at least 1 (got %d)", cfg.MaxDeliver))
	}
	if cfg.Batch < 1 {
		errs = append(errs, fmt.Errorf("ingest: Batch must be at least 1 (got %d)", cfg.Batch))
	}
	if cfg.DecodeBudget < wire.MaxDecoded {
		errs = append(errs, fmt.Errorf("ingest: DecodeBudget must be at least wire.MaxDecoded, %d bytes, so the largest batch fits (got %d)", wire.MaxDecoded, cfg.DecodeBudget))
	}
	if cfg.PartTTL < 0 || cfg.ExpireInterval < 0 {
		errs = append(errs, fmt.Errorf("ingest: PartTTL and ExpireInterval must be positive (got %v and %v)", cfg.PartTTL, cfg.ExpireInterval))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Ledger == nil {
		cfg.Ledger = noLedger{}
	}
	return cfg, errors.Join(errs...)
}

// setDefault sets *v to def when it is zero.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
