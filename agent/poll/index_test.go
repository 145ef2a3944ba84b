package poll

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// scanIndex reads table's index rows.
func scanIndex(t *testing.T, buf *buffer.Buffer, table string) map[string]IndexEntry {
	t.Helper()
	out := map[string]IndexEntry{}
	err := buf.ScanState(IndexPrefix(table), "", func(k, v []byte) error {
		id, ok := IndexSysID(table, string(k))
		if !ok {
			t.Errorf("index key %q has no sys_id", k)
		}
		e, err := DecodeEntry(v)
		if err != nil {
			t.Errorf("index row %s: %v", id, err)
		}
		out[id] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIndexFollowsForwardedRecords: after polls with updates and deletes,
// the index of a table holds exactly the live records forwarded, at the
// version and field hash forwarded last, and no index row of an
// insert-only table.
func TestIndexFollowsForwardedRecords(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	sim, client := newSim(t, clk)
	buf := openBuffer(t, 1<<30)
	p := New(Config{
		Tables:   servicenow.DefaultTables(),
		Lookback: 365 * 24 * time.Hour, Overlap: time.Minute, Lag: 5 * time.Second, Interval: time.Hour,
		Now: clk.Now, Logger: zerolog.Nop(),
	}, client, buf)
	ctx := context.Background()
	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	touched := sim.Touch("incident", 30)
	if err := sim.Delete("incident", touched[0]); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]wire.Record{}
	recs, _ := drain(t, buf)
	latest(got, recs)
	ix := scanIndex(t, buf, "incident")
	live := 0
	for _, r := range got {
		if r.Table != "incident" {
			continue
		}
		e, ok := ix[r.SysID]
		if r.Op == wire.OpDelete {
			if ok {
				t.Errorf("deleted %s still in the index", r.SysID)
			}
			continue
		}
		live++
		if !ok {
			t.Errorf("forwarded %s missing from the index", r.SysID)
			continue
		}
		if e.Version() != r.Version() || e.Hash != FieldHash(r.Fields) {
			t.Errorf("index of %s = %+v, forwarded %+v", r.SysID, e, r.Version())
		}
		var created string
		json.Unmarshal(r.Fields["sys_created_on"], &created)
		if FormatUnix(e.Created) != created {
			t.Errorf("index of %s: created %q, forwarded %q", r.SysID, FormatUnix(e.Created), created)
		}
	}
	if live != len(ix) || live != len(sim.Records("incident")) {
		t.Errorf("index holds %d rows, forwarded live %d, instance %d", len(ix), live, len(sim.Records("incident")))
	}
	if n := len(scanIndex(t, buf, "sys_audit")); n != 0 {
		t.Errorf("insert-only sys_audit has %d index rows", n)
	}
}

func TestIndexCodec(t *testing.T) {
	for _, id := range []string{"0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF", "custom-id.1", "x"} {
		k := IndexKey("incident", id)
		got, ok := IndexSysID("incident", k)
		if !ok || got != id {
			t.Errorf("IndexSysID(IndexKey(%q)) = %q, %v", id, got, ok)
		}
	}
	if len(IndexKey("incident", "0123456789abcdef0123456789abcdef")) != len(IndexPrefix("incident"))+17 {
		t.Error("a hex sys_id is not stored as 16 bytes")
	}
	e := IndexEntry{Created: 1, Updated: 1 << 31, ModCount: 300, Hash: 1<<64 - 1}
	got, err := DecodeEntry(e.Encode())
	if err != nil || got != e {
		t.Errorf("DecodeEntry(Encode(%+v)) = %+v, %v", e, got, err)
	}
	for _, bad := range [][]byte{nil, make([]byte, 16), append(e.Encode(), 0)} {
		if _, err := DecodeEntry(bad); err == nil {
			t.Errorf("DecodeEntry(%x): no error", bad)
		}
	}
}

// fnvFieldHash is FieldHash as first written, with hash/fnv: the hashes in
// existing indexes were made with it, and a different hash would make the
// next sweep refetch every record.
func fnvFieldHash(fields map[string]json.RawMessage) uint64 {
	names := slices.Sorted(maps.Keys(fields))
	h := fnv.New64a()
	for _, k := range names {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write(fields[k])
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// TestFieldHashStable: FieldHash, and the page-wise hashing of indexState
// that reuses the sorted names of the record before, give the hash/fnv
// hash of the fields, for field sets that repeat and change.
func TestFieldHashStable(t *testing.T) {
	sets := []map[string]json.RawMessage{
		{},
		{"sys_id": json.RawMessage(`"a"`), "number": json.RawMessage(`"INC1"`), "caller_id": json.RawMessage(`{"link":"x","value":"u"}`)},
		{"sys_id": json.RawMessage(`"b"`), "number": json.RawMessage(`"INC2"`), "caller_id": json.RawMessage(`null`)},
		{"sys_id": json.RawMessage(`"b"`), "number": json.RawMessage(`"INC2"`), "state": json.RawMessage(`"2"`)},
		{"é": json.RawMessage(`"\u00e9"`), "a": nil},
	}
	// The value the first FieldHash (hash/fnv) gave this record.
	if got, want := FieldHash(sets[1]), uint64(0x5d67019029ec24c4); got != want {
		t.Fatalf("FieldHash = %#x, want %#x as stored by earlier agents", got, want)
	}
	var names []string
	for round := range 2 {
		for i, f := range sets {
			if got, want := fieldHash(f, &names), fnvFieldHash(f); got != want || FieldHash(f) != want {
				t.Fatalf("round %d set %d: fieldHash %#x, FieldHash %#x, hash/fnv %#x", round, i, got, FieldHash(f), want)
			}
		}
	}
}
