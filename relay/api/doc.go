// Package api is the relay's HTTP API: it serves the stored records, their
// change feed, the agents' last heartbeats, a health check and the
// Prometheus metrics.
//
//	GET /v1/records?tenant=T[&integration=I][&table=X][&after=CURSOR][&limit=N]
//	    NDJSON, one store.Record a line, ordered by (integration, table,
//	    sys_id); the cursor of the next page is in the Sei-Next-Cursor
//	    response header, absent on the last page. The last page carries
//	    Sei-Feed-Position: the change feed position read before the first
//	    page, to follow /v1/changes from (see snapshot.go).
//	GET /v1/changes?tenant=T[&integration=I][&table=X][&since=POS][&limit=N][&wait=D]
//	    NDJSON, the tenant's changes after POS in position order, each a
//	    /v1/records line plus "position" (tombstones with "reason"); the
//	    position to ask from next is in Sei-Next-Since. wait (up to 60s)
//	    holds an empty answer until a change arrives. A position of another
//	    tenant is 400, one this store cannot resume from 410; both name the
//	    remedy, a new snapshot.
//	GET /v1/agents[?tenant=T]
//	    {"agents":[...]}: last heartbeat, version, backlog, verdict and
//	    "stale" when the agent has been silent longer than StaleAfter, and
//	    "reconcile": for each table the agent reconciled, its last sweep's
//	    figures next to the relay's own count of the table's live records
//	    (once per sweep); a difference makes the verdict DEGRADED, naming
//	    the table (reconcile.go).
//	GET /healthz
//	    200 when every health check passes, else 503 naming the failing ones.
//	GET /metrics
//	    Prometheus text format.
//
// Every endpoint but /healthz needs "Authorization: Bearer <token>"; without
// a valid token the answer is 401 with "WWW-Authenticate: Bearer". /healthz
// stays open for load balancers and orchestrators, which rarely hold
// secrets; it tells an anonymous caller only which checks fail, and the
// error details only to a caller with the token. Errors are JSON objects
// {"error": "...", "param": "..."} where param names the query parameter at
// fault.
package api
