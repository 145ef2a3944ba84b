package remote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Defaults of Config.
const (
	DefaultMaxConcurrent = 2
	DefaultTimeout       = 10 * time.Minute
	DefaultAckTimeout    = 30 * time.Second
)

// Config configures a Server.
type Config struct {
	URL    string        // the relay's NATS URL
	Auth   []nats.Option // credentials and CA of the agent's connection
	Tenant string
	Agent  string
	// Allow are the kinds the agent answers (remote_requests.allow);
	// every other kind is refused with a text that says so.
	Allow []string
	// Handlers answer each kind; a kind allowed without a handler is
	// refused as not supported by this agent.
	Handlers map[string]Handler
	// MaxConcurrent bounds the requests answered at once; one more is
	// answered "busy". Default DefaultMaxConcurrent.
	MaxConcurrent int
	// Timeout bounds one handler; default DefaultTimeout. The relay waits
	// only as long as its requests.answer_timeout, whichever is shorter.
	Timeout time.Duration
	// AckTimeout bounds the wait for the relay's acknowledgement of each
	// answer message; default DefaultAckTimeout.
	AckTimeout time.Duration
	Logger     zerolog.Logger
}

// Server answers remote requests. Create it with New, run it with Run.
type Server struct {
	cfg Config
	log zerolog.Logger
	sem chan struct{} // one token per request being answered
	wg  sync.WaitGroup

	mu      sync.Mutex // guards closing, and wg.Add against wg.Wait
	closing bool
}

// New checks cfg and returns a Server; it does not connect.
func New(cfg Config) (*Server, error) {
	for key, v := range map[string]string{"relay.tenant": cfg.Tenant, "agent.id": cfg.Agent} {
		if err := wire.CheckName(key, v); err != nil {
			return nil, err
		}
	}
	for _, k := range cfg.Allow {
		if !wire.ValidKind(k) {
			return nil, fmt.Errorf("remote_requests.allow: unknown kind %q (known: %s)", k, strings.Join(wire.RequestKinds, ", "))
		}
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	return &Server{cfg: cfg, log: cfg.Logger, sem: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// Run connects to the relay (retrying forever, like the forwarder), answers
// requests until ctx ends, and returns once every request being answered
// has ended (their handlers see ctx end).
func (s *Server) Run(ctx context.Context) error {
	nc, err := s.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.Subscribe(wire.RequestFilter(s.cfg.Tenant, s.cfg.Agent), func(m *nats.Msg) { s.onRequest(ctx, nc, m) })
	if err != nil {
		return fmt.Errorf("subscribe to remote requests: %w", err)
	}
	s.log.Info().Strs("allow", s.cfg.Allow).Msg("answering remote requests")
	<-ctx.Done()
	_ = sub.Unsubscribe()
	// A callback still running sees closing and starts nothing; the
	// answers under way end with ctx, before the connection closes.
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) connect() (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.Name("sei-agent " + s.cfg.Agent + " requests"),
		nats.CustomInboxPrefix(wire.InboxPrefix(s.cfg.Tenant, s.cfg.Agent)),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectWait(2 * time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.Timeout(10 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), wire.ReplyPrefix) {
				s.log.Error().Err(err).Msg("the relay refuses this agent's answers to remote requests: its credentials were issued before remote requests; " +
					"have the relay's admin run `sei-relay enroll --replace` for this agent and install the new relay.credentials")
				return
			}
			s.log.Warn().Err(err).Msg("remote requests connection")
		}),
	}, s.cfg.Auth...)
	nc, err := nats.Connect(s.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to relay %s for remote requests: %w", secret.RedactURL(s.cfg.URL), err)
	}
	return nc, nil
}

// onRequest checks one request and starts answering it. It runs on the
// subscription's goroutine, so it never waits for the relay.
func (s *Server) onRequest(ctx context.Context, nc *nats.Conn, m *nats.Msg) {
	kind, err := wire.ParseRequestSubject(s.cfg.Tenant, s.cfg.Agent, m.Subject, m.Reply)
	if err != nil {
		// Only the relay reaches this subject (the account's import);
		// a reply anywhere else could not reach it either.
		s.log.Warn().Err(err).Msg("remote request dropped")
		return
	}
	req := Request{ID: m.Header.Get(wire.HeaderRequest), Kind: kind, Asker: m.Header.Get(wire.HeaderAsker), Body: m.Data}
	log := s.log.With().Str("kind", kind).Str("request", req.ID).Str("asker", req.Asker).Logger()
	log.Info().Msg("remote request")
	status, text := s.admit(kind)
	if status == "" {
		select {
		case s.sem <- struct{}{}:
		default:
			status, text = wire.ReplyBusy, fmt.Sprintf("agent %s is answering %d requests already: ask again shortly", s.cfg.Agent, s.cfg.MaxConcurrent)
		}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		if status == "" {
			<-s.sem
		}
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		a := &answer{s: s, nc: nc, reply: m.Reply, req: req, log: log, start: time.Now()}
		if status != "" {
			a.final(ctx, status, []byte(text))
			return
		}
		defer func() { <-s.sem }()
		a.run(ctx, s.cfg.Handlers[kind])
	}()
}

// admit returns "" when kind is answered, else the reply status and the
// refusal text the asker sees.
func (s *Server) admit(kind string) (status, text string) {
	switch {
	case !wire.ValidKind(kind):
		return wire.ReplyInvalid, fmt.Sprintf("unknown request kind %q (known: %s)", kind, strings.Join(wire.RequestKinds, ", "))
	case !slices.Contains(s.cfg.Allow, kind):
		return wire.ReplyRefused, fmt.Sprintf("agent %s does not answer %q requests: its remote_requests.allow lists %s; "+
			"the agent's admin may add %s there", s.cfg.Agent, kind, listOrNone(s.cfg.Allow), kind)
	case s.cfg.Handlers[kind] == nil:
		return wire.ReplyRefused, fmt.Sprintf("agent %s cannot answer %q requests", s.cfg.Agent, kind)
	}
	return "", ""
}

func listOrNone(kinds []string) string {
	if len(kinds) == 0 {
		return "none"
	}
	return strings.Join(kinds, ", ")
}
