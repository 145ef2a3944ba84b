package status

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestServerTCPToken runs the Windows flavour (loopback port and token)
// on any OS.
func TestServerTCPToken(t *testing.T) {
	dir := t.TempDir()
	srv := NewServer(ServerConfig{DataDir: dir, Logger: zerolog.Nop(), Snapshot: healthy})
	srv.listen = listenTCP
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	}
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
		if _, err := Query(t.Context(), dir); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Query after stop = %v, want ErrNotRunning", err)
		}
	}()

	info, err := readAdminInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Network != "tcp" || !strings.HasPrefix(info.Address, "127.0.0.1:") || len(info.Token) != 64 {
		t.Errorf("admin.json = %+v, want a loopback address and a 64-hex token", info)
	}
	s, err := Query(t.Context(), dir)
	if err != nil || s.Agent.ID != "agent01" {
		t.Fatalf("Query = %v, %v", s, err)
	}
	// Without the token the endpoint answers nothing useful.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	for _, path := range []string{"/status", "/debug/pprof/heap"} {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + info.Address + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without token = %d, want 401", path, resp.StatusCode)
		}
	}
	// A wrong token in admin.json (say, from another agent's start) is
	// neither "not running" nor success.
	info.Token = strings.Repeat("0", 64)
	if err := writeAdminInfo(dir, info); err != nil {
		t.Fatal(err)
	}
	if _, err := Query(t.Context(), dir); err == nil || errors.Is(err, ErrNotRunning) {
		t.Errorf("Query with a wrong token = %v, want an error other than ErrNotRunning", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, AdminFileName)); err == nil && fi.Mode().Perm() != 0o600 && os.PathSeparator == '/' {
		t.Errorf("admin.json mode = %o, want 600", fi.Mode().Perm())
	}
}
