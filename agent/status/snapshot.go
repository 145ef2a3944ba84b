package status

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// SchemaVersion is the value of Snapshot.Schema this package writes. It
// changes only when a reader must know about a change; fields are only ever
// added.
const SchemaVersion = 1

// Verdict levels, from best to worst.
const (
	LevelOK       = "OK"
	LevelDegraded = "DEGRADED"
	LevelFailing  = "FAILING"
)

// Poll results of TableStatus.LastResult.
const (
	ResultOK        = "ok"         // the last poll finished and committed every page
	ResultRunning   = "running"    // a poll is in progress
	ResultError     = "error"      // the last poll failed; it is retried at the next poll
	ResultAuthError = "auth_error" // ServiceNow rejected the credentials; retrying will not help
	ResultPaused    = "paused"     // the poll was skipped because the buffer is full
)

// Snapshot is the agent's status at one instant: what `sei-agent status`
// shows, what /status serves and what the heartbeat carries. The
// composition root fills it from the live components; Finalize computes the
// derived figures and the verdict. Its JSON form is a contract: see the
// package documentation.
type Snapshot struct {
	Schema     int        `json:"schema"`
	Time       time.Time  `json:"time"`
	Agent      Agent      `json:"agent"`
	ServiceNow ServiceNow `json:"servicenow"`
	Buffer     Buffer     `json:"buffer"`
	Relay      Relay      `json:"relay"`
	Verdict    Verdict    `json:"verdict"`
	// Instances holds one section per ServiceNow instance when the agent
	// is configured with several; the top-level sections then summarise
	// them (see the package documentation). Omitted for one instance.
	Instances []Instance `json:"instances,omitempty"`
}

// Agent describes the agent process itself.
type Agent struct {
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
	// Running is true when the snapshot came from the running agent and
	// false for an offline snapshot built by the CLI from what it can read.
	Running    bool      `json:"running"`
	PID        int       `json:"pid,omitempty"`
	Started    time.Time `json:"started,omitzero"`
	Uptime     Duration  `json:"uptime_seconds,omitzero"` // set by Finalize from Started
	ConfigFile string    `json:"config_file,omitempty"`
	DataDir    string    `json:"data_dir,omitempty"`
	// ServiceState is the system service's state as the service manager
	// reports it: "running", "stopped", "failed", "not-installed" or
	// "unknown". The agent itself says "running" only when the service
	// manager runs it, and nothing when run by hand; the CLI asks the
	// service manager.
	ServiceState string `json:"service_state,omitempty"`
	// Note explains a partial snapshot, such as why figures are missing.
	Note string `json:"note,omitempty"`
}

// ServiceNow describes the connection to the ServiceNow instance and every
// polled table.
type ServiceNow struct {
	URL        string `json:"url,omitempty"`
	AuthMethod string `json:"auth_method,omitempty"` // basic or oauth
	// TokenExpiry is when the stored OAuth credential stops working without
	// an admin's help (the refresh token), not the short-lived access token.
	TokenExpiry time.Time `json:"token_expiry,omitzero"`
	// AccessTokenExpiry is the current access token's expiry; informative.
	AccessTokenExpiry time.Time `json:"access_token_expiry,omitzero"`
	// CertExpiry is the earliest NotAfter of the instance's TLS chain or
	// the configured CA; zero when unknown.
	CertExpiry time.Time `json:"cert_expiry,omitzero"`
	// LimiterWaits counts the requests servicenow.rate_limit held back
	// since start, all tables together, and LimiterWaited the time they
	// waited.
	LimiterWaits  int64    `json:"limiter_waits"`
	LimiterWaited Duration `json:"limiter_wait_seconds,omitzero"`
	// OffsetPages counts the pages read with sysparm_offset because more
	// consecutive rows were hidden by ACLs than the largest page: a row
	// leaving the window at that instant can shift a visible one past
	// the offset, so such a poll may miss a row.
	OffsetPages int64 `json:"offset_pages,omitempty"`
	// AuthError is set while ServiceNow refuses the credentials: the last
	// cycle ended at the first refusal, so it holds for every table.
	AuthError string        `json:"auth_error,omitempty"`
	Tables    []TableStatus `json:"tables"`
}

