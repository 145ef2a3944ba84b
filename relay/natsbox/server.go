package natsbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
)

// Config configures the embedded server.
type Config struct {
	// DataDir is the relay's data directory: JetStream lives in
	// DataDir/jetstream, the registry in DataDir/agents.json, generated TLS
	// files in DataDir/tls, the admin NKEY in DataDir/relay-admin.nk.
	DataDir string
	// Listen is the client listener, host:port; port 0 picks a free port.
	Listen string
	// CertFile and KeyFile are the listener's certificate. When both are
	// empty and DisableTLS is false, a development certificate is generated
	// (see DevCert) for the listen host, localhost, the machine's host name
	// and Hosts.
	CertFile, KeyFile string
	// Hosts are extra names the generated certificate must cover (the host
	// of nats.public_url).
	Hosts []string
	// DisableTLS serves plaintext (the caller checks it is allowed).
	DisableTLS bool
	// SyncAlways fsyncs every JetStream write before the ack. The relay
	// turns it on for the single-node embedded server: agents delete a batch
	// on its ack, and with one node there is no replica to survive a power
	// loss during the default 2-minute sync interval.
	SyncAlways bool
	// MaxStore and MaxMemory bound JetStream (the server's defaults are 75%
	// of the disk and RAM).
	MaxStore, MaxMemory int64
	// PollInterval is how often Watch checks the registry; 0 means 1s.
	PollInterval time.Duration
	Log          zerolog.Logger
}

// Server is a running embedded nats-server with the relay's users.
type Server struct {
	cfg      Config
	ns       *server.Server
	tlsCA    string // CA agents trust, "" when none applies
	scheme   string // tls or nats
	relayKey nkeys.KeyPair
	relayPub string          // relayKey's public key
	adminPub string          // public key of DataDir/relay-admin.nk
	base     *server.Options // pristine options, copied for every reload
	reg      *enroll.Registry
	log      zerolog.Logger

	shutOnce sync.Once

	// mu guards the fields below.
	mu      sync.Mutex
	lastReg []byte // registry content applied last
	agents  int
}

// Start starts the embedded server and returns when it accepts connections.
// The caller must call Shutdown.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	s := &Server{cfg: cfg, reg: enroll.NewRegistry(cfg.DataDir), log: cfg.Log, scheme: "nats"}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("create relay nkey: %w", err)
	}
	s.relayKey = kp
	if s.relayPub, err = kp.PublicKey(); err != nil {
		return nil, fmt.Errorf("relay nkey: %w", err)
	}
	opts, err := s.baseOptions()
	if err != nil {
		return nil, err
	}
	if s.adminPub, err = enroll.AdminKey(cfg.DataDir); err != nil {
		return nil, err
	}
	s.base = opts.Clone()
	s.base.TLSConfig = opts.TLSConfig
	raw, err := s.readRegistry()
	if err != nil {
		return nil, err
	}
	users, err := s.users(raw)
	if err != nil {
		return nil, err
	}
	opts.Nkeys = users
	if err := checkListen(cfg.Listen); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("create nats server: %w", err)
	}
	ns.SetLoggerV2(serverLogger{cfg.Log}, cfg.Log.GetLevel() <= zerolog.DebugLevel, cfg.Log.GetLevel() <= zerolog.TraceLevel, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("start nats server on %s: not ready after 30s", cfg.Listen)
	}
	s.ns = ns
	s.lastReg, s.agents = raw, len(users)-2
	if err := ctx.Err(); err != nil {
		s.Shutdown()
		return nil, err
	}
	s.log.Info().Str("url", s.ClientURL()).Int("agents", s.agents).Bool("tls", s.scheme == "tls").Msg("embedded NATS server started")
	return s, nil
}

