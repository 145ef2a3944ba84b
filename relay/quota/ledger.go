package quota

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrOverQuota is the error Ledger.Admit returns (wrapped, with the
// figures) for a tenant paused at its byte quota.
var ErrOverQuota = errors.New("over its quota")

// Ledger counts the batch bytes (message bodies, compressed, as stored)
// each tenant holds in the ingest stream, and pauses a tenant that reaches
// MaxBytes until the relay drained it to 90%. The relay's gateway asks
// Admit before forwarding a batch and calls Added once the stream stored it
// (not for a duplicate); the consumer calls Removed once a batch left the
// stream (acknowledged or terminated). All of them take one mutex for a
// map update: nothing grows with the number of tenants per call.
//
// The ledger lives in one relay process, which is why quotas apply only to
// the embedded server, where that one process runs the only gateway and
// consumer. After a restart it starts from an estimate (Reset, from the
// stream's per-subject counts); Settle corrects a tenant to zero whenever
// it holds no batch, so an estimate, or a batch the stream dropped by
// itself (stream.max_age), never lingers. Its methods are safe for
// concurrent use.
type Ledger struct {
	max int64

	mu sync.Mutex
	// mu guards the fields below.
	held   map[string]int64
	paused map[string]bool
	adds   uint64            // Added calls so far
	added  map[string]uint64 // tenant → adds at its last Added

	refused prometheus.Counter
}

// NewLedger returns a ledger with maxBytes per tenant (> 0).
func NewLedger(maxBytes int64) (*Ledger, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("quota: max bytes must be > 0 (got %d)", maxBytes)
	}
	return &Ledger{max: maxBytes, held: map[string]int64{}, paused: map[string]bool{}, added: map[string]uint64{},
		refused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sei_relay", Name: "quota_refused_batches_total",
			Help: "Batches the gateway refused because their tenant held quota.max_bytes in the stream."}),
	}, nil
}

// MaxBytes is the per-tenant limit.
func (l *Ledger) MaxBytes() int64 { return l.max }

// Collectors are the ledger's metrics, for the caller to register.
func (l *Ledger) Collectors() []prometheus.Collector { return []prometheus.Collector{l.refused} }

// Admit returns nil when tenant may send another batch, or an error that
// says why not, naming quota.max_bytes, and counts the refusal.
func (l *Ledger) Admit(tenant string) error {
	l.mu.Lock()
	paused, held := l.paused[tenant], l.held[tenant]
	l.mu.Unlock()
	if !paused {
		return nil
	}
	l.refused.Inc()
	return bytesRefusal(tenant, held, l.max)
}

// bytesRefusal is the error for tenant paused at quota.max_bytes holding
// held bytes, on the embedded server and on an external cluster alike.
func bytesRefusal(tenant string, held, maxBytes int64) error {
	return fmt.Errorf("tenant %s %w: it holds %d bytes of batches in the stream (quota.max_bytes %d); ingest is paused until the relay drained it below 90%%, keep the batch and retry later",
		tenant, ErrOverQuota, held, maxBytes)
}

// Added counts n bytes the stream stored for tenant.
func (l *Ledger) Added(tenant string, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adds++
	l.added[tenant] = l.adds
	l.held[tenant] += n
	if l.held[tenant] >= l.max {
		l.paused[tenant] = true
	}
}

// Removed counts n bytes of tenant that left the stream.
func (l *Ledger) Removed(tenant string, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setLocked(tenant, l.held[tenant]-n)
}

// setLocked sets tenant's bytes (never below 0) and lifts its pause at 90%.
func (l *Ledger) setLocked(tenant string, n int64) {
	if n <= 0 {
		delete(l.held, tenant)
		n = 0
		delete(l.added, tenant) // idle tenants take no room
	} else {
		l.held[tenant] = n
	}
	if n >= l.max {
		l.paused[tenant] = true
	} else if l.paused[tenant] && n*10 <= l.max*9 {
		delete(l.paused, tenant)
	}
}

// Held returns tenant's bytes in the stream and whether it is paused.
func (l *Ledger) Held(tenant string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[tenant], l.paused[tenant]
}

// Paused reports whether tenant is paused at its byte quota.
func (l *Ledger) Paused(tenant string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paused[tenant]
}

// Reset replaces every tenant's count with held (bytes by tenant).
func (l *Ledger) Reset(held map[string]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held = map[string]int64{}
	for t, n := range held {
		l.setLocked(t, n)
	}
	for t := range l.paused {
		if l.held[t] == 0 {
			delete(l.paused, t)
		}
	}
}

// Mark returns a mark to pass to Settle: take it before reading the
// stream's counts.
func (l *Ledger) Mark() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.adds
}

// Settle sets to zero every tenant that holds no batch in batches (the
// stream's per-tenant counts, read after mark was taken) and was not added
// to since mark.
func (l *Ledger) Settle(batches map[string]int64, mark uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for t := range l.held {
		if batches[t] == 0 && l.added[t] <= mark {
			l.setLocked(t, 0)
		}
	}
}
