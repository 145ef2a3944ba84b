package status

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/atomicfile"
)

// File names in the agent's data directory.
const (
	// SocketName is the admin endpoint's Unix socket (not on Windows).
	SocketName = "sei-agent.sock"
	// AdminFileName is the file that tells the CLI where the admin
	// endpoint listens and, on Windows, its token.
	AdminFileName = "admin.json"
)

// ErrAlreadyRunning is returned by Server.Run when another live agent
// answers on the data directory's admin endpoint.
var ErrAlreadyRunning = errors.New("another agent is running on this data directory")

// adminInfo is the content of admin.json.
type adminInfo struct {
	Network string `json:"network"` // "unix" or "tcp"
	Address string `json:"address"`
	Token   string `json:"token,omitempty"` // bearer token; set on Windows
	PID     int    `json:"pid"`
}

// ServerConfig configures NewServer.
type ServerConfig struct {
	// DataDir is the agent's data directory; the socket and admin.json
	// live in it. It should be private to the service user (0700).
	DataDir string
	// Snapshot returns a fresh snapshot for each request; the server
	// finalizes it (verdict, derived figures). It must be safe to call
	// concurrently. Nil serves an empty snapshot.
	Snapshot func() *Snapshot
	// Gatherer serves /metrics; nil answers 404.
	Gatherer prometheus.Gatherer
	// Thresholds tune the verdict; zero fields take defaults.
	Thresholds Thresholds
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger zerolog.Logger
}

// Server is the agent's local admin endpoint: /status, /healthz and
// /metrics over a 0600 Unix socket (on Windows: a loopback port guarded by
// a random token). Only the machine's administrators can reach it.
type Server struct {
	cfg    ServerConfig
	listen func(dataDir string) (net.Listener, adminInfo, error) // the platform's; tests swap it
	ready  chan struct{}
	once   sync.Once
}

// NewServer returns a server; Run starts it.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg, listen: listen, ready: make(chan struct{})}
}

// Ready is closed once Run listens and has written admin.json.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run listens and serves until ctx is done, then shuts down, removes the
// socket and admin.json, and returns nil. It returns ErrAlreadyRunning
// (wrapped) when a live agent already answers on the data directory and
// removes a stale socket or admin.json left by a crash.
func (s *Server) Run(ctx context.Context) error {
	if err := s.claim(ctx); err != nil {
		return err
	}
	l, info, err := s.listen(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("listen admin endpoint in %s: %w", s.cfg.DataDir, err)
	}
	info.PID = os.Getpid()
	defer s.cleanup(l)
	if err := writeAdminInfo(s.cfg.DataDir, info); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.handler(info.Token),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(s.cfg.Logger, "admin endpoint: ", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	s.once.Do(func() { close(s.ready) })
	s.cfg.Logger.Info().Str("address", info.Address).Msg("admin endpoint listening")
	select {
	case err := <-served:
		return fmt.Errorf("serve admin endpoint: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-served
	return nil
}

// claim refuses to start when a live agent answers on the data
// directory's endpoint and removes what a dead one left. When something
// answers but not as an agent should (or not in time) it refuses too:
// removing a live agent's socket would make it unreachable.
func (s *Server) claim(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := Query(qctx, s.cfg.DataDir)
	switch {
	case err == nil:
		return fmt.Errorf("start admin endpoint in %s: %w", s.cfg.DataDir, ErrAlreadyRunning)
	case ctx.Err() != nil:
		return fmt.Errorf("start admin endpoint: %w", ctx.Err())
	case errors.Is(err, errBadAdminFile):
		s.cfg.Logger.Warn().Err(err).Msg("replacing corrupt admin endpoint file")
	case !errors.Is(err, ErrNotRunning):
		return fmt.Errorf("start admin endpoint: %w (if no agent runs on %s, remove %s)",
			err, s.cfg.DataDir, filepath.Join(s.cfg.DataDir, AdminFileName))
	}
	for _, name := range []string{AdminFileName, SocketName} {
		if err := os.Remove(filepath.Join(s.cfg.DataDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", name, err)
		}
	}
	return nil
}

func (s *Server) cleanup(l net.Listener) {
	l.Close()
	for _, name := range []string{AdminFileName, SocketName} {
		if err := os.Remove(filepath.Join(s.cfg.DataDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.cfg.Logger.Warn().Err(err).Msg("remove admin endpoint file")
		}
	}
}

func writeAdminInfo(dataDir string, info adminInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", AdminFileName, err)
	}
	return atomicfile.Write(filepath.Join(dataDir, AdminFileName), append(b, '\n'), 0o600)
}

func (s *Server) handler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.serveStatus)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	if s.cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	// The Go profiler, behind the endpoint's own protection (the 0600
	// socket, or the token on Windows): heap, allocs, goroutine, profile
	// (CPU, ?seconds=N), trace.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	if token == "" {
		return mux
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) snapshot() *Snapshot {
	var snap *Snapshot
	if s.cfg.Snapshot != nil {
		snap = s.cfg.Snapshot()
	}
	if snap == nil {
		snap = &Snapshot{}
	}
	snap.Agent.Running = true
	if snap.Agent.PID == 0 {
		snap.Agent.PID = os.Getpid()
	}
	snap.Finalize(s.cfg.Thresholds, s.cfg.Now())
	return snap
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := RenderJSON(w, s.snapshot()); err != nil {
		s.cfg.Logger.Debug().Err(err).Msg("write /status")
	}
}

// serveHealth answers 200 unless the verdict is FAILING (503); the body is
// the level and one reason a line.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	v := s.snapshot().Verdict
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if v.Level == LevelFailing {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, v.Level)
	for _, r := range v.Reasons {
		fmt.Fprintln(w, r)
	}
}
