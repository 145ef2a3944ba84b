package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sei-edge/servicenow-edge/relay/api"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/config"
	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/feedpub"
	"github.com/sei-edge/servicenow-edge/relay/hosted"
	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/natsbox"
	"github.com/sei-edge/servicenow-edge/relay/quota"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/store/pgstore"
	relaytoken "github.com/sei-edge/servicenow-edge/relay/token"
)

// tokenFile, in data_dir, holds the generated HTTP token.
const tokenFile = "http.token"

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := newFlags("run", stdout)
	if err := command.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, closer, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return command.Usage(err)
	}
	defer closer.Close()
	if err := runRelay(ctx, cfg, *path, log, stderr); err != nil {
		log.Error().Err(err).Msg("relay stopped")
		return err
	}
	log.Info().Msg("relay stopped")
	return nil
}

// relay is the running relay's parts, built by open and run by run.
type relay struct {
	cfg      config.Config
	cfgPath  string // the -c file, "" for the embedded default
	log      zerolog.Logger
	store    store.Store
	storeRun func(context.Context) error // nil when the store has no loop
	srv      *natsbox.Server             // nil in external mode
	nc       *nats.Conn
	sysnc    *nats.Conn // external mode with nats.system_credentials, else nil
	js       jetstream.JetStream
	consumer *ingest.Consumer
	feedpub  *feedpub.Publisher // nil unless feed.nats
	quota    *quota.Enforcer    // nil without quota.max_messages or in external mode
	shared   *quota.Shared      // external mode's quota, nil without quota.max_bytes or max_messages
	conns    *natsbox.ConnLimit // nil in external mode without nats.system_credentials
	tokens   *relaytoken.KV     // the tenant tokens, shared by every replica
	api      *api.Server
	hosted   *hosted.Hosted // nil unless hosted.secret_key_file
	ln       net.Listener   // the API's listener; Serve closes it
	// announced is set once relay.json is written (close removes it then).
	announced bool
}

// runRelay builds the relay's components and runs them until ctx ends or
// one fails.
func runRelay(ctx context.Context, cfg config.Config, cfgPath string, log zerolog.Logger, stderr io.Writer) error {
	r := &relay{cfg: cfg, cfgPath: cfgPath, log: log}
	defer r.close()
	if err := r.open(ctx, stderr); err != nil {
		return err
	}
	return r.run(ctx)
}

// open prepares data_dir, opens the store, starts or connects to NATS,
// builds the consumer and the API, listens and writes relay.json.
func (r *relay) open(ctx context.Context, stderr io.Writer) error {
	dir, err := filepath.Abs(r.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("resolve data_dir: %w", err)
	}
	r.cfg.DataDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data_dir: %w", err)
	}
	token, err := httpToken(r.cfg, stderr)
	if err != nil {
		return err
	}
	if r.store, r.storeRun, err = openStore(ctx, r.cfg, r.log); err != nil {
		return err
	}
	if err := r.connectNATS(ctx); err != nil {
		return err
	}
	if r.srv != nil {
		if err := warnLegacyAgents(r.cfg, r.cfgPath, r.log, stderr); err != nil {
			return err
		}
	}
	if err := r.openTokens(ctx); err != nil {
		return err
	}
	if err := r.openHosted(ctx); err != nil {
		return err
	}
	if err := r.build(ctx, token); err != nil {
		return err
	}
	if r.ln, err = listenHTTP(r.cfg.HTTP, r.log); err != nil {
		return err
	}
	if err := announce(r.cfg, r.srv, r.ln.Addr(), r.log); err != nil {
		return err
	}
	r.announced = true
	return nil
}

