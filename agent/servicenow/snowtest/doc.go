// Package snowtest is a faithful, in-memory simulator of the ServiceNow REST
// endpoints the agent uses: the Table API (unversioned, v1 and v2), the
// Aggregate API and the OAuth token and authorization endpoints.
//
// It generates deterministic, realistic data from a seed (incidents with the
// real 92-field layout, change requests, users, groups, approvals, audit,
// journal and deletion history), serves it over HTTP exactly as
// /work/shared/SERVICENOW.md describes (strings everywhere, reference objects,
// the three display-value shapes, offset Link headers, error envelopes, an
// encoded-query evaluator with ^OR, ^NQ and chained ORDERBY), and can misbehave
// on a seeded schedule (429 with Retry-After, 5xx, cut-off JSON, HTML pages from
// a hibernating instance, 403 on unknown query fields, row ACLs applied after
// sysparm_limit so pages come back short or empty).
//
// Tests drive and observe it through its ground-truth API: Records and Get read
// the stored rows, Update, Touch, Insert and Delete mutate them the way a real
// instance would (moving sys_updated_on to the same second, writing sys_audit,
// sys_audit_delete rows), OnPage lets a test mutate the table between two pages
// of a read, and Requests reports what the client sent. PlantSentinels marks
// every value of chosen (table, field)s and every copy of them (audit values,
// journal text, deletion payloads) with a unique sentinel, so a test can
// prove an excluded value never leaves the client.
//
// # Scale
//
// Each table keeps a sorted index on sys_updated_on and sys_created_on
// (with sys_id), so a keyset page (ORDERBY<field>^ORDERBYsys_id) costs
// O(log n + rows scanned), and without a count it stops after the page;
// offset paging still works, walking the index past the offset. Rows store
// only the fields that have a value. One million incidents (without audit
// and journal rows: -audit 0 -journal 0) take about 33 s of CPU to generate
// and 3.2 GB of RSS; scripts/bench.sh serves its scale points from them.
//
// A Server is safe for concurrent use. It is a leaf: it imports nothing of the
// agent, so the client package is tested against it without a cycle.
package snowtest
