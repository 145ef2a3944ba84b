package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// maxQuarantineID bounds a quarantine id (a Nats-Msg-Id or a sequence).
const maxQuarantineID = 255

// NormTime returns t as every store keeps times: UTC, to the microsecond
// (PostgreSQL's resolution; it would round, Go truncates first), so that all
// stores return the same values.
func NormTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// CheckAgent reports why a cannot be stored: its tenant and agent must be
// valid names. Stores call it in PutAgent, so every store refuses the same
// agents.
func CheckAgent(a *Agent) error {
	if !wire.ValidName(a.Tenant) || !wire.ValidName(a.Agent) {
		return fmt.Errorf("check agent %q of tenant %q: invalid name", a.Agent, a.Tenant)
	}
	return nil
}

// CheckQuarantineID reports why (tenant, id) cannot name a quarantined
// batch: tenant must be "" or a valid name, id 1 to 255 bytes without NUL.
// Stores call it in Quarantine, QuarantinedBatch and Release.
func CheckQuarantineID(tenant, id string) error {
	if tenant != "" && !wire.ValidName(tenant) {
		return fmt.Errorf("check batch tenant %q: invalid name", tenant)
	}
	if id == "" || len(id) > maxQuarantineID || strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("check batch id %q: must be 1..%d bytes, no NUL", id, maxQuarantineID)
	}
	return nil
}

// QuarantineTenant returns the tenant of an ingest subject for the
// quarantine, "" when it names none.
func QuarantineTenant(subject string) string {
	parts := strings.SplitN(subject, ".", 4)
	if len(parts) >= 3 && parts[0]+"."+parts[1] == wire.IngestPrefix && wire.ValidName(parts[2]) {
		return parts[2]
	}
	return ""
}

// Full reports whether a tenant holding batches and bytes may not take one
// more batch of size bytes.
func (l QuarantineLimits) Full(batches int, bytes, size int64) bool {
	return (l.MaxBatches > 0 && batches >= l.MaxBatches) || (l.MaxBytes > 0 && bytes+size > l.MaxBytes)
}

// QuarantineLimit returns q's page size: DefaultLimit for 0, or an error
// outside 1..MaxLimit.
func QuarantineLimit(q QuarantineQuery) (int, error) {
	switch {
	case q.Limit == 0:
		return DefaultLimit, nil
	case q.Limit < 0 || q.Limit > MaxLimit:
		return 0, fmt.Errorf("quarantine list: limit must be 1..%d (got %d)", MaxLimit, q.Limit)
	}
	return q.Limit, nil
}