// connectNATS starts the embedded server and connects in-process, or dials
// the external cluster.
func (r *relay) connectNATS(ctx context.Context) error {
	var err error
	if r.cfg.NATS.Embedded() {
		if r.srv, err = startEmbedded(ctx, r.cfg, r.log); err != nil {
			return err
		}
		r.nc, err = r.srv.Connect("sei-relay")
	} else {
		r.nc, err = natsbox.Dial(ctx, natsbox.DialConfig{URL: r.cfg.NATS.URL, Credentials: r.cfg.NATS.Credentials,
			CAFile: r.cfg.NATS.CAFile, Name: "sei-relay", Log: r.log.With().Str("component", "nats").Logger()})
		if err == nil && r.cfg.NATS.SystemCredentials != "" {
			r.sysnc, err = natsbox.Dial(ctx, natsbox.DialConfig{URL: r.cfg.NATS.URL, Credentials: r.cfg.NATS.SystemCredentials,
				CredentialsKey: "nats.system_credentials", CAFile: r.cfg.NATS.CAFile, Name: "sei-relay-events",
				Log: r.log.With().Str("component", "nats-system").Logger()})
		}
	}
	if err != nil {
		return err
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	return nil
}

// build creates the consumer and the HTTP API with a shared metrics registry.
func (r *relay) build(ctx context.Context, token string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ledger, err := r.newLedger(reg)
	if err != nil {
		return err
	}
	if err := r.openShared(ctx, reg); err != nil {
		return err
	}
	r.consumer, err = ingest.New(ingest.Config{
		JS: r.js, Conn: r.nc, Store: r.store, Logger: r.log,
		Stream: &ingest.StreamConfig{
			Replicas:   r.cfg.StreamReplicas(),
			MaxBytes:   int64(r.cfg.Stream.MaxBytes),
			MaxAge:     r.cfg.Stream.MaxAge.D(),
			Duplicates: r.cfg.Stream.DuplicateWindow.D(),
		},
		MaxDeliver:   r.cfg.Consumer.MaxDeliver,
		AckWait:      r.cfg.Consumer.AckWait.D(),
		DecodeBudget: int64(r.cfg.Consumer.DecodeBudgetBytes),
		Quarantine: store.QuarantineLimits{
			MaxBatches: r.cfg.Consumer.QuarantineMaxBatches,
			MaxBytes:   int64(r.cfg.Consumer.QuarantineMaxBytes),
		},
		Metrics: reg,
		Ledger:  r.ingestLedger(ledger),
	})
	if err != nil {
		return fmt.Errorf("configure ingest: %w", err)
	}
	if r.cfg.Feed.NATS {
		if r.feedpub, err = r.newFeedPublisher(); err != nil {
			return err
		}
	}
	if r.srv != nil || r.sysnc != nil {
		if r.conns, err = r.newConnLimit(reg); err != nil {
			return err
		}
	}
	if r.srv != nil && (r.cfg.Quota.MaxMessages > 0 || ledger != nil) {
		if r.quota, err = r.newQuota(reg, ledger); err != nil {
			return err
		}
	}
	asker, err := r.newAsker()
	if err != nil {
		return err
	}
	r.api, err = api.New(api.Config{
		Token: token, Tenants: r.tokens, Store: r.store, Gatherer: reg, FeedPoll: r.cfg.Feed.Poll.D(),
		Health:     []api.Check{{Name: "nats", Func: natsbox.HealthCheck(r.nc, r.js)}},
		StaleAfter: r.cfg.Heartbeat.StaleAfter.D(),
		Logger:     r.log,
		Requests:   asker,
		Hosted:     r.hostedAPI(),
		Quota:      r.quotaFunc(),
	})
	if err != nil {
		return fmt.Errorf("configure http api: %w", err)
	}
	return nil
}

// run runs the components until ctx ends or one fails. The embedded
// server stops in close, after the relay's connection closed.
func (r *relay) run(ctx context.Context) error {
	ln := r.ln
	r.ln = nil // Serve owns it now
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.consumer.Run(gctx) })
	if r.feedpub != nil {
		g.Go(func() error { return r.feedpub.Run(gctx) })
	}
	if r.quota != nil {
		g.Go(func() error { return r.quota.Run(gctx) })
	}
	if r.shared != nil {
		g.Go(func() error { return r.shared.Run(gctx) })
	}
	if r.hosted != nil {
		g.Go(func() error { return r.hosted.Run(gctx) })
	}
	if r.conns != nil {
		g.Go(func() error { return r.conns.Run(gctx) })
	}
	g.Go(func() error { return r.api.Serve(gctx, ln) })
	g.Go(func() error {
		as := &adminService{nc: r.nc, js: r.js, store: r.store, log: r.log.With().Str("component", "admin").Logger()}
		if r.srv != nil {
			as.updateAccount = r.srv.UpdateAccount
		}
		return as.Run(gctx)
	})
	if r.storeRun != nil {
		g.Go(func() error { return r.storeRun(gctx) })
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// close releases what open acquired, in order: the listener (if Serve never
// ran), the NATS connection, the embedded server, the store; and removes
// relay.json, so no one dials a stopped relay's random port.
func (r *relay) close() {
	if r.ln != nil {
		r.ln.Close()
	}
	if r.nc != nil {
		r.nc.Close()
	}
	if r.sysnc != nil {
		r.sysnc.Close()
	}
	if r.srv != nil {
		r.srv.Shutdown()
	}
	if r.store != nil {
		if err := r.store.Close(); err != nil {
			r.log.Error().Err(err).Msg("close store")
		}
	}
	if !r.announced {
		return // relay.json, if any, belongs to another relay on this data_dir
	}
	if err := os.Remove(filepath.Join(r.cfg.DataDir, runInfoFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Warn().Err(err).Msg("remove " + runInfoFile)
	}
}

// startEmbedded starts the embedded NATS server.
func startEmbedded(ctx context.Context, cfg config.Config, log zerolog.Logger) (*natsbox.Server, error) {
	var hosts []string
	if cfg.NATS.PublicURL != "" {
		if u, err := url.Parse(cfg.NATS.PublicURL); err == nil {
			hosts = append(hosts, u.Hostname())
		}
	}
	return natsbox.Start(ctx, natsbox.Config{
		DataDir:    cfg.DataDir,
		Listen:     cfg.NATS.Listen,
		CertFile:   cfg.NATS.TLS.CertFile,
		KeyFile:    cfg.NATS.TLS.KeyFile,
		Hosts:      hosts,
		DisableTLS: cfg.NATS.TLS.Disable,
		SyncAlways: cfg.NATS.SyncAlways,
		MaxStore:   int64(cfg.NATS.MaxStore),
		MaxMemory:  int64(cfg.NATS.MaxMemory),
		Log:        log.With().Str("component", "nats-server").Logger(),
	})
}

// openStore opens the configured store and returns its background loop, if
// it has one.
func openStore(ctx context.Context, cfg config.Config, log zerolog.Logger) (store.Store, func(context.Context) error, error) {
	slog := log.With().Str("component", "store").Logger()
	if cfg.Store.Kind == config.StorePostgres {
		st, err := pgstore.Open(ctx, cfg.Store.DSN.Reveal(), slog)
		if err != nil {
			return nil, nil, fmt.Errorf("open postgres store: %w", err)
		}
		return st, nil, nil
	}
	dir := filepath.Join(cfg.DataDir, "store")
	st, err := badgerstore.Open(dir, slog)
	if err != nil {
		return nil, nil, fmt.Errorf("open badger store %s: %w", dir, err)
	}
	return st, st.Run, nil
}

// httpToken returns http.token, or the token generated on first start into
// data_dir/http.token (0600). Stderr names the file, never the token:
// under a service manager stderr is a log.
func httpToken(cfg config.Config, stderr io.Writer) (string, error) {
	if cfg.HTTP.Token != "" {
		return cfg.HTTP.Token.Reveal(), nil
	}
	path := filepath.Join(cfg.DataDir, tokenFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(raw)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read http token: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate http token: %w", err)
	}
	tok := hex.EncodeToString(b)
	if err := enroll.WriteFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write http token: %w", err)
	}
	fmt.Fprintf(stderr, "sei-relay: generated the HTTP API admin token into %s (readable by this user only)\n", path)
	return tok, nil
}

// listenHTTP opens the API's listener, with TLS when http.tls is set, and
// warns when it serves plain HTTP beyond the loopback interface.
func listenHTTP(h config.HTTP, log zerolog.Logger) (net.Listener, error) {
	var tcfg *tls.Config
	if h.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(h.TLS.CertFile, h.TLS.KeyFile)
		if err != nil {
			return nil, command.Usage(fmt.Errorf("http.tls: load %s and %s: %w", h.TLS.CertFile, h.TLS.KeyFile, err))
		}
		tcfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", h.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen http.listen %s: %w", h.Listen, err)
	}
	if tcfg != nil {
		return tls.NewListener(ln, tcfg), nil
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
		log.Warn().Str("listen", ln.Addr().String()).
			Msg("HTTP API serves plain HTTP on a non-loopback address: tokens and records cross the network unencrypted; set http.tls.cert_file and http.tls.key_file")
	}
	return ln, nil
}

