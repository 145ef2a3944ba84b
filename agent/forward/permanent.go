package forward

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Permanent reports whether a connection error cannot go away by
// retrying: the relay refused the credentials (authorization violation,
// expired or revoked), or its certificate is not trusted (unknown
// authority, wrong host name, invalid).
func Permanent(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		return true
	case errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return true
	}
	return false
}

// notePermanent hands a permanent connection error to Run when
// StopOnPermanent is set; only the first one counts.
func (f *Forwarder) notePermanent(err error) {
	if !f.cfg.StopOnPermanent || !Permanent(err) {
		return
	}
	select {
	case f.permanent <- fmt.Errorf("connect to relay %s: %w", f.cfg.URL, err):
	default:
	}
}

// connectFailed records a failed connection attempt for status. Every
// failed reconnect attempt (a refused TCP connection, every 2 s while the
// relay is down) reports here, so it logs at debug level, except a
// permanent refusal, which nats.go reports only for the first connection.
func (f *Forwarder) connectFailed(err error) {
	f.count(func(s *Stats) {
		s.LastError = err.Error()
		s.LastErrorAt = f.cfg.Now()
	})
	if Permanent(err) {
		f.log.Error().Err(err).Str("url", f.cfg.URL).Msg("the relay refused the connection; fix relay.credentials or relay.ca_file")
	} else {
		f.log.Debug().Err(err).Msg("connect to relay failed")
	}
	f.notePermanent(err)
}
