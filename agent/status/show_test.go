//go:build !windows

package status

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShow(t *testing.T) {
	dir, _ := startServer(t, ServerConfig{Snapshot: healthy})
	degradedDir, _ := startServer(t, ServerConfig{Snapshot: func() *Snapshot {
		s := healthy()
		s.Buffer.FreeDisk = 1
		return s
	}})
	offline := func(ctx context.Context) *Snapshot {
		return &Snapshot{Agent: Agent{ServiceState: "stopped"}, Buffer: Buffer{PendingRecords: 7, Error: "read-only open"}}
	}
	tests := []struct {
		name     string
		dir      string
		opt      ShowOptions
		wantCode int
		want     []string
	}{
		{name: "running ok", dir: dir, wantCode: 0, want: []string{"running (pid", "verdict       OK"}},
		{name: "running json", dir: dir, opt: ShowOptions{JSON: true}, wantCode: 0, want: []string{`"running": true`, `"level": "OK"`}},
		{name: "degraded", dir: degradedDir, wantCode: 1, want: []string{"verdict       DEGRADED", "free disk"}},
		{name: "not running", dir: shortDir(t), opt: ShowOptions{Offline: offline}, wantCode: 3,
			want: []string{"NOT RUNNING", "service     stopped", "7 records", "read-only open", "agent is not running"}},
		{name: "not running json", dir: shortDir(t), opt: ShowOptions{JSON: true, Offline: offline}, wantCode: 3,
			want: []string{`"running": false`, `"pending_records": 7`, `"level": "FAILING"`}},
		{name: "not running without offline", dir: shortDir(t), wantCode: 3, want: []string{"NOT RUNNING", "data dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opt.Now = func() time.Time { return now }
			var out bytes.Buffer
			code, err := Show(t.Context(), &out, tt.dir, tt.opt)
			if err != nil {
				t.Fatalf("Show: %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tt.opt.JSON && !json.Valid(out.Bytes()) {
				t.Errorf("invalid JSON:\n%s", out.String())
			}
		})
	}
}

// TestShowHungAgent: an agent that accepts but never answers is an error,
// not "not running".
func TestShowHungAgent(t *testing.T) {
	dir := shortDir(t)
	l, err := net.Listen("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	writeStaleAdmin(t, dir)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	var out bytes.Buffer
	code, err := Show(t.Context(), &out, dir, ShowOptions{Timeout: 100 * time.Millisecond})
	if code != 1 || err == nil {
		t.Errorf("Show = %d, %v; want 1 and an error", code, err)
	}
	l.Close()
	for c := range accepted {
		c.Close()
	}
	_ = os.Remove(filepath.Join(dir, SocketName))
}