// TableStatus is the poll state of one ServiceNow table.
type TableStatus struct {
	Name string `json:"name"`
	// Cursor is the table's high-water mark: the sys_updated_on (or
	// sys_created_on) of the newest committed record, ServiceNow's UTC
	// "YYYY-MM-DD HH:MM:SS", and CursorSysID its sys_id.
	Cursor      string `json:"cursor,omitempty"`
	CursorSysID string `json:"cursor_sys_id,omitempty"`
	// CursorAdvanced is when Cursor last moved forward.
	CursorAdvanced time.Time `json:"cursor_advanced,omitzero"`
	// SourceNewest is the newest value of the table's incremental column
	// (the one Cursor holds) that ServiceNow reported at the last poll,
	// in the same format; empty when not probed. The stall check needs it.
	SourceNewest  string    `json:"source_newest,omitempty"`
	LastPollStart time.Time `json:"last_poll_start,omitzero"`
	LastPollEnd   time.Time `json:"last_poll_end,omitzero"`
	LastResult    string    `json:"last_result,omitempty"` // one of the Result constants
	LastError     string    `json:"last_error,omitempty"`
	LastSuccess   time.Time `json:"last_success,omitzero"`
	FetchedLast   int64     `json:"fetched_last_run"`
	FetchedTotal  int64     `json:"fetched_total"`
	// ExcludedFields lists the field names (never values) removed from
	// every record of the table, global exclusions included.
	ExcludedFields []string `json:"excluded_fields,omitempty"`
	// HTTPErrors counts failed responses by HTTP status code since start.
	HTTPErrors map[int]int64 `json:"http_errors,omitempty"`
	// RateLimitWaits counts the table's requests ServiceNow rate-limited
	// (429) since start, each retried after the wait its Retry-After
	// asked for: HTTPErrors[429], kept as a figure of its own.
	RateLimitWaits int64     `json:"rate_limit_waits"`
	NextPoll       time.Time `json:"next_poll,omitzero"`
	// Reconcile is the table's completeness reconciliation (reconcile.go);
	// nil for tables not reconciled.
	Reconcile *ReconcileStatus `json:"reconcile,omitempty"`
}

// Buffer describes the durable outbox.
type Buffer struct {
	PendingBatches int64     `json:"pending_batches"`
	PendingRecords int64     `json:"pending_records"`
	PendingBytes   int64     `json:"pending_bytes"`
	MaxBytes       int64     `json:"max_bytes"`
	FreeDisk       int64     `json:"free_disk_bytes"`
	Oldest         time.Time `json:"oldest_pending,omitzero"`
	OldestAge      Duration  `json:"oldest_pending_age_seconds,omitzero"` // set by Finalize from Oldest
	LastGC         time.Time `json:"last_gc,omitzero"`
	// PollingPaused is true while the poller holds off, its cursors held,
	// because the buffer refused a batch: it reached MaxBytes, or the disk
	// would drop below the free space the buffer keeps. PauseReason is the
	// buffer's refusal, which says which.
	PollingPaused bool   `json:"polling_paused"`
	PauseReason   string `json:"pause_reason,omitempty"`
	// Error says why the figures could not be read (offline, say, while
	// the running agent holds the lock).
	Error string `json:"error,omitempty"`
	// Repairs counts the damaged ranges found since the buffer was made;
	// RepairsPending those not yet read again from ServiceNow, in
	// RepairTables ("" means every table). LastRepair is the most recent.
	Repairs        int64    `json:"repairs"`
	RepairsPending int      `json:"repairs_pending,omitempty"`
	RepairTables   []string `json:"repair_tables,omitempty"`
	LastRepair     *Repair  `json:"last_repair,omitempty"`
	// ResyncTables are the tables being read again because a remote
	// resync asked for it: work, not damage, so not in RepairsPending.
	ResyncTables []string `json:"resync_tables,omitempty"`
	// MovedAside lists damaged buffers the agent moved aside (kept for
	// support) before starting a fresh one.
	MovedAside []string `json:"moved_aside,omitempty"`
}

