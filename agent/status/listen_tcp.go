package status

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
)

// listenTCP binds a random loopback port and makes a random bearer token;
// admin.json carries both, protected by the data directory's ACL. Windows
// uses it; tests use it everywhere.
func listenTCP(string) (net.Listener, adminInfo, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, adminInfo{}, fmt.Errorf("make admin token: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, adminInfo{}, err
	}
	return l, adminInfo{Network: "tcp", Address: l.Addr().String(), Token: hex.EncodeToString(b[:])}, nil
}
