package forward

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"authorization violation", fmt.Errorf("connect: %w", nats.ErrAuthorization), true},
		{"revoked", nats.ErrAuthRevoked, true},
		{"unknown CA", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), true},
		{"wrong host", x509.HostnameError{Host: "relay"}, true},
		{"connection refused", errors.New("dial tcp 127.0.0.1:4222: connect: connection refused"), false},
		{"eof", io.EOF, false},
		{"timeout", nats.ErrTimeout, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Permanent(tt.err); got != tt.want {
				t.Errorf("Permanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
