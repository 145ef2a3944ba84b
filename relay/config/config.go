package config

import (
	"time"

	"github.com/sei-edge/servicenow-edge/relay/confload"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Config is sei-relay's whole configuration. The zero value is not useful:
// start from Default or Load.
type Config struct {
	// DataDir holds everything the relay keeps on disk: the embedded
	// JetStream store (jetstream/), the Badger store (store/), the agent
	// accounts (accounts/: keys, tenants, the resolver's JWTs), generated
	// TLS files (tls/), http.token, relay-admin.creds and relay.json.
	DataDir   string    `yaml:"data_dir"`
	HTTP      HTTP      `yaml:"http"`
	NATS      NATS      `yaml:"nats"`
	Store     Store     `yaml:"store"`
	Stream    Stream    `yaml:"stream"`
	Consumer  Consumer  `yaml:"consumer"`
	Heartbeat Heartbeat `yaml:"heartbeat"`
	Quota     Quota     `yaml:"quota"`
	Log       Log       `yaml:"log"`
	Feed      Feed      `yaml:"feed"`
	Requests  Requests  `yaml:"requests"`
	Hosted    Hosted    `yaml:"hosted"`
}

// HTTP configures the relay's HTTP API.
type HTTP struct {
	// Listen is the API's host:port; port 0 picks a free one.
	Listen string `yaml:"listen"`
	// Token is the admin bearer token; when empty (and no TokenFile) the
	// relay generates one on first start into data_dir/http.token (0600).
	// Tenant tokens are made with `sei-relay token create`.
	Token     secret.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
	// TLS, when both files are set, serves the API over HTTPS.
	TLS HTTPTLS `yaml:"tls"`
}

// HTTPTLS is the HTTP API's certificate and key (PEM files).
type HTTPTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether the API serves HTTPS.
func (t HTTPTLS) Enabled() bool { return t.CertFile != "" }

// NATS configures the embedded server, or the external cluster when URL is
// set.
type NATS struct {
	// Listen is the embedded server's client listener (host:port).
	Listen string `yaml:"listen"`
	// PublicURL is the URL agents dial, printed by enroll; default: the
	// listener's actual URL, from data_dir/relay.json.
	PublicURL string `yaml:"public_url"`
	// AllowPlaintext permits tls.disable on a non-loopback listener.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	TLS            TLS  `yaml:"tls"`
	// SyncAlways makes the embedded JetStream fsync every message before
	// acking it (agents delete their buffer on the ack).
	SyncAlways bool `yaml:"sync_always"`
	// MaxStore and MaxMemory bound the embedded JetStream.
	MaxStore  confload.ByteSize `yaml:"max_store"`
	MaxMemory confload.ByteSize `yaml:"max_memory"`

	// URL selects an external NATS cluster instead of the embedded server.
	URL string `yaml:"url"`
	// Credentials is the relay's credentials for URL: a .creds file (user
	// JWT) or a file holding an NKEY seed. With tenant accounts it is a
	// user of the relay account (data_dir/relay-admin.creds, which enroll
	// writes; see relay/doc.go).
	Credentials string `yaml:"credentials"`
	// SystemCredentials, optional, is a .creds file of a user of the
	// cluster's system account (data_dir/relay-system.creds, which enroll
	// writes). With it enroll and revoke push the tenant's account JWT
	// themselves, and the relay limits each agent's connections
	// (quota.connections_per_agent) as it does on the embedded server.
	SystemCredentials string `yaml:"system_credentials"`
	// CAFile is the CA that signed the external cluster's certificate.
	CAFile string `yaml:"ca_file"`
}

// Embedded reports whether the relay runs its own NATS server.
func (n NATS) Embedded() bool { return n.URL == "" }

// TLS configures the embedded listener's certificate. With neither file set
// the relay generates a development CA and certificate under data_dir/tls.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Disable serves plaintext; allowed only on a loopback listener unless
	// nats.allow_plaintext is set.
	Disable bool `yaml:"disable"`
}

// Store selects the record store.
type Store struct {
	Kind    string        `yaml:"kind"` // badger | postgres
	DSN     secret.Secret `yaml:"dsn"`
	DSNFile string        `yaml:"dsn_file"`
}

// Store kinds.
const (
	StoreBadger   = "badger"
	StorePostgres = "postgres"
)

