package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func FuzzCheckBatch(f *testing.F) {
	good, _ := wire.Encode([]wire.Record{rec("incident", "i1", 1, 1), {Op: wire.OpDelete, Table: "incident", SysID: "i2", SysUpdatedOn: "2026-01-01 00:00:00", Reason: wire.DeleteAudit}})
	mixed, _ := wire.Encode([]wire.Record{rec("incident", "i1", 1, 1), rec("sys_user", "u1", 1, 1)})
	f.Add("sei.ingest.t1.snow1.incident", "t1:a-1", "1", "zstd", "2", good)
	f.Add("sei.ingest.t1.snow1.incident", "t2:a-1", "1", "zstd", "2", good)
	f.Add("sei.ingest.t1.snow1.incident", "", "1", "zstd", "", mixed)
	f.Add("sei.ingest.t1.snow1.sys_user", "x", "1", "zstd", "", good)
	f.Add("sei.ingest.T1.snow1.incident", "", "1", "zstd", "", good)
	f.Add("sei.ingest.t1.snow1.incident", "", "1", "zstd", "", []byte("garbage"))
	f.Add("sei.ingest.t1.snow1.incident", "", "1", "zstd", "", zstdOf(f, []byte(`{"op":"upsert"}`+"\n")))
	f.Add("sei.ingest.t1.snow1.incident", "", "1", "zstd", "", bombBody(f, 20_000))
	f.Fuzz(func(t *testing.T, subject, msgID, schema, encoding, count string, data []byte) {
		h := nats.Header{}
		h.Set(wire.HeaderMsgID, msgID)
		h.Set(wire.HeaderSchema, schema)
		h.Set(wire.HeaderEncoding, encoding)
		h.Set(wire.HeaderRecords, count)
		b, err := checkBatch(subject, h, data)
		if err != nil {
			if rejectReason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		tenant, integration, table, err := wire.ParseIngestSubject(subject)
		if err != nil {
			t.Fatalf("accepted a batch on subject %q: %v", subject, err)
		}
		if scope, ok := wire.MsgIDTenant(msgID); ok && scope != tenant {
			t.Fatalf("accepted id %q scoped to %q on tenant %q's subject", msgID, scope, tenant)
		}
		if len(b.records) > wire.MaxRecords || b.size > wire.MaxDecoded {
			t.Fatalf("accepted %d records, %d bytes: past the limits", len(b.records), b.size)
		}
		for _, r := range b.records {
			if r.Tenant != tenant || r.Integration != integration || r.Table != table {
				t.Fatalf("record %+v escapes subject %s", r, subject)
			}
			if r.Deleted != (r.Fields == nil) {
				t.Fatalf("record %+v: tombstone and fields disagree", r)
			}
			if err := store.CheckRecord(&r); err != nil {
				t.Fatalf("accepted a record the store refuses: %v", err)
			}
		}
	})
}

func TestCheckBatchRejectsWhatTheStoreRefuses(t *testing.T) {
	tests := []struct {
		name string
		line string
	}{
		{"impossible date", `{"op":"upsert","table":"incident","sys_id":"x1","sys_updated_on":"2024-13-45 99:00:00","sys_mod_count":1}`},
		{"impossible date on a delete", `{"op":"delete","table":"incident","sys_id":"x1","sys_updated_on":"2024-02-30 10:00:00","sys_mod_count":1}`},
		{"field not UTF-8", `{"op":"upsert","table":"incident","sys_id":"x2","sys_updated_on":"2026-01-01 10:00:00","sys_mod_count":1,"fields":{"short_description":"caf` + "\xe9" + `"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := nats.Header{}
			h.Set(wire.HeaderSchema, wire.SchemaVersion)
			h.Set(wire.HeaderEncoding, wire.Encoding)
			b, err := checkBatch(wire.IngestSubject("t1", "snow1", "incident"), h, zstdOf(t, []byte(tc.line+"\n")))
			if err == nil {
				t.Fatalf("checkBatch accepted %+v", b.records)
			}
			if got := rejectReason(err); got != ReasonDecode {
				t.Errorf("reason %q, want %q (%v)", got, ReasonDecode, err)
			}
			if !errors.Is(err, store.ErrInvalidRecord) {
				t.Errorf("error %v does not wrap store.ErrInvalidRecord", err)
			}
		})
	}
}

func FuzzParseHeartbeat(f *testing.F) {
	f.Add("sei.heartbeat.t1.a1", "", []byte(`{"agent":"x","version":"1","verdict":"OK","backlog_records":3}`))
	f.Add("sei.heartbeat.t1.a1", `{"acc":"A","name_tag":"a1"}`, []byte(`{}`))
	f.Add("sei.heartbeat.t1.a1", `{"acc":"A","name_tag":"a2"}`, []byte(`{}`))
	f.Add("sei.heartbeat.t1.a1", "", []byte(`null`))
	f.Add("sei.heartbeat.t1", "", []byte(`{}`))
	f.Fuzz(func(t *testing.T, subject, ci string, data []byte) {
		h := nats.Header{}
		if ci != "" {
			h.Set(HeaderClientInfo, ci)
		}
		a, err := parseHeartbeat(subject, h, data)
		if err != nil {
			return
		}
		if got, _ := sender(h); ci != "" && got != a.Agent {
			t.Fatalf("heartbeat of %s accepted from connection %q", a.Agent, got)
		}
		if !strings.HasPrefix(subject, wire.HeartbeatSubject(a.Tenant, a.Agent)) || !wire.ValidName(a.Tenant) || !wire.ValidName(a.Agent) {
			t.Fatalf("subject %q parsed as %s/%s", subject, a.Tenant, a.Agent)
		}
	})
}

// TestCheckBatchKeepsDeleteReason: a delete's reason reaches the store
// record; a delete without one (an older agent) stays a plain tombstone.
func TestCheckBatchKeepsDeleteReason(t *testing.T) {
	body, err := wire.Encode([]wire.Record{
		{Op: wire.OpDelete, Table: "incident", SysID: "d1", SysUpdatedOn: "2026-01-01 00:00:00", Reason: wire.DeleteRecord},
		{Op: wire.OpDelete, Table: "incident", SysID: "d2", SysUpdatedOn: "2026-01-01 00:00:00"},
	})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	h := nats.Header{}
	h.Set(wire.HeaderSchema, wire.SchemaVersion)
	h.Set(wire.HeaderEncoding, wire.Encoding)
	b, err := checkBatch(wire.IngestSubject("t1", "snow1", "incident"), h, body)
	if err != nil {
		t.Fatalf("checkBatch: %v", err)
	}
	if got := []string{b.records[0].Reason, b.records[1].Reason}; got[0] != wire.DeleteRecord || got[1] != "" || !b.records[0].Deleted {
		t.Errorf("reasons = %q, want [delete_record, \"\"]", got)
	}
}

// TestSender checks that the agent comes from the connection once the
// server set Nats-Request-Info, and that a Sei-Agent header cannot
// override it.
func TestSender(t *testing.T) {
	for _, tc := range []struct {
		name, ci, header, want string
		wantErr                bool
	}{
		{name: "same account, header only", header: "a1", want: "a1"},
		{name: "same account, invalid header", header: "A B", want: ""},
		{name: "connection only", ci: `{"acc":"ACC","user":"U","name_tag":"a1"}`, want: "a1"},
		{name: "header agrees", ci: `{"acc":"ACC","name_tag":"a1"}`, header: "a1", want: "a1"},
		{name: "forged header", ci: `{"acc":"ACC","name_tag":"a1"}`, header: "a2", wantErr: true},
		{name: "no user name", ci: `{"acc":"ACC"}`, header: "a1", wantErr: true},
		{name: "garbage info", ci: `{`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := nats.Header{}
			if tc.ci != "" {
				h.Set(HeaderClientInfo, tc.ci)
			}
			if tc.header != "" {
				h.Set(wire.HeaderAgent, tc.header)
			}
			got, err := sender(h)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("sender() = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestEnrolledFor: a batch for an integration the sender's credentials do
// not name (user JWT tags) is refused, even though the subject reached the
// relay (a permission that slipped); credentials without integration tags
// (enrolled before agents could have several) keep working.
func TestEnrolledFor(t *testing.T) {
	two := `{"acc":"ACC","name_tag":"a1","tags":["integration:snow-prod","integration:snow-emea","other"]}`
	for _, tc := range []struct {
		name, ci, subject string
		wantErr           bool
	}{
		{name: "first integration", ci: two, subject: "acme.snow-prod.incident"},
		{name: "second integration", ci: two, subject: "acme.snow-emea.sys_user"},
		{name: "third integration", ci: two, subject: "acme.snow-apac.incident", wantErr: true},
		{name: "no integration", ci: two, subject: "acme", wantErr: true},
		{name: "legacy credentials", ci: `{"acc":"ACC","name_tag":"a1"}`, subject: "acme.anything.incident"},
		{name: "inside the relay account", subject: "acme.anything.incident"},
		{name: "garbage info", ci: `{`, subject: "acme.snow-prod.incident", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := enrolledFor(tc.ci, subjectIntegration(tc.subject))
			if (err != nil) != tc.wantErr {
				t.Errorf("enrolledFor = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && tc.ci == two && !strings.Contains(err.Error(), "snow-prod, snow-emea") {
				t.Errorf("error does not list the enrolled integrations: %v", err)
			}
		})
	}
}
