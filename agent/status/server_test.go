//go:build !windows

package status

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// startServer runs a server on a fresh short data dir until the test ends.
func startServer(t *testing.T, cfg ServerConfig) (dir string, stop func()) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = shortDir(t)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	cfg.Logger = zerolog.Nop()
	srv := NewServer(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run returned %v after cancel", err)
		}
	}
	t.Cleanup(stop)
	return cfg.DataDir, stop
}

// get requests path over the data dir's socket.
func get(t *testing.T, dir, path string) (int, string) {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(dir, SocketName))
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://sei-agent" + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func TestServerQuery(t *testing.T) {
	reg := prometheus.NewRegistry()
	polls := prometheus.NewCounter(prometheus.CounterOpts{Name: "sei_agent_polls_total", Help: "Polls."})
	reg.MustRegister(polls)
	polls.Add(7)
	dir, _ := startServer(t, ServerConfig{
		Snapshot: func() *Snapshot { s := healthy(); s.Time = time.Time{}; s.Agent.Running = false; return s },
		Gatherer: reg,
	})

	for _, name := range []string{SocketName, AdminFileName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %o, want 600", name, perm)
		}
	}
	if fi, _ := os.Lstat(filepath.Join(dir, SocketName)); fi.Mode().Type() != os.ModeSocket {
		t.Errorf("%s is %v, want a socket", SocketName, fi.Mode().Type())
	}

	got, err := Query(t.Context(), dir)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	want := healthy()
	want.Finalize(Thresholds{}, now)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Query (-want +got):\n%s", diff)
	}
	if !got.Agent.Running || got.Verdict.Level != LevelOK || got.Schema != SchemaVersion {
		t.Errorf("Query: running %v verdict %q schema %d, want true OK %d", got.Agent.Running, got.Verdict.Level, got.Schema, SchemaVersion)
	}

	code, body := get(t, dir, "/healthz")
	if code != http.StatusOK || body != "OK\n" {
		t.Errorf("/healthz = %d %q, want 200 \"OK\\n\"", code, body)
	}
	code, body = get(t, dir, "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "sei_agent_polls_total 7") {
		t.Errorf("/metrics = %d %q, want 200 with sei_agent_polls_total 7", code, body)
	}
	code, body = get(t, dir, "/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("/debug/pprof/goroutine = %d %.80q, want 200 with a goroutine profile", code, body)
	}
	if code, _ := get(t, dir, "/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}
}

func TestHealthzFailing(t *testing.T) {
	dir, _ := startServer(t, ServerConfig{Snapshot: func() *Snapshot {
		s := healthy()
		s.Relay.Connected, s.Relay.Since = false, now.Add(-3*time.Hour)
		s.Buffer.FreeDisk = 1 << 20
		return s
	}})
	code, body := get(t, dir, "/healthz")
	want := "FAILING\n" +
		"relay tls://relay.example.com:4222 unreachable for 3h00m (since 2026-11-28 13:00 UTC)\n" +
		"free disk of the data dir is low: 1.0 MiB (want at least 256.0 MiB)\n"
	if code != http.StatusServiceUnavailable || body != want {
		t.Errorf("/healthz = %d %q, want 503 %q", code, body, want)
	}
	dir, _ = startServer(t, ServerConfig{Snapshot: func() *Snapshot {
		s := healthy()
		s.Buffer.FreeDisk = 1 << 20
		return s
	}})
	if code, body := get(t, dir, "/healthz"); code != http.StatusOK || !strings.HasPrefix(body, "DEGRADED\n") {
		t.Errorf("/healthz degraded = %d %q, want 200 DEGRADED", code, body)
	}
}

func TestServerNilSnapshotAndGatherer(t *testing.T) {
	dir, _ := startServer(t, ServerConfig{})
	s, err := Query(t.Context(), dir)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if !s.Agent.Running || s.Agent.PID != os.Getpid() {
		t.Errorf("empty snapshot: running %v pid %d, want true %d", s.Agent.Running, s.Agent.PID, os.Getpid())
	}
	// Nothing says the relay is connected, so the verdict must not be OK.
	want := Verdict{Level: LevelDegraded, Reasons: []string{"relay (unset) is not connected"}}
	if diff := cmp.Diff(want, s.Verdict); diff != "" {
		t.Errorf("empty snapshot verdict (-want +got):\n%s", diff)
	}
	if code, _ := get(t, dir, "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics without gatherer = %d, want 404", code)
	}
}

func TestStopRemovesEndpoint(t *testing.T) {
	dir, stop := startServer(t, ServerConfig{})
	stop()
	for _, name := range []string{SocketName, AdminFileName} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after stop: %v, want it removed", name, err)
		}
	}
	if _, err := Query(t.Context(), dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Query after stop = %v, want ErrNotRunning", err)
	}
}

