package store

import (
	"fmt"
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

// CheckQuarantineID reports why id cannot name a quarantined batch: it must
// be 1 to 255 bytes. Stores call it in Quarantine and Release.
func CheckQuarantineID(id string) error {
	if id == "" || len(id) > maxQuarantineID {
		return fmt.Errorf("check batch id %q: must be 1..%d bytes", id, maxQuarantineID)
	}
	return nil
}
