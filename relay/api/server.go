package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// Defaults of Config.
const (
	DefaultStaleAfter = 3 * time.Minute
	// checkTimeout bounds each health check.
	checkTimeout = 3 * time.Second
	// shutdownTimeout bounds the graceful shutdown in Serve.
	shutdownTimeout = 10 * time.Second
)

// Check is one named health check for /healthz. Func returns nil when
// healthy; it must respect ctx, which carries a deadline of a few seconds.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Tenants resolves tenant tokens: TenantOf returns the one tenant a token
// may read, ok false for a token it does not know. It is called on every
// request, with the request's context, so a token created or revoked
// meanwhile counts at once. An error means the tokens cannot be read now
// (the request is answered 503 with the error's text, which must name the
// cause and hold no secret); TenantOf should return it promptly. It must be
// safe for concurrent use.
type Tenants interface {
	TenantOf(ctx context.Context, token string) (tenant string, ok bool, err error)
}

// Config configures a Server. Token and Store are required.
type Config struct {
	// Token is the admin bearer token (http.token): it reads every tenant,
	// and only it may list across tenants or read /metrics.
	Token string
	// Tenants, when set, admits tenant tokens, each reading its tenant only.
	Tenants Tenants
	// Store serves records and agents. Its Ping is always a health check,
	// named "store".
	Store store.Store
	// Health are further checks for /healthz (say "nats"), run in order
	// after the store's.
	Health []Check
	// Gatherer serves /metrics; nil serves an empty registry.
	Gatherer prometheus.Gatherer
	// StaleAfter is how long an agent may stay silent before it is listed
	// as stale; default 3 minutes (agents send a heartbeat every minute).
	StaleAfter time.Duration
	// Logger receives the server's log.
	Logger zerolog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Quota, when set, serves GET /v1/quota (tenant quotas).
	Quota QuotaFunc
	// FeedPoll is how often a waiting /v1/changes polls the store for
	// writes of other relays; default DefaultFeedPoll.
	FeedPoll time.Duration
	// Requests, when set, serves remote requests to agents (requests.go).
	Requests Requests
	// Hosted serves /v1/integrations and the OAuth callback; nil answers
	// 503 naming hosted.secret_key_file.
	Hosted Hosted
}

// Server is the relay's HTTP API. Create it with New; serve it with Serve,
// or mount Handler.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	handler http.Handler
	health  healthState
	// quit is closed when Serve starts shutting down, ending long polls.
	quit     chan struct{}
	quitOnce sync.Once
	counts   relayCounts // the reconciliation check's (reconcile.go)
}

// New checks cfg and builds the server. It does no I/O.
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.Token == "" {
		errs = append(errs, errors.New("api: Token is required (http.token)"))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("api: Store is required"))
	}
	for i, c := range cfg.Health {
		if c.Name == "" || c.Func == nil {
			errs = append(errs, fmt.Errorf("api: Health[%d] needs a Name and a Func", i))
		}
	}
	if cfg.FeedPoll < 0 {
		errs = append(errs, fmt.Errorf("api: FeedPoll must not be negative (got %s)", cfg.FeedPoll))
	}
	if cfg.StaleAfter < 0 {
		errs = append(errs, fmt.Errorf("api: StaleAfter must not be negative (got %s)", cfg.StaleAfter))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FeedPoll == 0 {
		cfg.FeedPoll = DefaultFeedPoll
	}
	cfg.Health = append([]Check{{Name: "store", Func: cfg.Store.Ping}}, cfg.Health...)
	s := &Server{cfg: cfg, log: cfg.Logger.With().Str("component", "api").Logger(), quit: make(chan struct{})}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the API's handler, for tests or another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets running requests finish for up to 10 seconds, and returns
// nil once every connection is closed. It closes ln, which the caller
// opened (on port 0 it learns the address from ln before it serves).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // a page of 10000 records to a slow client
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newStdLogger(s.log),
		// Requests outlive ctx by the shutdown grace, so they are not cut short.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(func() { s.quitOnce.Do(func() { close(s.quit) }) })
	s.log.Info().Str("listen", ln.Addr().String()).Msg("serving HTTP API")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
	}
	<-errc // http.ErrServerClosed
	if err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	return nil
}
