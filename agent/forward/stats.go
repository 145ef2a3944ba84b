package forward

import (
	"maps"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Stats are the forwarder's figures for status.
type Stats struct {
	URL           string
	Connected     bool
	Since         time.Time // when Connected last changed
	RTT           time.Duration
	LastAck       time.Time
	LastAckBatch  string
	Published     int64 // batches acknowledged by JetStream
	PublishErrors int64
	Rejected      int64 // batches the relay quarantined as undecodable (each now a repair)
	Reconnects    int64
	LastError     string
	LastErrorAt   time.Time
	CertExpiry    time.Time // the relay's TLS certificate; zero over plaintext
	// Confirmed is, per table, the newest record version the relay said it
	// persisted: "the cloud holds everything up to X".
	Confirmed   map[string]wire.Version
	ConfirmedAt time.Time
}

// Stats returns a copy of the forwarder's figures.
func (f *Forwarder) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st
	s.Confirmed = maps.Clone(f.st.Confirmed)
	return s
}

func (f *Forwarder) count(fn func(*Stats)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
}

func (f *Forwarder) setConnected(up bool, err error) {
	f.mu.Lock()
	changed := f.st.Connected != up || f.st.Since.IsZero()
	if changed {
		f.st.Connected = up
		f.st.Since = f.cfg.Now()
	}
	if err != nil {
		f.st.LastError = err.Error()
		f.st.LastErrorAt = f.cfg.Now()
	}
	f.mu.Unlock()
	if up {
		select {
		case f.connected <- struct{}{}:
		default:
		}
	}
	switch {
	case changed && up:
		f.log.Info().Str("url", secret.RedactURL(f.cfg.URL)).Msg("connected to relay")
	case changed && !up:
		f.log.Warn().Err(err).Str("url", secret.RedactURL(f.cfg.URL)).Msg("disconnected from relay; reconnecting")
	}
}

func (f *Forwarder) setError(err error) {
	f.count(func(s *Stats) {
		s.LastError = err.Error()
		s.LastErrorAt = f.cfg.Now()
	})
	f.log.Warn().Err(err).Msg("relay connection error")
	f.notePermanent(err)
}
