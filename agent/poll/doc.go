// Package poll turns ServiceNow pages into buffered batches.
//
// For each table the Poller reads the rows changed since the table's cursor
// (keyset paging, done by the servicenow client), encodes each page's
// records (already stripped of excluded fields) as a wire batch, and commits
// the batch together with the table's new cursor in one buffer transaction.
// A crash before the commit means the page is fetched again; after it, the
// page is safe and the cursor has moved. When the buffer is full the poller
// waits, holding its cursor: ServiceNow is a replayable source, so nothing
// is dropped.
//
// Each run reads up to its start time minus Lag, and starts Overlap before
// the stored cursor, so rows committed late within the boundary second (or
// stamped by a clock slightly behind ours) are read again rather than
// missed; the relay's version guard makes the re-read harmless.
//
// # Repairs
//
// Every batch records the range it covers: the scanned table, the cursor
// before its page and the page's own. When the buffer finds a batch
// damaged, or the relay could not decode one, the buffer keeps a repair of
// that range, and the next run of the table starts at the earliest lower
// bound of its pending repairs (minus Overlap) if that is before its
// cursor: overlapping repairs merge into one re-read. A repair whose range
// is unknown (a buffer moved aside, a table's cursor that fails its
// checksum or does not decode) restarts the table from the relay's
// confirmation for it (Config.Confirmed: the cloud holds everything up to
// there), or from Lookback where there is none. A repair is resolved only
// after its table was read through to the run's upper bound; until then
// the agent's status is DEGRADED.
package poll
