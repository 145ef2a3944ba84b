package remotereq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Defaults of Config.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultAnswerTimeout    = 2 * time.Minute
	DefaultMaxResultBytes   = 16 << 20
	DefaultBundleMaxBytes   = 64 << 20
	DefaultBundleStoreBytes = 1 << 30
	DefaultBundleTTL        = 24 * time.Hour
	// MaxBundlesInFlight bounds the bundles received at once (each held
	// in memory until checked).
	MaxBundlesInFlight = 2
	// MaxInFlight bounds the requests one relay waits on at once.
	MaxInFlight = 64
)

// Errors of Ask, for the HTTP status they map to.
var (
	// ErrNoAnswer: the agent did not accept the request within Timeout.
	ErrNoAnswer = errors.New("agent did not answer")
	// ErrNotConnected, with ErrNoAnswer: nothing listens for the agent's
	// requests, known at once.
	ErrNotConnected = errors.New("agent not connected")
	// ErrAnswerTimeout: the agent accepted but did not finish within
	// AnswerTimeout.
	ErrAnswerTimeout = errors.New("agent did not finish its answer")
	// ErrBadAnswer: the agent's answer broke the exchange (chunks out of
	// order, a size or checksum that does not match, too large).
	ErrBadAnswer = errors.New("bad answer from agent")
	// ErrUnavailable: the relay cannot take this request now (bundles:
	// too many at once, or no object store).
	ErrUnavailable = errors.New("unavailable")
	// ErrNotFound: no such bundle (never made, expired, another agent's).
	ErrNotFound = errors.New("no such bundle")
)

// Config configures an Asker. Conn is required; JS is needed for bundles.
type Config struct {
	Conn *nats.Conn
	JS   jetstream.JetStream
	// Timeout bounds the wait for the agent's acceptance; AnswerTimeout
	// the wait for the whole answer after it.
	Timeout, AnswerTimeout time.Duration
	// MaxResultBytes bounds a JSON result, BundleMaxBytes one bundle.
	MaxResultBytes, BundleMaxBytes int64
	// BundleStoreBytes bounds SEI_BUNDLES; BundleTTL is how long a bundle
	// stays there. Replicas is its replica count (default 1).
	BundleStoreBytes int64
	BundleTTL        time.Duration
	Replicas         int
	Logger           zerolog.Logger
}

// Question is one request to ask.
type Question struct {
	Tenant, Agent, Kind string
	Body                []byte // the JSON object the asker posted
	Asker               string // who asked: "admin" or the token's name
}

// Answer is what the agent said.
type Answer struct {
	ID     string // the request's id
	Status string // wire.ReplyResult, ReplyRefused, ReplyInvalid, ReplyBusy or ReplyError
	Text   string // the agent's text, for every status but ReplyResult
	// Result is the JSON result (ReplyResult of a JSON kind).
	Result json.RawMessage
	// Bundle describes the stored bundle (ReplyResult of a bundle).
	Bundle *Bundle
}

// Asker asks agents requests. Its methods are safe for concurrent use.
type Asker struct {
	cfg      Config
	log      zerolog.Logger
	bundles  chan struct{} // one token per bundle being received
	inflight chan struct{} // one token per request waited on

	mu  sync.Mutex // guards obs
	obs jetstream.ObjectStore
}

// New checks cfg and returns an Asker.
func New(cfg Config) (*Asker, error) {
	if cfg.Conn == nil {
		return nil, errors.New("remotereq: Conn is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defBytes := func(b *int64, v int64) {
		if *b <= 0 {
			*b = v
		}
	}
	def(&cfg.Timeout, DefaultTimeout)
	def(&cfg.AnswerTimeout, DefaultAnswerTimeout)
	def(&cfg.BundleTTL, DefaultBundleTTL)
	defBytes(&cfg.MaxResultBytes, DefaultMaxResultBytes)
	defBytes(&cfg.BundleMaxBytes, DefaultBundleMaxBytes)
	defBytes(&cfg.BundleStoreBytes, DefaultBundleStoreBytes)
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	return &Asker{cfg: cfg, log: cfg.Logger.With().Str("component", "requests").Logger(), bundles: make(chan struct{}, MaxBundlesInFlight),
		inflight: make(chan struct{}, MaxInFlight)}, nil
}

// Timeout is the wait for an agent's acceptance, for messages.
func (a *Asker) Timeout() time.Duration { return a.cfg.Timeout }

// AnswerTimeout is the wait for a whole answer, for messages.
func (a *Asker) AnswerTimeout() time.Duration { return a.cfg.AnswerTimeout }

// Ask sends q to its agent and waits for the answer. The error is
// ErrNoAnswer, ErrAnswerTimeout, ErrBadAnswer or ErrUnavailable (wrapped
// with details), or another error of the relay's own.
func (a *Asker) Ask(ctx context.Context, q Question) (Answer, error) {
	if err := errors.Join(wire.CheckName("tenant", q.Tenant), wire.CheckName("agent", q.Agent)); err != nil {
		return Answer{}, err
	}
	if !wire.ValidKind(q.Kind) {
		return Answer{}, fmt.Errorf("unknown request kind %q", q.Kind)
	}
	select {
	case a.inflight <- struct{}{}:
		defer func() { <-a.inflight }()
	default:
		return Answer{}, fmt.Errorf("%w: this relay waits on %d requests already; ask again shortly", ErrUnavailable, MaxInFlight)
	}
	if q.Kind == wire.KindBundle {
		select {
		case a.bundles <- struct{}{}:
			defer func() { <-a.bundles }()
		default:
			return Answer{}, fmt.Errorf("%w: %d bundles are being received already; ask again shortly", ErrUnavailable, MaxBundlesInFlight)
		}
		if _, err := a.store(ctx); err != nil {
			return Answer{}, err
		}
	}
	id, err := newID()
	if err != nil {
		return Answer{}, err
	}
	x := &exchange{a: a, q: q, id: id, log: a.log.With().Str("tenant", q.Tenant).Str("agent", q.Agent).
		Str("kind", q.Kind).Str("request", id).Str("asker", q.Asker).Logger()}
	return x.run(ctx)
}

// newID is a request id: 128 random bits, hex, a valid subject token.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make request id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
