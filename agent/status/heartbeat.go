package status

import (
	"encoding/json"
	"fmt"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Heartbeat returns the message the forwarder publishes on
// wire.HeartbeatSubject every minute: the summary the relay reads plus the
// whole finalized snapshot as Status.
func Heartbeat(s *Snapshot) (wire.Heartbeat, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return wire.Heartbeat{}, fmt.Errorf("encode status snapshot: %w", err)
	}
	return wire.Heartbeat{
		Agent:   s.Agent.ID,
		Version: s.Agent.Version,
		Time:    s.Time,
		Verdict: s.Verdict.Level,
		Reasons: s.Verdict.Reasons,
		Backlog: s.Buffer.PendingRecords,
		Status:  raw,
	}, nil
}
