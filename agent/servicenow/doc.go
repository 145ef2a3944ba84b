// Package servicenow is the agent's client for ServiceNow's Table API: it
// authenticates (basic or OAuth), reads each configured table page by page in
// keyset order on (incremental field, sys_id), survives the faults real
// instances produce (429, 5xx, cut-off JSON, HTML pages, ACL-short pages),
// removes every excluded field (and its copies in sys_audit, sys_journal_field
// and sys_audit_delete) before a value leaves the package, and converts rows
// into wire.Records.
//
// # Paging rule
//
// Scan reads with sysparm_query
//
//	FILTER^F>=FROM^F<UPTO^ORDERBYF^ORDERBYsys_id                       (first page, Cursor.SysID == "")
//	FILTER^F=T^sys_id>ID^NQFILTER^F>T^F<UPTO^ORDERBYF^ORDERBYsys_id    (after the row (T, ID))
//
// The cursor advances to the last row a page returned. Because sysparm_limit
// is applied before row ACLs, a page may come back short or empty while more
// rows follow. A short page therefore never ends the scan; only an empty page
// with nothing after it does. On an empty page Scan asks again from the same
// cursor, now with counts (X-Total-Count, Link rel="next"), and with a limit
// that grows up to the largest page the instance answered without truncation
// (at most 10000). Rows only ever leave a keyset window during a run (updates
// move them past UPTO, inserts land past UPTO), so a larger page from the same
// cursor covers everything a smaller one did: no row is lost. Only when that
// largest page is still empty while more rows follow (more than maxLimit
// consecutive rows hidden from the API user) does Scan step through the
// window with sysparm_offset, which is logged as a warning because a row
// leaving the window at that instant can shift a visible row past the offset.
// The scan ends when an empty page reports no more rows (or, when the
// instance sends neither header, at the first empty answer to the count
// query).
//
// A page whose last row does not advance the cursor is an error (the instance
// ignored the ordering), never an endless loop.
//
// # Page size under faults
//
// Only repeated cut-off answers at one cursor shrink the page (halving, with
// a floor of 50 rows unless that cursor keeps failing); 429, 5xx and a single
// cut-off are retried at the same size, and a shrunk page grows back to the
// configured size after a few whole pages. adapt.go has the exact rule.
//
// # What the caller does
//
// The poller passes upto = the run's start minus a small lag (rows written
// in the current second are never read mid-second), starts a table's first
// run at CursorAt(now - lookback), persists each Page.Cursor with the page's
// records, and starts later runs at the stored cursor's Rewind(overlap): the
// overlap re-reads the boundary second and absorbs clock skew between the
// agent and the instance (Probe measures it). Re-read rows are duplicates the
// relay's version-guarded store ignores.
//
// # Memory
//
// Scan holds one page at a time: the response body (read whole, at most
// maxBody as a hard cap against a broken server; page_size rows of a few KiB
// in practice, about 3 MB for 1,000 incidents of 92 fields) and its decoded
// rows. The next page is requested only after fn returned, so a backfill's
// memory does not grow with the table: a few times one page, bounded by
// page_size (at most MaxPageSize rows).
//
// # Deletes
//
// sys_audit_delete rows (their XML payload stripped of excluded elements, or
// dropped, and their display_value dropped when the source table has
// exclusions) and sys_audit rows with fieldname=DELETED become
// "op":"delete" records for (tablename, documentkey) at the deletion time,
// with sys_mod_count DeleteModCount so that a delete wins over any version
// of the record written in the same second.
package servicenow
