package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Reasons a batch is rejected, the values of the reason label.
const (
	ReasonSubject       = "subject"        // not sei.ingest.<tenant>.<integration>.<table>
	ReasonSchema        = "schema"         // Sei-Schema is not 1
	ReasonEncoding      = "encoding"       // Content-Encoding is not zstd
	ReasonDecode        = "decode"         // the body does not decode or a record is invalid
	ReasonTableMismatch = "table_mismatch" // a record's table differs from the subject's
	ReasonRecordCount   = "record_count"   // Sei-Records disagrees with the body
	ReasonMaxDeliver    = "max_deliver"    // the store refused it MaxDeliver times
	ReasonAgent         = "agent"          // Sei-Agent disagrees with the connection's identity
)

// rejectError is a permanent problem with a batch: retrying cannot help.
type rejectError struct {
	reason string
	err    error
}

func (e *rejectError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *rejectError) Unwrap() error { return e.err }

func reject(reason string, format string, args ...any) error {
	return &rejectError{reason: reason, err: fmt.Errorf(format, args...)}
}

// batch is a checked message, ready for the store.
type batch struct {
	tenant, integration, table string
	agent                      string // the sender (see sender); "" when unknown
	records                    []store.Record
	newest                     wire.Version // the newest version among records
}

// checkBatch checks a message's subject, headers and body and converts its
// records. Every error it returns is a *rejectError. Tenant and integration
// come from the subject, which only the tenant's own account can import
// (and its agents' permissions restrict further); the agent comes from the
// connection (see sender). The payload cannot move records into another
// tenant.
func checkBatch(subject string, h nats.Header, data []byte) (*batch, error) {
	tenant, integration, table, err := wire.ParseIngestSubject(subject)
	if err != nil {
		return nil, &rejectError{reason: ReasonSubject, err: err}
	}
	agent, err := sender(h)
	if err != nil {
		return nil, &rejectError{reason: ReasonAgent, err: err}
	}
	if got := h.Get(wire.HeaderSchema); got != wire.SchemaVersion {
		return nil, reject(ReasonSchema, "header %s: want %q (got %q)", wire.HeaderSchema, wire.SchemaVersion, got)
	}
	if got := h.Get(wire.HeaderEncoding); got != wire.Encoding {
		return nil, reject(ReasonEncoding, "header %s: want %q (got %q)", wire.HeaderEncoding, wire.Encoding, got)
	}
	recs, err := wire.Decode(data)
	if err != nil {
		return nil, &rejectError{reason: ReasonDecode, err: err}
	}
	if n := h.Get(wire.HeaderRecords); n != "" && n != strconv.Itoa(len(recs)) {
		return nil, reject(ReasonRecordCount, "header %s says %s records, body holds %d", wire.HeaderRecords, n, len(recs))
	}
	b := &batch{tenant: tenant, integration: integration, table: table, agent: agent, records: make([]store.Record, 0, len(recs))}
	for i := range recs {
		r := &recs[i]
		if r.Table != table {
			return nil, reject(ReasonTableMismatch, "record %s: table %q on subject of table %q", r.SysID, r.Table, table)
		}
		sr, err := toStore(tenant, integration, r)
		if err == nil {
			// The store's checks are stricter than the wire's (a real date,
			// UTF-8 fields); a record it refuses must be rejected here, not
			// retried.
			err = store.CheckRecord(&sr)
		}
		if err != nil {
			return nil, &rejectError{reason: ReasonDecode, err: err}
		}
		if v := r.Version(); v.Newer(b.newest) {
			b.newest = v
		}
		b.records = append(b.records, sr)
	}
	return b, nil
}

// toStore converts a wire record; a delete becomes a tombstone.
func toStore(tenant, integration string, r *wire.Record) (store.Record, error) {
	sr := store.Record{
		Tenant:       tenant,
		Integration:  integration,
		Table:        r.Table,
		SysID:        r.SysID,
		SysUpdatedOn: r.SysUpdatedOn,
		SysModCount:  r.SysModCount,
		Deleted:      r.Op == wire.OpDelete,
		Reason:       r.Reason,
	}
	if sr.Deleted {
		return sr, nil
	}
	if len(r.Fields) == 0 {
		sr.Fields = json.RawMessage(`{}`)
		return sr, nil
	}
	f, err := json.Marshal(r.Fields)
	if err != nil {
		return store.Record{}, fmt.Errorf("encode fields of %s/%s: %w", r.Table, r.SysID, err)
	}
	sr.Fields = f
	return sr, nil
}

// rejectReason returns the reason of a rejectError, or "" for other errors.
func rejectReason(err error) string {
	var re *rejectError
	if errors.As(err, &re) {
		return re.reason
	}
	return ""
}