// staleSocket leaves a socket file nothing listens on, as a crash would.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
}

func writeStaleAdmin(t *testing.T, dir string) {
	t.Helper()
	info := adminInfo{Network: "unix", Address: filepath.Join(dir, SocketName), PID: 1}
	if err := writeAdminInfo(dir, info); err != nil {
		t.Fatal(err)
	}
}

func TestQueryNotRunning(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{name: "empty data dir", setup: func(t *testing.T, dir string) {}},
		{name: "missing data dir", setup: func(t *testing.T, dir string) { os.RemoveAll(dir) }},
		{name: "admin.json without socket", setup: writeStaleAdmin},
		{name: "stale socket", setup: func(t *testing.T, dir string) {
			writeStaleAdmin(t, dir)
			staleSocket(t, filepath.Join(dir, SocketName))
		}},
		{name: "stale socket without admin.json", setup: func(t *testing.T, dir string) {
			staleSocket(t, filepath.Join(dir, SocketName))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortDir(t)
			tt.setup(t, dir)
			s, err := Query(t.Context(), dir)
			if !errors.Is(err, ErrNotRunning) {
				t.Fatalf("Query = %v, %v; want ErrNotRunning", s, err)
			}
		})
	}
}

func TestQueryCorruptAdminFile(t *testing.T) {
	dir := shortDir(t)
	if err := os.WriteFile(filepath.Join(dir, AdminFileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Query(t.Context(), dir); err == nil || errors.Is(err, ErrNotRunning) {
		t.Errorf("Query with corrupt admin.json = %v, want a decode error", err)
	}
	// A server starting over it replaces it.
	startServer(t, ServerConfig{DataDir: dir})
	if _, err := Query(t.Context(), dir); err != nil {
		t.Errorf("Query after restart: %v", err)
	}
}

func TestRunReplacesStaleEndpoint(t *testing.T) {
	dir := shortDir(t)
	writeStaleAdmin(t, dir)
	staleSocket(t, filepath.Join(dir, SocketName))
	startServer(t, ServerConfig{DataDir: dir})
	if _, err := Query(t.Context(), dir); err != nil {
		t.Errorf("Query: %v", err)
	}
}

func TestRunRefusesSecondAgent(t *testing.T) {
	dir, _ := startServer(t, ServerConfig{})
	err := NewServer(ServerConfig{DataDir: dir, Logger: zerolog.Nop()}).Run(t.Context())
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run = %v, want ErrAlreadyRunning", err)
	}
	if _, err := Query(t.Context(), dir); err != nil {
		t.Errorf("first agent after refused second: %v", err)
	}
}

func TestRunSocketPathTooLong(t *testing.T) {
	dir := filepath.Join(shortDir(t), strings.Repeat("d", 110))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	err := NewServer(ServerConfig{DataDir: dir, Logger: zerolog.Nop()}).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "agent.data_dir") {
		t.Errorf("Run with a long data dir = %v, want an error naming agent.data_dir", err)
	}
}

func TestQueryPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	dir := shortDir(t)
	writeStaleAdmin(t, dir)
	if err := os.Chmod(filepath.Join(dir, AdminFileName), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Query(t.Context(), dir); !errors.Is(err, os.ErrPermission) {
		t.Errorf("Query = %v, want a permission error", err)
	}
}

func TestTokenRequired(t *testing.T) {
	s := NewServer(ServerConfig{Logger: zerolog.Nop(), Now: func() time.Time { return now }})
	h := s.handler("s3cret-token")
	tests := []struct {
		name, auth string
		want       int
	}{
		{name: "no token", want: http.StatusUnauthorized},
		{name: "wrong token", auth: "Bearer nope", want: http.StatusUnauthorized},
		{name: "right token", auth: "Bearer s3cret-token", want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/status", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
		})
	}
}

// TestRunRefusesUnhealthyAnswer: something answers on the agent's socket,
// but not as an agent; Run must not remove it.
func TestRunRefusesUnhealthyAnswer(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, SocketName)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	other := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusInternalServerError)
	})}
	done := make(chan struct{})
	go func() { defer close(done); other.Serve(l) }()
	t.Cleanup(func() { other.Close(); <-done })
	writeStaleAdmin(t, dir)

	err = NewServer(ServerConfig{DataDir: dir, Logger: zerolog.Nop()}).Run(t.Context())
	if err == nil || errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), AdminFileName) {
		t.Fatalf("Run = %v, want a refusal naming %s", err, AdminFileName)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Run removed the answering socket: %v", err)
	}
}

func TestRunCancelledContext(t *testing.T) {
	dir, _ := startServer(t, ServerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewServer(ServerConfig{DataDir: dir, Logger: zerolog.Nop()}).Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := Query(t.Context(), dir); err != nil {
		t.Errorf("the running agent lost its endpoint: %v", err)
	}
}
