package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

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
	ReasonMsgID         = "msg_id"         // Nats-Msg-Id is scoped to another tenant
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
	size                       int64         // inflated bytes of the body
	body                       wire.Measured // the measured body, until parse
	newest                     wire.Version  // the newest version among records
	part                       *wire.Part    // set for a part message: records are empty until its set is complete
	order                      []string      // the sorted field names of the record converted last (encodeFields)
}

// checkBatch checks a message's subject, headers and body and converts its
// records: checkMessage then parse. Every error it returns is a *rejectError. Tenant and integration
// come from the subject, which only the tenant's own account can import
// (and its agents' permissions restrict further); the agent comes from the
// connection (see sender). The payload cannot move records into another
// tenant.
func checkBatch(subject string, h nats.Header, data []byte) (*batch, error) {
	b, err := checkMessage(subject, h, data)
	if err != nil || b.part != nil {
		return b, err
	}
	return b, b.parse(h)
}

// checkMessage checks a message's subject and headers and measures its
// body (wire.Measure): a batch it returns knows its inflated size and holds
// no record yet (see parse). Every error it returns is a *rejectError.
func checkMessage(subject string, h nats.Header, data []byte) (*batch, error) {
	tenant, integration, table, err := wire.ParseIngestSubject(subject)
	if err != nil {
		return nil, &rejectError{reason: ReasonSubject, err: err}
	}
	agent, err := sender(h)
	if err != nil {
		return nil, &rejectError{reason: ReasonAgent, err: err}
	}
	if t, ok := wire.MsgIDTenant(h.Get(wire.HeaderMsgID)); ok && t != tenant {
		return nil, reject(ReasonMsgID, "header %s is scoped to tenant %q, the subject's tenant is %q", wire.HeaderMsgID, t, tenant)
	}
	if got := h.Get(wire.HeaderSchema); got != wire.SchemaVersion {
		return nil, reject(ReasonSchema, "header %s: want %q (got %q)", wire.HeaderSchema, wire.SchemaVersion, got)
	}
	if got := h.Get(wire.HeaderEncoding); got != wire.Encoding {
		return nil, reject(ReasonEncoding, "header %s: want %q (got %q)", wire.HeaderEncoding, wire.Encoding, got)
	}
	b := &batch{tenant: tenant, integration: integration, table: table, agent: agent}
	part, isPart, err := wire.ParsePart(h.Get(wire.HeaderPart), h.Get(wire.HeaderPartSet))
	if err != nil {
		return nil, &rejectError{reason: ReasonDecode, err: err}
	}
	if isPart {
		// Its body is a piece of a batch body: it is decoded once the
		// set is complete (see processPart). Sei-Records is not checked.
		if len(data) > wire.MaxPayload {
			return nil, reject(ReasonDecode, "part of %d bytes, at most %d", len(data), wire.MaxPayload)
		}
		b.part = &part
		return b, nil
	}
	if err := b.measure(data); err != nil {
		return nil, err
	}
	return b, nil
}

// parse decodes the measured body into b.records and checks the record
// count the headers h announce.
func (b *batch) parse(h nats.Header) error {
	if err := b.decode(); err != nil {
		return err
	}
	if n := h.Get(wire.HeaderRecords); n != "" && n != strconv.Itoa(len(b.records)) {
		err := reject(ReasonRecordCount, "header %s says %s records, body holds %d", wire.HeaderRecords, n, len(b.records))
		b.records = nil
		return err
	}
	return nil
}

// measure checks a batch body (a whole message's, or a part set's) against
// the wire's limits and sets b.size, parsing nothing (wire.Measure).
func (b *batch) measure(data []byte) error {
	m, err := wire.Measure(data)
	if err != nil {
		return &rejectError{reason: ReasonDecode, err: err}
	}
	b.body, b.size = m, m.Inflated()
	return nil
}

// decode parses the measured body into b.records. Each record is converted
// as it is decoded: the inflated body is never held whole, and a bad record
// stops the work at once (and drops what was converted).
func (b *batch) decode() error {
	err := b.body.Each(func(r *wire.Record) error { return b.add(r) })
	b.body = wire.Measured{}
	if err != nil {
		b.records = nil
		if rejectReason(err) != "" {
			return err
		}
		return &rejectError{reason: ReasonDecode, err: err}
	}
	return nil
}

// add checks and converts one record of the batch's body.
func (b *batch) add(r *wire.Record) error {
	if r.Table != b.table {
		return reject(ReasonTableMismatch, "record %s: table %q on subject of table %q", r.SysID, r.Table, b.table)
	}
	sr, err := toStore(b.tenant, b.integration, r, &b.order)
	if err == nil {
		// The store's checks are stricter than the wire's (a real date,
		// UTF-8 fields); a record it refuses must be rejected here, not
		// retried. The fields are JSON by construction (encodeFields), so
		// of their check only UTF-8 is left to do; the store repeats the
		// whole check anyway.
		head := sr
		head.Fields = nil
		err = store.CheckRecord(&head)
		if err == nil && !utf8.Valid(sr.Fields) {
			err = fmt.Errorf("check record %s/%s: fields are not UTF-8 JSON: %w", sr.Table, sr.SysID, store.ErrInvalidRecord)
		}
	}
	if err != nil {
		return &rejectError{reason: ReasonDecode, err: err}
	}
	if v := r.Version(); v.Newer(b.newest) {
		b.newest = v
	}
	b.records = append(b.records, sr)
	return nil
}

// toStore converts a wire record; a delete becomes a tombstone. order is
// encodeFields' cache of sorted field names, or nil.
func toStore(tenant, integration string, r *wire.Record, order *[]string) (store.Record, error) {
	sr := store.Record{
		Tenant:       tenant,
		Integration:  integration,
		Table:        r.Table,
		SysID:        r.SysID,
		SysUpdatedOn: r.SysUpdatedOn,
		SysModCount:  r.SysModCount,
		Deleted:      r.Op == wire.OpDelete,
		Reason:       r.Reason,
		Repair:       r.Repair && r.Op == wire.OpUpsert,
	}
	if sr.Deleted {
		return sr, nil
	}
	if len(r.Fields) == 0 {
		sr.Fields = json.RawMessage(`{}`)
		return sr, nil
	}
	f, err := encodeFields(r.Fields, order)
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
