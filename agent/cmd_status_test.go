//go:build !windows

package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/command"
)

// statusConfig writes a valid configuration whose data directory is short
// enough for a Unix socket path, and returns the file and the directory.
func statusConfig(t *testing.T) (cfgPath, dataDir string) {
	t.Helper()
	dataDir, err := os.MkdirTemp("", "sa")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	cfgPath = vConfig{URL: "https://acme.service-now.com", DataDir: dataDir, Relay: vRelay{
		URL: "tls://" + closedAddr(t), Credentials: newSeedFile(t), Tenant: "acme", Integration: "servicenow",
	}}.write(t)
	return cfgPath, dataDir
}

// TestStatusHungAgent: an agent that accepts but never answers is an error
// (exit 1), not "not running" (exit 3); status still shows what the data
// directory holds and says why the live figures are missing.
func TestStatusHungAgent(t *testing.T) {
	cfgPath, dataDir := statusConfig(t)
	sock := filepath.Join(dataDir, status.SocketName)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, _ := json.Marshal(map[string]any{"network": "unix", "address": sock, "pid": 1})
	if err := os.WriteFile(filepath.Join(dataDir, status.AdminFileName), info, 0o600); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		defer close(accepted)
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	code, out, errOut := agentCmd(ctx, "status", "-c", cfgPath)
	if code != command.ExitFailure {
		t.Errorf("status against a hung agent exited %d, want %d\n%s%s", code, command.ExitFailure, out, errOut)
	}
	for _, want := range []string{"NOT RUNNING", "could not ask the agent", "no buffer yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, sock) {
		t.Errorf("stderr does not name the endpoint %s: %q", sock, errOut)
	}
	l.Close()
	for c := range accepted {
		c.Close()
	}
}

// TestStatusNotRunning: no agent, no buffer yet: exit 3, the offline view,
// in both forms.
func TestStatusNotRunning(t *testing.T) {
	cfgPath, dataDir := statusConfig(t)
	code, out, _ := agentCmd(context.Background(), "status", "-c", cfgPath)
	if code != exitNotRunning || !strings.Contains(out, "NOT RUNNING") || !strings.Contains(out, dataDir) {
		t.Errorf("status exited %d, want %d:\n%s", code, exitNotRunning, out)
	}
	snap, code := statusJSON(t, cfgPath)
	if code != exitNotRunning || snap.Agent.Running || snap.Verdict.Level != status.LevelFailing {
		t.Errorf("status --json exited %d: running %v, verdict %s", code, snap.Agent.Running, snap.Verdict.Level)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "buffer")); err == nil {
		t.Errorf("status created a buffer in %s", dataDir)
	}
}

// TestBundleBeforeFirstStart: a bundle made before the agent ever ran
// reads what there is and creates no buffer (run as root, it would leave
// files the service user cannot open).
func TestBundleBeforeFirstStart(t *testing.T) {
	cfgPath, dataDir := statusConfig(t)
	out := filepath.Join(t.TempDir(), "bundle.zip")
	if code, stdout, stderr := agentCmd(context.Background(), "bundle", "-c", cfgPath, "-o", out); code != command.ExitOK {
		t.Fatalf("bundle exited %d: %s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("no bundle: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "buffer")); err == nil {
		t.Errorf("bundle created a buffer in %s", dataDir)
	}
}

// TestBundleListsMovedAside: the bundle names a moved-aside buffer's files
// and sizes, never their contents.
func TestBundleListsMovedAside(t *testing.T) {
	cfgPath, dataDir := statusConfig(t)
	moved := filepath.Join(dataDir, "buffer.damaged-20261203T171000Z")
	if err := os.MkdirAll(moved, 0o700); err != nil {
		t.Fatal(err)
	}
	const secret = "incident-payload-NEVER-IN-A-BUNDLE"
	os.WriteFile(filepath.Join(moved, "000001.sst"), []byte(strings.Repeat(secret, 10)), 0o600)
	os.WriteFile(filepath.Join(moved, "MANIFEST"), []byte("m"), 0o600)
	out := filepath.Join(t.TempDir(), "bundle.zip")
	if code, stdout, stderr := agentCmd(context.Background(), "bundle", "-c", cfgPath, "-o", out); code != command.ExitOK {
		t.Fatalf("bundle exited %d: %s%s", code, stdout, stderr)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var listing string
	for _, f := range zr.File {
		rc, _ := f.Open()
		raw, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(raw), secret) {
			t.Errorf("%s holds the moved-aside buffer's contents", f.Name)
		}
		if f.Name == "figures/damaged_buffers.json" {
			listing = string(raw)
		}
	}
	for _, want := range []string{moved, `"000001.sst"`, `"size": 340`, `"MANIFEST"`} {
		if !strings.Contains(listing, want) {
			t.Errorf("damaged_buffers.json lacks %s:\n%s", want, listing)
		}
	}
}
