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
package poll