// baseOptions builds the server options that never change while it runs.
// Rebuilding them for a reload would change non-reloadable fields, so a
// reload copies these and replaces only Nkeys.
func (s *Server) baseOptions() (*server.Options, error) {
	host, portStr, err := net.SplitHostPort(s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats.listen %q: %w", s.cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats.listen %q: bad port", s.cfg.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT // 0 means 4222 to nats-server
	}
	opts := &server.Options{
		ServerName:             "sei-relay",
		Host:                   host,
		Port:                   port,
		NoSigs:                 true,
		JetStream:              true,
		StoreDir:               s.cfg.DataDir, // the server appends "jetstream"
		JetStreamMaxStore:      s.cfg.MaxStore,
		JetStreamMaxMemory:     s.cfg.MaxMemory,
		SyncAlways:             s.cfg.SyncAlways,
		DisableJetStreamBanner: true,
		MaxPayload:             server.MAX_PAYLOAD_SIZE,
	}
	if s.cfg.DisableTLS {
		return opts, nil
	}
	cert, key := s.cfg.CertFile, s.cfg.KeyFile
	if cert == "" {
		hosts := append([]string{"localhost", "127.0.0.1", "::1"}, s.cfg.Hosts...)
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			hosts = append(hosts, host)
		}
		dir := filepath.Join(s.cfg.DataDir, TLSDir)
		if cert, key, err = DevCert(dir, hosts); err != nil {
			return nil, err
		}
		s.tlsCA = filepath.Join(dir, CAFile)
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key})
	if err != nil {
		return nil, fmt.Errorf("load nats tls certificate %s: %w", cert, err)
	}
	opts.TLSConfig, opts.TLS, opts.TLSTimeout = tc, true, 5
	s.scheme = "tls"
	return opts, nil
}

// readRegistry returns the registry file's content; a missing file reads
// as empty (no agents).
func (s *Server) readRegistry() ([]byte, error) {
	raw, err := os.ReadFile(s.reg.Path())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read agent registry: %w", err)
	}
	return raw, nil
}

// users returns every NKEY user: the relay, the admin and each agent
// enrolled in raw, the registry file's content.
func (s *Server) users(raw []byte) ([]*server.NkeyUser, error) {
	agents, err := enroll.ParseRegistry(raw)
	if err != nil {
		return nil, fmt.Errorf("agent registry %s: %w", s.reg.Path(), err)
	}
	users := []*server.NkeyUser{{Nkey: s.relayPub}, {Nkey: s.adminPub}}
	for _, a := range agents {
		users = append(users, &server.NkeyUser{
			Nkey: a.PublicKey,
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: a.Publish()},
				Subscribe: &server.SubjectPermission{Allow: a.Subscribe()},
			},
		})
	}
	return users, nil
}

// Reload applies the registry now if it changed since the last check: new
// agents can connect, revoked ones are disconnected by the server (their
// NKEY is no longer a user) and cannot reconnect.
func (s *Server) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, err := s.readRegistry()
	if err != nil {
		return err
	}
	if bytes.Equal(raw, s.lastReg) {
		return nil
	}
	users, err := s.users(raw)
	if err != nil {
		return err
	}
	opts := s.base.Clone()
	opts.TLSConfig = s.base.TLSConfig // same certificate: no TLS reload
	opts.Nkeys = users
	if err := s.ns.ReloadOptions(opts); err != nil {
		return fmt.Errorf("reload nats users: %w", err)
	}
	s.log.Info().Int("agents", len(users)-2).Int("before", s.agents).Msg("agent registry reloaded")
	s.lastReg, s.agents = raw, len(users)-2
	return nil
}

// Watch checks the registry every PollInterval and reloads on change, until
// ctx ends; it leaves the server running, so callers close their own
// connections before they call Shutdown. A failed reload is logged once and
// retried at the next tick; the previous users stay in force meanwhile.
func (s *Server) Watch(ctx context.Context) error {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var failing bool
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Reload(); err != nil {
			if !failing {
				s.log.Error().Err(err).Msg("reload agent registry")
			}
			failing = true
		} else if failing {
			s.log.Info().Msg("agent registry reload recovered")
			failing = false
		}
	}
}

// Shutdown stops the server and waits for it. It is idempotent.
func (s *Server) Shutdown() {
	s.shutOnce.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.relayKey.Wipe()
	})
}

// Connect opens the relay's own in-process connection (full access, no
// TCP, no TLS). The caller closes it before Shutdown.
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.InProcessServer(s.ns),
		nats.Nkey(s.relayPub, s.relayKey.Sign),
		nats.MaxReconnects(-1),
	}
	nc, err := nats.Connect("", append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// ClientURL is the URL clients dial: tls://host:port (nats:// when TLS is
// disabled), with the actual port when the configured one was 0. An
// unspecified listen host (0.0.0.0) is reported as 127.0.0.1.
func (s *Server) ClientURL() string {
	addr, ok := s.ns.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return s.scheme + "://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// CAFile is the generated development CA agents must trust, or "" when the
// certificate came from the configuration or TLS is disabled.
func (s *Server) CAFile() string { return s.tlsCA }

// checkListen fails fast when the listen address is taken: nats-server only
// logs that and never becomes ready.
func checkListen(addr string) error {
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen nats.listen %s: %w", addr, err)
	}
	return l.Close()
}
