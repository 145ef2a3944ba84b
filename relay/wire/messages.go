package wire

import (
	"encoding/json"
	"time"
)

// Heartbeat is what an agent publishes on HeartbeatSubject every minute. The
// relay reads the top-level fields and keeps Status as it came.
type Heartbeat struct {
	Agent   string          `json:"agent"`
	Version string          `json:"version"`
	Time    time.Time       `json:"time"`
	Verdict string          `json:"verdict"` // OK, DEGRADED or FAILING
	Reasons []string        `json:"reasons,omitempty"`
	Backlog int64           `json:"backlog_records"`
	Status  json.RawMessage `json:"status,omitempty"` // the agent's full status snapshot
}

// Confirmation is what the relay sends on ConfirmSubject after committing
// batches: for each table, the newest record version it holds from this
// agent, so the agent can say "the cloud holds everything up to X".
type Confirmation struct {
	Time   time.Time          `json:"time"`
	Tables map[string]Version `json:"tables"`
}
