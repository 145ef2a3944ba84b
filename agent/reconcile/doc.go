// Package reconcile proves that the cloud holds what ServiceNow holds, and
// repairs what keyset polling on sys_updated_on cannot see: updates made
// with autoSysFields(false) (neither sys_updated_on nor sys_mod_count
// moves), rows deleted without an audit row (Table Cleaner, auditing off),
// and rows an ACL hid at poll time that became readable later.
//
// # The index
//
// The poller keeps, in the buffer's state, one row per forwarded record of
// each table incremental on sys_updated_on (poll.IndexKey): its
// sys_created_on, sys_updated_on, sys_mod_count and a 64-bit hash of its
// forwarded fields, written in the same transaction as the batch that
// carries the record; a forwarded delete removes the row. The index is
// therefore exactly "what the cloud was sent, and will hold once the buffer
// drains". The sweep never loads it: it iterates it (buffer.ScanState), so
// the agent's memory does not grow with the number of rows.
//
// sys_created_on is stored in the row (4 bytes) because the windows are
// months of sys_created_on, the one column that never changes: a row stays
// in its window for life, so a window's count in ServiceNow and in the
// index can be compared. A record forwarded without sys_created_on (the
// admin excluded it, or a field ACL hides it) has created 0: its table is
// then compared as one window.
//
// # A sweep
//
// A sweep of a table runs under the table's poll lock (poll.LockTable), one
// window at a time, so it never writes the index while the table's poll
// does, and it reads ServiceNow through the poll's client: the same rate
// limit, retries and credentials. Its upper bound is the table's poll
// cursor when the sweep starts: rows created at or after it, and versions
// updated at or after it, are the next poll's business, not a repair.
//
//  1. Counts. For each month of sys_created_on from the index's first
//     to its last (plus one window before and one after), the Aggregate
//     API's count and sum of sys_mod_count (/api/now/stats/{table}
//     ?sysparm_count=true&sysparm_sum_fields=sys_mod_count with the
//     table's filter and the window) are compared with the index's. A
//     sweep of unchanged data costs these requests and nothing else. The
//     sum catches most windows where as many rows appeared as vanished;
//     one where they also carry equal mod counts passes (a limit), unless
//     the hash check runs: a window whose index it changed is id-swept
//     after it, in the same sweep (Result.Rechecked).
//  2. Id sweep of each window whose counts differ: keyset over sys_id
//     (sysparm_fields=sys_id,sys_updated_on,sys_mod_count, 10,000 a page)
//     merged with the index's rows of the window. A row the index lacks,
//     or whose version differs, is fetched whole (Client.Fetch, 100 ids a
//     request) and forwarded; an index row ServiceNow no longer lists is
//     forwarded as a delete with reason wire.DeleteReconciliation. A row
//     the API user can no longer read is indistinguishable from a deleted
//     one, and is deleted in the cloud too: the cloud holds what the
//     agent's user can read.
//  3. Hash check (Table.VerifyFields, off by default): every index row is
//     fetched again, 100 a request, and its field hash compared; a
//     difference is forwarded. Only this finds autoSysFields(false)
//     updates, at the price of reading the whole table.
//
// Repairs are committed like a poll's pages (poll.Forward: batch and
// index rows in one transaction). Progress (phase, window, last sys_id) is
// saved in the buffer's state after each page, so a sweep interrupted by a
// stop or a crash resumes where it was, with the same bound.
//
// # Result
//
// Each sweep's figures (ServiceNow's count, the index's count, rows
// repaired and deleted, windows still differing) are kept in the state
// (key reconcile/<table>) and shown by status. A window still differing
// after its id sweep (a row hidden between listing and fetching, a row
// updated past the bound) is reported as a mismatch; status makes it
// DEGRADED, naming the table.
package reconcile
