// Package status is the agent's status model and its local admin endpoint:
// the Snapshot data model, the verdict rules (Evaluate), the admin server
// (/status, /healthz, /metrics), the client the `sei-agent status` command
// uses (Query), and the human and JSON renderings.
//
// It is a leaf: it imports no other agent package and not the buffer. The
// composition root converts the live components' figures into a Snapshot.
//
// # Admin endpoint
//
// On Linux and other Unixes the server listens on <data_dir>/sei-agent.sock
// with mode 0600 (bound under a temporary name, restricted, then renamed,
// so the path never exists with wider permissions). On Windows it listens
// on a random 127.0.0.1 port and requires "Authorization: Bearer <token>"
// with a random token. Either way it writes <data_dir>/admin.json (0600):
//
//	{"network": "unix"|"tcp", "address": "<socket path or host:port>", "token": "<Windows only>", "pid": 1234}
//
// At start a stale socket or admin.json (nothing answers) is removed; if a
// live agent answers, Run fails with ErrAlreadyRunning. Endpoints:
//
//	GET /status   the finalized Snapshot as JSON (below)
//	GET /healthz  200 unless the verdict is FAILING (then 503); body: the level, then one reason a line
//	GET /metrics  Prometheus text format from the configured Gatherer
//	GET /debug/pprof/…  the Go profiler (net/http/pprof): heap, allocs, goroutine, profile?seconds=N, trace
//
// To profile a running agent on Linux:
//
//	curl --unix-socket <data_dir>/sei-agent.sock http://agent/debug/pprof/heap >heap.pb.gz
//	go tool pprof -top heap.pb.gz
//
// # Status JSON (schema 1)
//
// `sei-agent status --json`, GET /status and the heartbeat's "status" field
// carry the same document. It is a contract: fields are only added, never
// renamed or removed; readers must ignore unknown fields. Times are RFC 3339
// strings in UTC or with an offset; durations are numbers of seconds
// (fractions to the microsecond). Fields marked "omitted when unknown" are
// absent rather than zero; counters are always present.
//
//	{
//	  "schema": 1,
//	  "time": "2026-11-28T16:00:00Z",           // when the snapshot was taken
//	  "agent": {
//	    "id": "agent01", "version": "1.2.3",       // omitted when unknown
//	    "running": true,                           // false: an offline snapshot read from disk by the CLI
//	    "pid": 1234, "started": "…",               // omitted when unknown
//	    "uptime_seconds": 3600,                    // omitted when not running
//	    "config_file": "/etc/sei-agent/agent.yaml", "data_dir": "/var/lib/sei-agent",
//	    "service_state": "running"|"stopped"|"failed"|"not-installed"|"unknown",  // omitted when run by hand
//	    "note": "…"                                // why figures are missing, if they are
//	  },
//	  "servicenow": {
//	    "url": "https://acme.service-now.com", "auth_method": "basic"|"oauth",
//	    "token_expiry": "…",                       // OAuth refresh token; omitted when none
//	    "access_token_expiry": "…", "cert_expiry": "…",
//	    "limiter_waits": 4, "limiter_wait_seconds": 1.5,  // requests servicenow.rate_limit held back, all tables
//	    "offset_pages": 2,                         // pages read by offset past rows hidden by ACLs (may miss a row); omitted when 0
//	    "auth_error": "…",                         // the last cycle ended on ServiceNow refusing the credentials (no table polled after it); omitted otherwise
//	    "tables": [{
//	      "name": "incident",
//	      "cursor": "2026-11-28 15:59:58", "cursor_sys_id": "…",  // ServiceNow UTC time; omitted before the first commit
//	      "cursor_advanced": "…",                  // when the cursor last moved
//	      "source_newest": "2026-11-28 15:59:58",  // newest row ServiceNow reported, same column as cursor; omitted when not probed
//	      "last_poll_start": "…", "last_poll_end": "…",
//	      "last_result": "ok"|"running"|"error"|"auth_error"|"paused",
//	      "last_error": "…", "last_success": "…",
//	      "fetched_last_run": 120, "fetched_total": 45012,
//	      "excluded_fields": ["description", "work_notes"],    // names only, never values
//	      "http_errors": {"429": 1, "503": 2},     // by status code, since start
//	      "rate_limit_waits": 1,                   // 429 answers, each waited out (Retry-After) and retried: http_errors["429"]
//	      "next_poll": "…",
//	      "reconcile": {…}                         // completeness reconciliation, see ReconcileStatus; omitted for tables not reconciled
//	    }]
//	  },
//	  "buffer": {
//	    "pending_batches": 12, "pending_records": 3400, "pending_bytes": 1234567,
//	    "max_bytes": 1073741824, "free_disk_bytes": 42949672960,
//	    "oldest_pending": "…", "oldest_pending_age_seconds": 180,   // omitted when nothing is pending
//	    "last_gc": "…",
//	    "polling_paused": false,                   // true: the buffer refused a batch, polls wait with cursors held
//	    "pause_reason": "…",                       // the buffer's refusal (full, or disk nearly full); omitted when not paused
//	    "error": "…",                              // why the figures could not be read
//	    "repairs": 2,                              // damaged ranges found since the buffer was made (checksum, relay decode, unreadable cursor)
//	    "repairs_pending": 1,                      // of those, not yet read again from ServiceNow; omitted when 0
//	    "repair_tables": ["sys_user"],             // tables with a pending repair ("" = every table); omitted when none
//	    "last_repair": {"table": "sys_user", "from": "…", "to": "…",   // cursors (JSON) bounding the range; empty: unknown
//	                    "whole": false, "reason": "batch 7 failed its checksum", "time": "…"},   // omitted before the first
//	    "resync_tables": ["incident"],             // tables read again on a remote resync request (not damage; not in repairs_pending); omitted when none
//	    "moved_aside": ["/var/lib/sei-agent/buffer.damaged-20261203T171000Z"]   // damaged buffers kept for support; omitted when none
//	  },
//	  "relay": {
//	    "url": "tls://relay.example.com:4222", "connected": true,
//	    "since": "…",                              // when "connected" last changed
//	    "rtt_seconds": 0.023, "last_ack": "…", "last_ack_batch": "…",
//	    "publish_errors": 0, "reconnects": 2, "last_error": "…",
//	    "cert_expiry": "…",
//	    "confirmed": {"incident": {"sys_updated_on": "2026-11-28 15:59:58", "sys_mod_count": 3, "time": "…"}}
//	  },
//	  "verdict": {"level": "OK"|"DEGRADED"|"FAILING", "reasons": ["relay tls://… unreachable for 14m (since …)"]},
//	  "instances": [{                              // only for an agent with several instances (config instances:); omitted otherwise
//	    "integration": "snow-emea",
//	    "servicenow": {…}, "buffer": {…}, "relay": {…},   // this instance's, exactly as the top-level sections above
//	    "error": "…",                              // why this instance's pipeline stopped while the others run; omitted while it runs
//	    "verdict": {"level": "FAILING", "reasons": ["ServiceNow authentication failing (basic, tables incident): …"]}
//	  }]
//	}
//
// # Several instances
//
// With "instances", the top-level sections summarise them, so readers of
// the single-instance fields keep working: "buffer" sums every instance's
// counters (pending_*, max_bytes, repairs; oldest_pending is the oldest of
// all; polling_paused when any is, pause_reason and error prefixed with the
// integration; free_disk_bytes the least), "relay" is the first instance's
// connection (every instance dials the same relay) without "confirmed"
// (per instance), and "servicenow" has "tables": [] and no url: each
// instance's are in its own section. The heartbeat's backlog_records is the
// sum. The verdict covers every instance: each instance is evaluated alone
// with the rules below (its verdict in instances[].verdict) and each of its
// reasons appears in the top-level verdict prefixed with its integration
// ("snow-emea: ServiceNow authentication failing …"); an instance whose
// pipeline stopped is FAILING; "agent is not running" is said once.
//
// # Verdict rules
//
// Evaluate applies these, with Thresholds (defaults in brackets). The agent
// takes RelayDegraded, RelayFailing and BacklogAge from the configuration
// keys status.relay_degraded, status.relay_failing and status.backlog_age,
// and MinFreeDisk from agent.min_free_bytes; the defaults are theirs.
//
//   - agent not running (offline snapshot): FAILING. The relay and schedule
//     rules below are skipped, as their figures are stale.
//   - relay disconnected (counted from relay.since, else agent.started) for
//     RelayDegraded [1m]: DEGRADED; for RelayFailing [2h]: FAILING.
//   - a table's last poll ended in auth_error: FAILING, one reason naming
//     every such table.
//   - a table's last poll ended in error (after the client's own retries):
//     DEGRADED.
//   - a table is stalled: its cursor has not advanced for Stall [3h] while
//     ServiceNow reported newer rows (source_newest > cursor). Without
//     source_newest the rule cannot fire; while polling is paused it does not.
//   - a table's next poll is late by PollOverdue [15m] and no poll runs:
//     DEGRADED.
//   - polling paused (the reason says why: the buffer is full, or the disk
//     nearly so), or pending bytes at the bound: DEGRADED.
//   - oldest pending record older than BacklogAge [3h]: DEGRADED.
//   - free disk of the data directory below MinFreeDisk [256 MiB]: DEGRADED.
//   - a buffer repair is pending (a damaged range not yet read again from
//     ServiceNow): DEGRADED, until the re-read succeeded.
//   - a table's last reconciliation sweep left windows whose counts still
//     differ from ServiceNow's: DEGRADED, naming the table.
//   - ServiceNow token, ServiceNow certificate or relay certificate
//     expiring within ExpiryWarning [14 days]: DEGRADED; expired: FAILING.
//
// FAILING reasons are listed before DEGRADED ones. `sei-agent status` exits
// with ExitCode: 0 OK, 1 DEGRADED or FAILING, 3 agent not running.
package status