// Repair is one damaged range of a table, read again from ServiceNow.
type Repair struct {
	Table  string    `json:"table"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Whole  bool      `json:"whole,omitempty"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// Relay describes the NATS connection to the cloud and what the relay
// confirmed as persisted.
type Relay struct {
	URL       string `json:"url,omitempty"`
	Connected bool   `json:"connected"`
	// Since is when Connected last changed; when the agent never
	// connected, Evaluate counts from Agent.Started.
	Since         time.Time `json:"since,omitzero"`
	RTT           Duration  `json:"rtt_seconds,omitzero"`
	LastAck       time.Time `json:"last_ack,omitzero"`
	LastAckBatch  string    `json:"last_ack_batch,omitempty"`
	PublishErrors int64     `json:"publish_errors"`
	Reconnects    int64     `json:"reconnects"`
	LastError     string    `json:"last_error,omitempty"`
	// CertExpiry is the earliest NotAfter of the relay's TLS chain or the
	// configured CA; zero when unknown. (The agent's NKEY credentials do
	// not expire.)
	CertExpiry time.Time `json:"cert_expiry,omitzero"`
	// Confirmed holds, per table, the newest record version the relay
	// confirmed as persisted: the cloud holds everything up to it.
	Confirmed map[string]ConfirmedCursor `json:"confirmed,omitempty"`
}

// ConfirmedCursor is the newest record version of one table the relay
// confirmed on sei.agent.<tenant>.<agent>.confirm.
type ConfirmedCursor struct {
	UpdatedOn string    `json:"sys_updated_on"`
	ModCount  int64     `json:"sys_mod_count"`
	Time      time.Time `json:"time,omitzero"` // when the confirmation arrived
}

// Verdict is the overall health with the reasons, in words, for anything
// other than OK.
type Verdict struct {
	Level   string   `json:"level"`
	Reasons []string `json:"reasons,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as a number of
// seconds (fractions to the microsecond: a loopback round trip is less
// than a millisecond).
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	s := math.Round(time.Duration(d).Seconds()*1e6) / 1e6
	return strconv.AppendFloat(nil, s, 'f', -1, 64), nil
}

// UnmarshalJSON reads a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode duration in seconds: %w", err)
	}
	if math.IsNaN(s) || math.Abs(s) > math.MaxInt64/float64(time.Second) {
		return fmt.Errorf("decode duration in seconds: %v out of range", s)
	}
	*d = Duration(time.Duration(s * float64(time.Second)))
	return nil
}

// Finalize stamps s with now (unless s.Time is set), fills the figures
// derived from others (uptime, age of the oldest pending record) and
// evaluates the verdict with th.
func (s *Snapshot) Finalize(th Thresholds, now time.Time) {
	s.Schema = SchemaVersion
	if s.ServiceNow.Tables == nil {
		s.ServiceNow.Tables = []TableStatus{} // "tables": [] rather than null
	}
	if s.Time.IsZero() {
		s.Time = now
	}
	if !s.Agent.Started.IsZero() && s.Agent.Running {
		s.Agent.Uptime = Duration(s.Time.Sub(s.Agent.Started))
	}
	if !s.Buffer.Oldest.IsZero() {
		s.Buffer.OldestAge = Duration(max(0, s.Time.Sub(s.Buffer.Oldest)))
	}
	if len(s.Instances) > 0 {
		s.finalizeInstances()
	}
	s.Verdict = Evaluate(s, th, s.Time)
}
