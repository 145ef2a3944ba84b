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
//
// A relay sends one confirmation per integration of the agent and names it
// in Integration, so an agent with several instances routes it to the
// right one; an older relay leaves it empty (one integration per agent).
type Confirmation struct {
	Time        time.Time          `json:"time"`
	Integration string             `json:"integration,omitempty"`
	Tables      map[string]Version `json:"tables"`
}

// Rejection is what the relay sends an agent on RejectSubject when it
// quarantined one of its batches as undecodable (damaged on the agent's
// disk, in transit or in the stream): a negative confirmation. The agent
// reads the batch's range again from ServiceNow.
type Rejection struct {
	Time  time.Time `json:"time"`
	Batch string    `json:"batch"` // the batch's Nats-Msg-Id
	Table string    `json:"table"` // the table of its subject
	// Integration is the integration of its subject, so an agent with
	// several instances routes the rejection to the right one; empty from
	// an older relay.
	Integration string `json:"integration,omitempty"`
	Reason      string `json:"reason"` // the quarantine reason ("decode")
	Error       string `json:"error,omitempty"`
}
