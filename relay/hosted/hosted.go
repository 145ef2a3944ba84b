package hosted

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Config configures the relay's hosted integrations. JS, Conn, Sealer and
// Store are required.
type Config struct {
	JS       jetstream.JetStream
	Conn     *nats.Conn
	Replicas int // of the KV buckets
	Sealer   *Sealer
	// LeaseTTL is the hosted agents' lease period (the leases bucket's TTL);
	// default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// PublicURL is the relay's address as a browser reaches it; the OAuth
	// redirect URL is PublicURL + CallbackPath. Empty: OAuth connects are
	// refused with a message naming hosted.public_url.
	PublicURL string
	// CAFile adds a CA to trust for the instances' certificates, beside
	// the system's (tests, private clouds).
	CAFile string
	// Store gives the pipelines' status (their heartbeats).
	Store store.Store
	// Credentials makes the pipelines' NATS credentials; nil without
	// tenant accounts.
	Credentials Credentials
	// Revoke withdraws the pipeline credentials of a deleted integration
	// (its agent in the tenant's account); nil without tenant accounts.
	Revoke func(ctx context.Context, tenant, agent string) error
	Logger zerolog.Logger
}

// Hosted is the relay's side of hosted integrations: the registry, the
// OAuth states, the NATS service and the HTTP handlers.
type Hosted struct {
	reg       *Registry
	states    *states
	svc       *Service
	revoke    func(ctx context.Context, tenant, agent string) error
	store     store.Store
	publicURL string
	hc        *http.Client
	log       zerolog.Logger
	now       func() time.Time
}

// Open creates or opens the buckets and builds the handlers.
func Open(ctx context.Context, cfg Config) (*Hosted, error) {
	if cfg.JS == nil || cfg.Conn == nil || cfg.Sealer == nil || cfg.Store == nil {
		return nil, errors.New("hosted: JS, Conn, Sealer and Store are required")
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	hc, err := instanceClient(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	reg, err := OpenRegistry(ctx, cfg.JS, cfg.Replicas, cfg.Sealer)
	if err != nil {
		return nil, err
	}
	st, err := openStates(ctx, cfg.JS, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	leases, err := OpenLeases(ctx, cfg.JS, cfg.Replicas, cfg.LeaseTTL)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("component", "hosted").Logger()
	return &Hosted{
		reg: reg, states: st, store: cfg.Store, revoke: cfg.Revoke, hc: hc, log: log, now: time.Now,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		svc:       &Service{nc: cfg.Conn, reg: reg, leases: leases, creds: cfg.Credentials, log: log},
	}, nil
}

// Run answers the hosted agents until ctx ends.
func (h *Hosted) Run(ctx context.Context) error { return h.svc.Run(ctx) }

// Registry returns the integration registry.
func (h *Hosted) Registry() *Registry { return h.reg }

// RedirectURL is the OAuth redirect URL to register in ServiceNow, "" when
// hosted.public_url is not set.
func (h *Hosted) RedirectURL() string {
	if h.publicURL == "" {
		return ""
	}
	return h.publicURL + CallbackPath
}

// instanceClient is the HTTP client for the instances' oauth_token.do.
func instanceClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("hosted.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("hosted.ca_file %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		// The token endpoint answers directly; a redirect is not followed
		// with the client secret.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}
