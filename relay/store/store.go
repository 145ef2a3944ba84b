// Package store defines the relay's record store: the contract every
// implementation (Badger for one machine, PostgreSQL at scale) keeps, and
// that the shared suite in storetest checks.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Record is one stored ServiceNow record, keyed by (Tenant, Integration,
// Table, SysID). A deletion is kept as a tombstone: Deleted set, Fields nil,
// so an older upsert delivered late cannot bring the record back.
type Record struct {
	Tenant       string          `json:"tenant"`
	Integration  string          `json:"integration"`
	Table        string          `json:"table"`
	SysID        string          `json:"sys_id"`
	SysUpdatedOn string          `json:"sys_updated_on"`
	SysModCount  int64           `json:"sys_mod_count"`
	Deleted      bool            `json:"deleted"`
	Fields       json.RawMessage `json:"fields"`
	// Reason says why a tombstone was written (wire.DeleteReason values);
	// "" on upserts, and on tombstones from agents that do not say.
	Reason DeleteReason `json:"reason,omitempty"`
	// Repair (from wire.Record.Repair) lets Apply replace a live record of
	// the same version whose fields differ. Not stored.
	Repair bool `json:"-"`
}

// Version returns the record's version.
func (r *Record) Version() wire.Version {
	return wire.Version{UpdatedOn: r.SysUpdatedOn, ModCount: r.SysModCount}
}

// Result counts what Apply did.
type Result struct {
	Applied int // records written: new, or newer than the stored version
	Ignored int // records not newer than the stored version (duplicates, late redeliveries)
}

// Query selects records for List. Tenant is required; the rest narrow it.
type Query struct {
	Tenant      string
	Integration string // optional
	Table       string // optional
	After       string // opaque cursor from a previous List; "" for the start
	Limit       int    // 1..MaxLimit; 0 means DefaultLimit
}

// List limits.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// Agent is the latest heartbeat of one agent.
type Agent struct {
	Tenant    string          `json:"tenant"`
	Agent     string          `json:"agent"`
	Seen      time.Time       `json:"last_heartbeat"`
	Heartbeat json.RawMessage `json:"heartbeat"` // the wire.Heartbeat as received
}

// Quarantined is a batch the relay could never apply (undecodable, or
// rejected MaxDeliver times), kept for inspection and replay. It is keyed by
// (Tenant, ID): an agent chooses the ID, so one tenant's ids can never
// touch another tenant's entries.
type Quarantined struct {
	// Tenant is the tenant of the subject it came on; "" when the subject
	// names no valid tenant.
	Tenant  string            `json:"tenant"`
	ID      string            `json:"id"` // the batch's Nats-Msg-Id, or stream sequence when it has none
	Subject string            `json:"subject"`
	Header  map[string]string `json:"header"`
	Data    []byte            `json:"data,omitempty"` // nil in QuarantineList's answers
	Size    int               `json:"bytes"`          // len(Data); set by the store
	Reason  string            `json:"reason"`
	Time    time.Time         `json:"time"`
}

// QuarantineLimits bound one tenant's quarantine; zero means no bound.
type QuarantineLimits struct {
	MaxBatches int
	MaxBytes   int64
}

// QuarantineQuery selects a page of QuarantineList.
type QuarantineQuery struct {
	Tenant string // "" for every tenant
	After  string // opaque cursor from a previous page; "" for the start
	Limit  int    // 1..MaxLimit; 0 means DefaultLimit
}

// Errors of Quarantine. A caller counts each: they are refusals.
var (
	// ErrQuarantineFull: the tenant holds QuarantineLimits already.
	ErrQuarantineFull = errors.New("tenant's quarantine is full")
	// ErrQuarantineExists: (tenant, id) is quarantined already; the entry
	// there is kept, never replaced.
	ErrQuarantineExists = errors.New("batch already quarantined")
	// ErrNotFound: no quarantined batch has that (tenant, id).
	ErrNotFound = errors.New("no such quarantined batch")
)

// ErrBadCursor is returned by List for a cursor it did not issue.
var ErrBadCursor = errors.New("invalid cursor")

// Store persists records with "newest version wins". Every method is safe for
// concurrent use, and, for stores shared by several relay processes
// (PostgreSQL), across processes.
type Store interface {
	// Apply writes recs in one transaction: all or none. A record replaces
	// the stored one only when its (sys_updated_on, sys_mod_count) is newer;
	// otherwise it is counted as ignored. Applying the same records again is
	// a no-op, whatever the order. recs may name a key more than once.
	Apply(ctx context.Context, recs []Record) (Result, error)

	// List returns up to q.Limit records in a stable order (integration,
	// table, sys_id), starting after q.After, tombstones included, and the
	// cursor of the next page ("" when there is none). The order and the
	// cursor stay valid while records are written.
	List(ctx context.Context, q Query) (recs []Record, next string, err error)

	// Feed: every write Apply makes gets a position (see feed.go).
	Feed

	// PutAgent stores an agent's latest heartbeat, replacing the previous.
	PutAgent(ctx context.Context, a Agent) error
	// Agents lists the agents of tenant ("" for every tenant), by tenant and name.
	Agents(ctx context.Context, tenant string) ([]Agent, error)

	// Quarantine keeps a batch that cannot be applied, under (q.Tenant,
	// q.ID). An entry already there is never replaced (ErrQuarantineExists),
	// and a tenant at lim gets ErrQuarantineFull. Across processes the
	// limits are checked, not locked: concurrent relays may pass them by
	// the few batches they quarantine at the same instant.
	Quarantine(ctx context.Context, q Quarantined, lim QuarantineLimits) error
	// QuarantineList returns up to q.Limit quarantined batches without
	// their Data (Size says how large it is), ordered by (tenant, id),
	// and the cursor of the next page ("" when there is none).
	QuarantineList(ctx context.Context, q QuarantineQuery) ([]Quarantined, string, error)
	// QuarantinedBatch returns one quarantined batch with its Data, or
	// ErrNotFound.
	QuarantinedBatch(ctx context.Context, tenant, id string) (Quarantined, error)
	// Release removes a quarantined batch (after a replay). Releasing one
	// that is not there is not an error.
	Release(ctx context.Context, tenant, id string) error

	// PartStore keeps the parts of records too large for one message
	// until their set is complete (see parts.go).
	PartStore

	// Ping reports whether the store can serve requests (for /healthz).
	Ping(ctx context.Context) error
	// Close releases the store. It is idempotent.
	Close() error
}
