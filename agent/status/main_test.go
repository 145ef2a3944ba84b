package status

import (
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// now is the fixed instant the tests evaluate at.
var now = time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)

// shortDir returns a fresh directory whose path is short enough for a Unix
// socket (t.TempDir() can exceed sun_path's 108 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sa")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// healthy returns a snapshot of a running agent with nothing wrong at now.
func healthy() *Snapshot {
	return &Snapshot{
		Time: now,
		Agent: Agent{
			ID: "agent01", Version: "1.2.3", Running: true, PID: 4242,
			Started:    now.Add(-26 * time.Hour),
			ConfigFile: "/etc/sei-agent/agent.yaml", DataDir: "/var/lib/sei-agent", ServiceState: "running",
		},
		ServiceNow: ServiceNow{
			URL: "https://acme.service-now.com", AuthMethod: "oauth",
			TokenExpiry:  now.Add(90 * 24 * time.Hour),
			LimiterWaits: 4, LimiterWaited: Duration(12500 * time.Millisecond),
			Tables: []TableStatus{{
				Name: "incident", Cursor: "2026-11-28 15:00:01", CursorSysID: "abc123",
				CursorAdvanced: now.Add(-time.Hour), SourceNewest: "2026-11-28 15:00:01",
				LastPollStart: now.Add(-time.Hour), LastPollEnd: now.Add(-time.Hour + 12*time.Second),
				LastResult: ResultOK, LastSuccess: now.Add(-time.Hour + 12*time.Second),
				FetchedLast: 120, FetchedTotal: 45012,
				ExcludedFields: []string{"description", "work_notes"},
				HTTPErrors:     map[int]int64{503: 2, 429: 1},
				RateLimitWaits: 1,
				NextPoll:       now.Add(time.Second * 59 * 60),
			}, {
				Name: "sysapproval_approver", Cursor: "2026-11-28 14:59:00",
				LastPollStart: now.Add(-time.Hour), LastPollEnd: now.Add(-time.Hour + 2*time.Second),
				LastResult: ResultOK, FetchedTotal: 1_234_567,
				NextPoll: now.Add(59 * time.Minute),
			}},
		},
		Buffer: Buffer{
			PendingBatches: 2, PendingRecords: 340, PendingBytes: 120 << 10, MaxBytes: 1 << 30,
			FreeDisk: 40 << 30, Oldest: now.Add(-3 * time.Minute), LastGC: now.Add(-30 * time.Minute),
		},
		Relay: Relay{
			URL: "tls://relay.example.com:4222", Connected: true, Since: now.Add(-25 * time.Hour),
			RTT: Duration(23 * time.Millisecond), LastAck: now.Add(-time.Minute), LastAckBatch: "incident-000042",
			Reconnects: 2,
			Confirmed: map[string]ConfirmedCursor{
				"incident": {UpdatedOn: "2026-11-28 15:00:01", ModCount: 3, Time: now.Add(-time.Minute)},
			},
		},
	}
}
