package natsbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// DialConfig is how the relay reaches an external NATS cluster.
type DialConfig struct {
	URL         string // comma-separated nats:// or tls:// URLs
	Credentials string // .creds file (user JWT) or NKEY seed file; "" for none
	// CredentialsKey is the config key that names Credentials, for errors;
	// default nats.credentials.
	CredentialsKey string
	CAFile         string // CA for tls:// URLs; "" for the system roots
	Name           string // connection name shown by the server
	Log            zerolog.Logger
}

// Dial connects to an external cluster and keeps reconnecting for as long
// as the connection lives (MaxReconnects -1), logging disconnects and
// reconnects. The first connection must succeed: a relay that cannot reach
// its cluster at start fails loudly.
func Dial(ctx context.Context, cfg DialConfig) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			cfg.Log.Warn().Err(err).Msg("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			cfg.Log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
	}
	if cfg.CredentialsKey == "" {
		cfg.CredentialsKey = "nats.credentials"
	}
	if cfg.Credentials != "" {
		raw, err := os.ReadFile(cfg.Credentials)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", cfg.CredentialsKey, err)
		}
		if strings.Contains(string(raw), "BEGIN NATS USER JWT") {
			opts = append(opts, nats.UserCredentials(cfg.Credentials))
		} else {
			o, err := nats.NkeyOptionFromSeed(cfg.Credentials)
			if err != nil {
				return nil, fmt.Errorf("load %s %s: %w", cfg.CredentialsKey, cfg.Credentials, err)
			}
			opts = append(opts, o)
		}
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(dl)))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", cfg.URL, err)
	}
	return nc, nil
}
