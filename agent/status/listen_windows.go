//go:build windows

package status

import "net"

// listen serves on a loopback port guarded by a token: see listenTCP.
func listen(dataDir string) (net.Listener, adminInfo, error) { return listenTCP(dataDir) }
