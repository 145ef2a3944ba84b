package status

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		th     Thresholds
		mutate func(s *Snapshot)
		want   Verdict
	}{
		{
			name:   "healthy",
			mutate: func(s *Snapshot) {},
			want:   Verdict{Level: LevelOK},
		},
		{
			name:   "repairs all re-read are OK",
			mutate: func(s *Snapshot) { s.Buffer.Repairs = 3 },
			want:   Verdict{Level: LevelOK},
		},
		{
			name: "a pending repair degrades until re-read",
			mutate: func(s *Snapshot) {
				s.Buffer.Repairs, s.Buffer.RepairsPending, s.Buffer.RepairTables = 3, 2, []string{"sys_user", ""}
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"buffer damage repaired: 2 range(s) of sys_user, every table to read again from ServiceNow",
			}},
		},
		{
			name: "a reconciled table that matches is OK",
			mutate: func(s *Snapshot) {
				s.ServiceNow.Tables[0].Reconcile = &ReconcileStatus{LastSweep: now.Add(-time.Hour), ServiceNow: 10, Forwarded: 10, Repaired: 2}
			},
			want: Verdict{Level: LevelOK},
		},
		{
			name: "a table still differing after its sweep degrades, named",
			mutate: func(s *Snapshot) {
				s.ServiceNow.Tables[0].Reconcile = &ReconcileStatus{LastSweep: now.Add(-time.Hour), ServiceNow: 12, Forwarded: 10,
					Mismatch: []string{"created 2026-03"}, Running: "ids"}
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"table " + "incident" + ": after the reconciliation sweep of 2026-11-28 15:00 UTC ServiceNow counts 12 rows, the agent forwarded 10 (still differing: created 2026-03)",
			}},
		},
		{
			name:   "relay briefly down is still OK",
			mutate: func(s *Snapshot) { s.Relay.Connected, s.Relay.Since = false, now.Add(-50*time.Second) },
			want:   Verdict{Level: LevelOK},
		},
		{
			name: "relay down for minutes",
			mutate: func(s *Snapshot) {
				s.Relay.Connected, s.Relay.Since, s.Relay.LastError = false, now.Add(-14*time.Minute), "dial tcp: connection refused"
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"relay tls://relay.example.com:4222 unreachable for 14m (since 2026-11-28 15:46 UTC): dial tcp: connection refused",
			}},
		},
		{
			name:   "relay down for hours",
			mutate: func(s *Snapshot) { s.Relay.Connected, s.Relay.Since = false, now.Add(-3*time.Hour) },
			want: Verdict{Level: LevelFailing, Reasons: []string{
				"relay tls://relay.example.com:4222 unreachable for 3h00m (since 2026-11-28 13:00 UTC)",
			}},
		},
		{
			name: "relay never connected counts from start",
			mutate: func(s *Snapshot) {
				s.Relay.Connected, s.Relay.Since, s.Agent.Started = false, time.Time{}, now.Add(-20*time.Minute)
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"relay tls://relay.example.com:4222 unreachable for 20m (since 2026-11-28 15:40 UTC)",
			}},
		},
		{
			name: "custom relay thresholds",
			th:   Thresholds{RelayDegraded: time.Minute, RelayFailing: 5 * time.Minute},
			mutate: func(s *Snapshot) {
				s.Relay.Connected, s.Relay.Since = false, now.Add(-6*time.Minute)
			},
			want: Verdict{Level: LevelFailing, Reasons: []string{
				"relay tls://relay.example.com:4222 unreachable for 6m (since 2026-11-28 15:54 UTC)",
			}},
		},
		{
			name: "old backlog",
			mutate: func(s *Snapshot) {
				s.Buffer.Oldest, s.Buffer.PendingRecords = now.Add(-5*time.Hour), 9000
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"backlog: oldest pending record waits for 5h00m (9000 records not yet delivered)",
			}},
		},
		{
			name: "authentication failing on two tables",
			mutate: func(s *Snapshot) {
				for i := range s.ServiceNow.Tables {
					s.ServiceNow.Tables[i].LastResult = ResultAuthError
					s.ServiceNow.Tables[i].LastError = "401 Unauthorized: User Not Authenticated"
				}
			},
			want: Verdict{Level: LevelFailing, Reasons: []string{
				"ServiceNow authentication failing (oauth, tables incident, sysapproval_approver): 401 Unauthorized: User Not Authenticated",
			}},
		},
		{
			name: "a failed poll",
			mutate: func(s *Snapshot) {
				s.ServiceNow.Tables[1].LastResult = ResultError
				s.ServiceNow.Tables[1].LastError = "fetch sysapproval_approver page 3: 503 Service Unavailable"
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"table sysapproval_approver: last poll failed at 2026-11-28 15:00 UTC: fetch sysapproval_approver page 3: 503 Service Unavailable",
			}},
		},
		{
			name: "cursor stalled while ServiceNow has newer rows",
			mutate: func(s *Snapshot) {
				s.ServiceNow.Tables[0].SourceNewest = "2026-11-28 15:59:00"
				s.ServiceNow.Tables[0].CursorAdvanced = now.Add(-4 * time.Hour)
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"table incident: cursor stuck at 2026-11-28 15:00:01 for 4h00m though ServiceNow has rows up to 2026-11-28 15:59:00",
			}},
		},
		{
			name: "cursor unchanged with nothing newer is fine",
			mutate: func(s *Snapshot) {
				s.ServiceNow.Tables[0].CursorAdvanced = now.Add(-48 * time.Hour)
			},
			want: Verdict{Level: LevelOK},
		},
		{
			name: "cursor unchanged but source unknown is fine",
			mutate: func(s *Snapshot) {
				s.ServiceNow.Tables[0].SourceNewest = ""
				s.ServiceNow.Tables[0].CursorAdvanced = now.Add(-48 * time.Hour)
			},
			want: Verdict{Level: LevelOK},
		},
		{
			name: "recent newer rows are not a stall",
			mutate: func(s *Snapshot) {
				s.ServiceNow.Tables[0].SourceNewest = "2026-11-28 15:59:00"
				s.ServiceNow.Tables[0].CursorAdvanced = now.Add(-2 * time.Hour)
			},
			want: Verdict{Level: LevelOK},
		},
		{
			name: "buffer full pauses polling and hides the stall",
			mutate: func(s *Snapshot) {
				s.Buffer.PollingPaused, s.Buffer.PendingBytes = true, 1<<30
				s.ServiceNow.Tables[0].SourceNewest = "2026-11-28 15:59:00"
				s.ServiceNow.Tables[0].CursorAdvanced = now.Add(-4 * time.Hour)
				s.ServiceNow.Tables[0].NextPoll = now.Add(-time.Hour)
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"buffer full (1.0 GiB of 1.0 GiB): polling paused until the relay drains it",
			}},
		},
		{
			name: "disk nearly full pauses polling, and says so",
			mutate: func(s *Snapshot) {
				s.Buffer.PollingPaused, s.Buffer.FreeDisk = true, 2<<30
				s.Buffer.PauseReason = "append batch: disk almost full: 2147483648 bytes free in /var/lib/sei-agent/buffer, a write of 4096 must leave 4294967296"
			},
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"polling paused, cursors held: append batch: disk almost full: 2147483648 bytes free in /var/lib/sei-agent/buffer, a write of 4096 must leave 4294967296",
			}},
		},
		{
			name:   "buffer at its bound",
			mutate: func(s *Snapshot) { s.Buffer.PendingBytes = 2 << 30 },
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"buffer full (2.0 GiB of 1.0 GiB)",
			}},
		},
		{
			name:   "poll overdue",
			mutate: func(s *Snapshot) { s.ServiceNow.Tables[1].NextPoll = now.Add(-20 * time.Minute) },
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"table sysapproval_approver: poll overdue by 20m (was due 2026-11-28 15:40 UTC)",
			}},
		},
		{
			name: "a long poll running is not overdue",
			mutate: func(s *Snapshot) {
				s.ServiceNow.Tables[1].NextPoll = now.Add(-3 * time.Hour)
				s.ServiceNow.Tables[1].LastResult = ResultRunning
			},
			want: Verdict{Level: LevelOK},
		},
		{
			name:   "low disk",
			mutate: func(s *Snapshot) { s.Buffer.FreeDisk = 100 << 20 },
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"free disk of the data dir is low: 100.0 MiB (want at least 256.0 MiB)",
			}},
		},
		{
			name:   "token expiring within 14 days",
			mutate: func(s *Snapshot) { s.ServiceNow.TokenExpiry = now.Add(6*24*time.Hour + 2*time.Hour) },
			want: Verdict{Level: LevelDegraded, Reasons: []string{
				"ServiceNow OAuth token expires in 6d2h (2026-12-04 18:00 UTC)",
			}},
		},
		{
			name:   "token expiring in 15 days is fine",
			mutate: func(s *Snapshot) { s.ServiceNow.TokenExpiry = now.Add(15 * 24 * time.Hour) },
			want:   Verdict{Level: LevelOK},
		},
		{
			name: "certificates expired and expiring",
			mutate: func(s *Snapshot) {
				s.Relay.CertExpiry = now.Add(-time.Hour)
				s.ServiceNow.CertExpiry = now.Add(13 * 24 * time.Hour)
			},
			want: Verdict{Level: LevelFailing, Reasons: []string{
				"relay TLS certificate expired 1h00m ago (2026-11-28 15:00 UTC)",
				"ServiceNow TLS certificate expires in 13d0h (2026-12-11 16:00 UTC)",
			}},
		},
		{
			name: "not running skips live checks but keeps disk facts",
			mutate: func(s *Snapshot) {
				s.Agent.Running, s.Agent.ServiceState = false, "stopped"
				s.Relay.Connected = false
				s.ServiceNow.Tables[0].NextPoll = now.Add(-5 * time.Hour)
				s.Buffer.Oldest = now.Add(-4 * time.Hour)
			},
			want: Verdict{Level: LevelFailing, Reasons: []string{
				"agent is not running (service state: stopped)",
				"backlog: oldest pending record waits for 4h00m (340 records not yet delivered)",
			}},
		},
		{
			name: "failing reasons come first",
			mutate: func(s *Snapshot) {
				s.Buffer.FreeDisk = 1 << 20
				s.Relay.Connected, s.Relay.Since = false, now.Add(-5*time.Hour)
			},
			want: Verdict{Level: LevelFailing, Reasons: []string{
				"relay tls://relay.example.com:4222 unreachable for 5h00m (since 2026-11-28 11:00 UTC)",
				"free disk of the data dir is low: 1.0 MiB (want at least 256.0 MiB)",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := healthy()
			tt.mutate(s)
			got := Evaluate(s, tt.th, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFinalize(t *testing.T) {
	s := healthy()
	s.Time = time.Time{}
	s.Relay.Connected, s.Relay.Since = false, now.Add(-time.Hour)
	s.Finalize(Thresholds{}, now)
	want := Snapshot{Schema: SchemaVersion, Time: now}
	if s.Schema != want.Schema || !s.Time.Equal(now) {
		t.Errorf("Finalize: schema %d time %v, want %d %v", s.Schema, s.Time, want.Schema, now)
	}
	if got := s.Agent.Uptime.D(); got != 26*time.Hour {
		t.Errorf("uptime = %v, want 26h", got)
	}
	if got := s.Buffer.OldestAge.D(); got != 3*time.Minute {
		t.Errorf("oldest age = %v, want 3m", got)
	}
	if s.Verdict.Level != LevelDegraded {
		t.Errorf("verdict = %+v, want DEGRADED", s.Verdict)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name    string
		level   string
		running bool
		nilSnap bool
		want    int
	}{
		{name: "ok", level: LevelOK, running: true, want: 0},
		{name: "degraded", level: LevelDegraded, running: true, want: 1},
		{name: "failing", level: LevelFailing, running: true, want: 1},
		{name: "not running", level: LevelFailing, running: false, want: 3},
		{name: "not running but OK figures", level: LevelOK, running: false, want: 3},
		{name: "nil snapshot", running: true, nilSnap: true, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Snapshot{Verdict: Verdict{Level: tt.level}}
			if tt.nilSnap {
				s = nil
			}
			if got := ExitCode(s, tt.running); got != tt.want {
				t.Errorf("ExitCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestHuman(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{250 * time.Millisecond, "250ms"},
		{45 * time.Second, "45s"},
		{14 * time.Minute, "14m"},
		{2*time.Hour + 13*time.Minute, "2h13m"},
		{47 * time.Hour, "47h00m"},
		{3*24*time.Hour + 4*time.Hour, "3d4h"},
		{-5 * time.Minute, "5m"},
	}
	for _, tt := range tests {
		if got := Human(tt.d); got != tt.want {
			t.Errorf("Human(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1536, "1.5 KiB"}, {100 << 20, "100.0 MiB"}, {3 << 40, "3.0 TiB"},
	}
	for _, tt := range tests {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
