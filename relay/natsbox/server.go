package natsbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
)

// Config configures the embedded server.
type Config struct {
	// DataDir is the relay's data directory: JetStream lives in
	// DataDir/jetstream, the accounts (keys, tenants, the resolver's JWTs)
	// in DataDir/accounts, generated TLS files in DataDir/tls, the admin
	// credentials in DataDir/relay-admin.creds.
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
	Log                 zerolog.Logger
}

// Server is a running embedded nats-server in operator mode: the relay's
// account holds JetStream, each tenant is an account in a directory
// resolver (see package enroll for the model).
type Server struct {
	cfg      Config
	ns       *server.Server
	resolver *server.DirAccResolver
	keys     *enroll.Keys
	tlsCA    string        // CA agents trust, "" when none applies
	scheme   string        // tls or nats
	relayKey nkeys.KeyPair // the relay's own user (in-process connection)
	relayJWT string        // its user JWT
	log      zerolog.Logger

	shutOnce sync.Once
}

// Start starts the embedded server and returns when it accepts connections.
// The caller must call Shutdown.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, log: cfg.Log, scheme: "nats"}
	var err error
	if s.keys, err = enroll.LoadKeys(cfg.DataDir); err != nil {
		return nil, err
	}
	if _, err := enroll.AdminCreds(cfg.DataDir, s.keys); err != nil {
		return nil, err
	}
	if err := s.relayUser(); err != nil {
		return nil, err
	}
	opts, err := s.baseOptions()
	if err != nil {
		return nil, err
	}
	if err := checkListen(cfg.Listen); err != nil {
		return nil, err
	}
	if err := s.accountOptions(opts); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.resolver.Close()
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
	if err := ctx.Err(); err != nil {
		s.Shutdown()
		return nil, err
	}
	s.log.Info().Str("url", s.ClientURL()).Bool("tls", s.scheme == "tls").Msg("embedded NATS server started")
	return s, nil
}

// relayUser makes the relay's own user for this run: a fresh key, signed by
// the relay account, never written to disk.
func (s *Server) relayUser() error {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("create relay nkey: %w", err)
	}
	uc := jwt.NewUserClaims(enroll.Public(kp))
	uc.Name = "sei-relay"
	if s.relayJWT, err = uc.Encode(s.keys.Relay); err != nil {
		return fmt.Errorf("sign relay user jwt: %w", err)
	}
	s.relayKey = kp
	return nil
}

// accountOptions puts the server in operator mode: the operator trusted,
// the system account set, and a directory resolver in
// DataDir/accounts/jwt holding the system and relay accounts' JWTs
// (rewritten at every start: they depend only on the keys) and every
// tenant's, which enroll adds one at a time.
func (s *Server) accountOptions(opts *server.Options) error {
	oc, _, err := s.keys.OperatorClaims()
	if err != nil {
		return err
	}
	dir := filepath.Join(s.cfg.DataDir, enroll.ResolverDir)
	dr, err := server.NewDirAccResolver(dir, 0, 0, server.NoDelete)
	if err != nil {
		return fmt.Errorf("open account resolver %s: %w", dir, err)
	}
	sysJWT, err := s.keys.SystemJWT()
	if err != nil {
		return err
	}
	relayJWT, err := s.keys.RelayJWT()
	if err != nil {
		return err
	}
	for _, tok := range []string{sysJWT, relayJWT} {
		if err := storeJWT(dr, tok); err != nil {
			return err
		}
	}
	s.resolver = dr
	opts.TrustedOperators = []*jwt.OperatorClaims{oc}
	opts.SystemAccount = enroll.Public(s.keys.System)
	opts.AccountResolver = dr
	return nil
}

// storeJWT writes an account JWT into the resolver; the server, once
// running, applies it to that one account.
func storeJWT(dr *server.DirAccResolver, tok string) error {
	ac, err := jwt.DecodeAccountClaims(tok)
	if err != nil {
		return fmt.Errorf("decode account jwt: %w", err)
	}
	if err := dr.Store(ac.Subject, tok); err != nil {
		return fmt.Errorf("store account jwt %s (%s): %w", ac.Name, ac.Subject, err)
	}
	return nil
}

// UpdateAccount checks that tok is an account JWT signed by this relay's
// operator and applies it: a new tenant's agents can connect, a revoked
// agent is disconnected, a paused tenant loses its ingest import. Only that
// account is touched.
func (s *Server) UpdateAccount(tok string) error {
	ac, err := jwt.DecodeAccountClaims(tok)
	if err != nil {
		return fmt.Errorf("decode account jwt: %w", err)
	}
	if ac.Issuer != enroll.Public(s.keys.Operator) {
		return fmt.Errorf("account jwt %s: not signed by this relay's operator", ac.Subject)
	}
	if ac.Subject == enroll.Public(s.keys.Relay) || ac.Subject == enroll.Public(s.keys.System) {
		return fmt.Errorf("account jwt %s: the relay and system accounts are not replaced at run time", ac.Subject)
	}
	return storeJWT(s.resolver, tok)
}

// baseOptions builds the server options that never change while it runs.
// Rebuilding them for a reload would change non-reloadable fields, so a
// reload would copy these.
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

// Shutdown stops the server and waits for it. It is idempotent.
func (s *Server) Shutdown() {
	s.shutOnce.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.relayKey.Wipe()
	})
}

// Connect opens the relay's own in-process connection (a user of the relay
// account, full access within it; no TCP, no TLS). The caller closes it before Shutdown.
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.InProcessServer(s.ns),
		nats.UserJWT(func() (string, error) { return s.relayJWT, nil }, s.relayKey.Sign),
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