// Stream sets the SEI_INGEST stream's limits.
type Stream struct {
	MaxBytes        confload.ByteSize `yaml:"max_bytes"`
	MaxAge          confload.Duration `yaml:"max_age"`  // 0: keep until consumed
	Replicas        int               `yaml:"replicas"` // 0: 1 embedded, 3 external
	DuplicateWindow confload.Duration `yaml:"duplicate_window"`
}

// Consumer sets the durable consumer's redelivery and the quarantine's
// bound per tenant.
type Consumer struct {
	MaxDeliver int               `yaml:"max_deliver"`
	AckWait    confload.Duration `yaml:"ack_wait"`
	// QuarantineMaxBatches and QuarantineMaxBytes bound each tenant's
	// quarantine; a batch past them is refused and counted.
	QuarantineMaxBatches int               `yaml:"quarantine_max_batches"`
	QuarantineMaxBytes   confload.ByteSize `yaml:"quarantine_max_bytes"`
	// DecodeBudgetBytes bounds the inflated bytes of the decoded batches
	// the consumer holds at once (ingest.Config.DecodeBudget); at least
	// wire.MaxDecoded.
	DecodeBudgetBytes confload.ByteSize `yaml:"decode_budget_bytes"`
}

// Quota bounds what one tenant may take of the relay (see the accounts
// notes in relay/doc.go; on an external cluster max_bytes and max_messages
// refuse a paused tenant's batches at the gateway, counted across the
// replicas).
type Quota struct {
	// MaxMessages is how many batches one tenant may hold in the ingest
	// stream; at the limit the tenant's ingest import is withdrawn until
	// it drains below 90%, and its agents wait as during an outage. 0 is
	// no limit.
	MaxMessages int64 `yaml:"max_messages"`
	// MaxBytes is how many bytes of batches (message bodies, as sent) one
	// tenant may hold in the ingest stream; at the limit the relay refuses
	// its batches, and withdraws its ingest import, until it drains below
	// 90%. 0 is no limit.
	MaxBytes confload.ByteSize `yaml:"max_bytes"`
	// ConnectionsPerAgent bounds each agent's connections (its tenant
	// account allows this many per enrolled agent).
	ConnectionsPerAgent int `yaml:"connections_per_agent"`
	// CheckInterval is how often the relay counts each tenant's batches.
	CheckInterval confload.Duration `yaml:"check_interval"`
}

// Heartbeat says when an agent counts as stale.
type Heartbeat struct {
	StaleAfter confload.Duration `yaml:"stale_after"`
}

// Log configures the relay's logger.
type Log struct {
	Level string `yaml:"level"` // trace, debug, info, warn, error
	File  string `yaml:"file"`  // empty: stderr
}

// Default returns the configuration used with no file: everything under
// ./sei-relay-data, embedded NATS with JetStream on 127.0.0.1:4222 (TLS with
// a generated development certificate), a Badger store, HTTP on
// 127.0.0.1:8080.
func Default() Config {
	return Config{
		DataDir: "./sei-relay-data",
		HTTP:    HTTP{Listen: "127.0.0.1:8080"},
		NATS: NATS{
			Listen:     "127.0.0.1:4222",
			SyncAlways: true,
			MaxStore:   16 << 30,
			MaxMemory:  256 << 20,
		},
		Store: Store{Kind: StoreBadger},
		Stream: Stream{
			MaxBytes:        8 << 30,
			DuplicateWindow: confload.Duration(10 * time.Minute),
		},
		Consumer: Consumer{MaxDeliver: 10, AckWait: confload.Duration(30 * time.Second), QuarantineMaxBatches: 1000, QuarantineMaxBytes: 256 << 20,
			DecodeBudgetBytes: 2 * wire.MaxDecoded},
		Heartbeat: Heartbeat{StaleAfter: confload.Duration(5 * time.Minute)},
		Quota:     Quota{ConnectionsPerAgent: 4, CheckInterval: confload.Duration(5 * time.Second)},
		Log:       Log{Level: "info"},
		Feed:      defaultFeed(),
		Requests:  defaultRequests(),
		Hosted:    defaultHosted(),
	}
}

// StreamReplicas is the effective replica count: stream.replicas, or 1
// embedded and 3 on an external cluster.
func (c *Config) StreamReplicas() int {
	switch {
	case c.Stream.Replicas > 0:
		return c.Stream.Replicas
	case c.NATS.Embedded():
		return 1
	default:
		return 3
	}
}
