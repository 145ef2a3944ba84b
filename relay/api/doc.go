// Package api is the relay's HTTP API: it serves the stored records, the
// agents' last heartbeats, a health check and the Prometheus metrics.
//
//	GET /v1/records?tenant=T[&integration=I][&table=X][&after=CURSOR][&limit=N]
//	    NDJSON, one store.Record a line, ordered by (integration, table,
//	    sys_id); the cursor of the next page is in the Sei-Next-Cursor
//	    response header, absent on the last page.
//	GET /v1/agents[?tenant=T]
//	    {"agents":[...]}: last heartbeat, version, backlog, verdict and
//	    "stale" when the agent has been silent longer than StaleAfter.
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
