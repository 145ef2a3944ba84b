package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
)

// ErrNotRunning is returned (wrapped) by Query when no agent listens on the
// data directory's admin endpoint: no admin.json, no socket, a refused
// connection or a stale file left by a crash.
var ErrNotRunning = errors.New("agent not running")

// errBadAdminFile marks an admin.json that cannot be decoded.
var errBadAdminFile = errors.New("corrupt admin endpoint file")

// maxStatusBody bounds the /status response Query reads.
const maxStatusBody = 16 << 20

// Query asks the agent running on dataDir for its status. It returns
// ErrNotRunning (wrapped) when nothing listens, and an error wrapping
// fs.ErrPermission when the caller may not read admin.json or open the
// socket (run it as the service user or an administrator). ctx should carry
// a deadline: a hung agent would otherwise block the caller.
func Query(ctx context.Context, dataDir string) (*Snapshot, error) {
	info, err := readAdminInfo(dataDir)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, info.Network, info.Address)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://sei-agent/status", nil)
	if err != nil {
		return nil, fmt.Errorf("query agent status: %w", err)
	}
	if info.Token != "" {
		req.Header.Set("Authorization", "Bearer "+info.Token)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		var op *net.OpError
		switch {
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("query agent at %s: %w", info.Address, err)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("query agent at %s: %w", info.Address, err)
		case errors.As(err, &op) && op.Op == "dial":
			return nil, fmt.Errorf("%w: nothing answers at %s (stale %s): %v", ErrNotRunning, info.Address, AdminFileName, op.Err)
		}
		return nil, fmt.Errorf("query agent at %s: %w", info.Address, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("query agent at %s: %s: %s", info.Address, resp.Status, msg)
	}
	var s Snapshot
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStatusBody)).Decode(&s); err != nil {
		return nil, fmt.Errorf("decode agent status from %s: %w", info.Address, err)
	}
	return &s, nil
}

func readAdminInfo(dataDir string) (adminInfo, error) {
	path := filepath.Join(dataDir, AdminFileName)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return adminInfo{}, fmt.Errorf("%w: no %s", ErrNotRunning, path)
	case err != nil:
		return adminInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	var info adminInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return adminInfo{}, fmt.Errorf("decode %s: %w: %v", path, errBadAdminFile, err)
	}
	if (info.Network != "unix" && info.Network != "tcp") || info.Address == "" {
		return adminInfo{}, fmt.Errorf("decode %s: %w: endpoint %q %q", path, errBadAdminFile, info.Network, info.Address)
	}
	return info, nil
}