// announce writes data_dir/relay.json with the actual URLs (ports may have
// been 0) and logs them.
func announce(cfg config.Config, srv *natsbox.Server, httpAddr net.Addr, log zerolog.Logger) error {
	scheme := "http://"
	if cfg.HTTP.TLS.Enabled() {
		scheme = "https://"
	}
	ri := runInfo{PID: os.Getpid(), Started: time.Now().UTC(), HTTPURL: scheme + httpAddr.String()}
	if srv != nil {
		ri.NATSURL = srv.ClientURL()
		if ca := srv.CAFile(); ca != "" {
			ri.CAFile, _ = filepath.Abs(ca)
		}
	}
	if err := writeRunInfo(cfg.DataDir, ri); err != nil {
		return err
	}
	log.Info().Str("http", ri.HTTPURL).Str("nats", ri.NATSURL).Str("data_dir", cfg.DataDir).Msg("relay running")
	return nil
}

// warnLegacyAgents tells the operator, on stderr and in the log, which
// agents of the single-account layout (data_dir/agents.json) still have to
// be enrolled again, with the command for each: their NKEY-only
// credentials no longer authenticate.
func warnLegacyAgents(cfg config.Config, cfgPath string, log zerolog.Logger, stderr io.Writer) error {
	reg, err := enroll.NewRegistry(cfg.DataDir)
	if err != nil {
		return err
	}
	legacy, err := reg.Legacy()
	if err != nil {
		return err
	}
	if len(legacy) == 0 {
		return nil
	}
	flag := ""
	if cfgPath != "" {
		flag = "-c " + cfgPath
	}
	fmt.Fprintf(stderr, "sei-relay: %d agent(s) in %s were enrolled before tenant accounts and cannot connect until enrolled again.\n"+
		"Run for each, then copy the new credentials file to the agent (relay.credentials; no other change to its configuration):\n",
		len(legacy), filepath.Join(cfg.DataDir, enroll.LegacyRegistryFile))
	for _, a := range legacy {
		hint := enroll.ReenrollHint(a, flag)
		fmt.Fprintf(stderr, "  %s\n", hint)
		log.Error().Str("tenant", a.Tenant).Str("agent", a.Agent).Str("command", hint).Msg("agent enrolled before tenant accounts must be enrolled again")
	}
	return nil
}

// newQuota builds the tenant quota enforcer of the embedded server: a
// tenant's pause is recorded in its file and its account JWT applied at
// once.
func (r *relay) newQuota(metrics prometheus.Registerer, ledger *quota.Ledger) (*quota.Enforcer, error) {
	reg, err := newRegistry(r.cfg)
	if err != nil {
		return nil, err
	}
	return quota.New(quota.Config{
		JS: r.js, MaxMessages: r.cfg.Quota.MaxMessages, Ledger: ledger, Interval: r.cfg.Quota.CheckInterval.D(),
		Log: r.log.With().Str("component", "quota").Logger(), Metrics: metrics,
		Paused: reg.PausedTenants,
		SetPaused: func(_ context.Context, tenant string, paused bool) error {
			tok, _, err := reg.SetPaused(tenant, paused)
			if err != nil {
				return err
			}
			return r.srv.UpdateAccount(tok)
		},
	})
}

// newRegistry opens data_dir's agent registry with the configured
// connection limit per agent.
func newRegistry(cfg config.Config) (*enroll.Registry, error) {
	reg, err := enroll.NewRegistry(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	reg.ConnsPerAgent = cfg.Quota.ConnectionsPerAgent
	return reg, nil
}
