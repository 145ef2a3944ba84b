//go:build !windows

package status

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// maxSocketPath is the longest socket path every Unix accepts (sun_path is
// 104 bytes on BSDs, 108 on Linux, both counting the NUL).
const maxSocketPath = 103

// listen binds the admin socket under a temporary name, restricts it to
// 0600 and only then renames it into place, so the well-known path never
// exists with wider permissions.
func listen(dataDir string) (net.Listener, adminInfo, error) {
	path := filepath.Join(dataDir, SocketName)
	tmp := filepath.Join(dataDir, "."+SocketName+"."+strconv.Itoa(os.Getpid()))
	if len(tmp) > maxSocketPath {
		return nil, adminInfo{}, fmt.Errorf("socket path %s is longer than %d bytes: use a shorter agent.data_dir", tmp, maxSocketPath)
	}
	os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, adminInfo{}, err
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // Run removes the renamed socket itself
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, adminInfo{}, fmt.Errorf("restrict %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, adminInfo{}, fmt.Errorf("place %s: %w", path, err)
	}
	return l, adminInfo{Network: "unix", Address: path}, nil
}
