package ingest

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func FuzzCheckBatch(f *testing.F) {
	good, _ := wire.Encode([]wire.Record{rec("incident", "i1", 1, 1), {Op: wire.OpDelete, Table: "incident", SysID: "i2", SysUpdatedOn: "2026-01-01 00:00:00"}})
	mixed, _ := wire.Encode([]wire.Record{rec("incident", "i1", 1, 1), rec("sys_user", "u1", 1, 1)})
	f.Add("sei.ingest.t1.snow1.incident", "1", "zstd", "2", good)
	f.Add("sei.ingest.t1.snow1.incident", "1", "zstd", "", mixed)
	f.Add("sei.ingest.t1.snow1.sys_user", "1", "zstd", "", good)
	f.Add("sei.ingest.T1.snow1.incident", "1", "zstd", "", good)
	f.Add("sei.ingest.t1.snow1.incident", "1", "zstd", "", []byte("garbage"))
	f.Add("sei.ingest.t1.snow1.incident", "1", "zstd", "", zstdOf(f, []byte(`{"op":"upsert"}`+"\n")))
	f.Fuzz(func(t *testing.T, subject, schema, encoding, count string, data []byte) {
		h := nats.Header{}
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
		for _, r := range b.records {
			if r.Tenant != tenant || r.Integration != integration || r.Table != table {
				t.Fatalf("record %+v escapes subject %s", r, subject)
			}
			if r.Deleted != (r.Fields == nil) {
				t.Fatalf("record %+v: tombstone and fields disagree", r)
			}
		}
	})
}

func FuzzParseHeartbeat(f *testing.F) {
	f.Add("sei.heartbeat.t1.a1", []byte(`{"agent":"x","version":"1","verdict":"OK","backlog_records":3}`))
	f.Add("sei.heartbeat.t1.a1", []byte(`null`))
	f.Add("sei.heartbeat.t1", []byte(`{}`))
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		a, err := parseHeartbeat(subject, data)
		if err != nil {
			return
		}
		if !strings.HasPrefix(subject, wire.HeartbeatSubject(a.Tenant, a.Agent)) || !wire.ValidName(a.Tenant) || !wire.ValidName(a.Agent) {
			t.Fatalf("subject %q parsed as %s/%s", subject, a.Tenant, a.Agent)
		}
	})
}
