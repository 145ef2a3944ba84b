package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sample() []Record {
	return []Record{
		{Op: OpUpsert, Table: "incident", SysID: "0123456789abcdef0123456789abcdef", SysUpdatedOn: "2026-11-01 10:00:00", SysModCount: 3,
			Fields: map[string]json.RawMessage{"number": json.RawMessage(`"INC0010001"`), "caller_id": json.RawMessage(`{"link":"https://x/api/now/table/sys_user/1","value":"1"}`)}},
		{Op: OpDelete, Table: "incident", SysID: "fedcba9876543210fedcba9876543210", SysUpdatedOn: "2026-11-01 10:00:01", SysModCount: 0},
		{Op: OpDelete, Table: "incident", SysID: "fedcba9876543210fedcba9876543211", SysUpdatedOn: "2026-11-01 10:00:01", SysModCount: 0, Reason: DeleteReconciliation},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	in := sample()
	body, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
	raw, _ := EncodeNDJSON(in)
	if n := bytes.Count(raw, []byte("\n")); n != len(in) {
		t.Errorf("NDJSON has %d lines, want %d", n, len(in))
	}
	if !bytes.Contains(raw, []byte(`"op":"upsert","table":"incident","sys_id":`)) {
		t.Errorf("NDJSON does not follow the contract's field order:\n%s", raw)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"bad op", `{"op":"merge","table":"incident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0}`, "op must be"},
		{"bad table", `{"op":"upsert","table":"Inc.ident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0}`, "invalid table"},
		{"bad time", `{"op":"upsert","table":"incident","sys_id":"a","sys_updated_on":"01/11/2026","sys_mod_count":0}`, "sys_updated_on"},
		{"unknown field", `{"op":"upsert","table":"incident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0,"x":1}`, "unknown field"},
		{"not json", `{"op":`, "line 1"},
		{"reason on an upsert", `{"op":"upsert","table":"incident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0,"reason":"audit"}`, "only on a delete"},
		{"repair on a delete", `{"op":"delete","table":"incident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0,"repair":true}`, "repair is only on an upsert"},
		{"bad reason", `{"op":"delete","table":"incident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0,"reason":"Bad Reason"}`, "reason must be"},
		{"two values", `{"op":"delete","table":"incident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0} {}`, "trailing data"},
		{"stray brace", `{"op":"delete","table":"incident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0}}`, "trailing data"},
		{"stray word", `{"op":"delete","table":"incident","sys_id":"a","sys_updated_on":"2026-11-01 10:00:00","sys_mod_count":0} x`, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeNDJSON([]byte(tc.line + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Decode([]byte("not zstd")); err == nil {
		t.Error("Decode accepted a body that is not zstd")
	}
}

// TestDecodeTooLarge: a body that inflates past MaxDecoded is refused with
// ErrTooLarge, whether its frame declares the size or the decoder finds out
// while inflating.
func TestDecodeTooLarge(t *testing.T) {
	// A zstd frame header declaring MaxDecoded+1 bytes (8-byte content
	// size, 1 KiB window), then one empty last raw block.
	declared := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0x00}
	declared = binary.LittleEndian.AppendUint64(declared, MaxDecoded+1)
	declared = append(declared, 0x01, 0x00, 0x00)
	bodies := map[string][]byte{"declared size": declared}
	if !testing.Short() {
		// A streamed frame without a size: found while inflating (~2 s).
		var buf bytes.Buffer
		w, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 1<<20)
		for range MaxDecoded>>20 + 1 {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		bodies["streamed"] = buf.Bytes()
	}
	for name, body := range bodies {
		if _, err := Decode(body); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err = %v, want ErrTooLarge", name, err)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	a := Version{"2026-11-01 10:00:00", 5}
	b := Version{"2026-11-01 10:00:00", 6}
	c := Version{"2026-11-01 10:00:01", 0}
	if !b.Newer(a) || !c.Newer(b) || a.Newer(a) || a.Compare(a) != 0 || a.Newer(c) {
		t.Error("version order wrong")
	}
}

func TestSubjects(t *testing.T) {
	s := IngestSubject("acme", "sn-prod", "incident")
	tn, in, tb, err := ParseIngestSubject(s)
	if err != nil || tn != "acme" || in != "sn-prod" || tb != "incident" {
		t.Errorf("ParseIngestSubject(%q) = %q %q %q %v", s, tn, in, tb, err)
	}
	for _, bad := range []string{"sei.ingest.acme.incident", "sei.ingest.Acme.x.incident", "x.ingest.a.b.c", "sei.ingest.a.b.c.d"} {
		if _, _, _, err := ParseIngestSubject(bad); err == nil {
			t.Errorf("ParseIngestSubject(%q) accepted", bad)
		}
	}
	if tn, ag, err := ParseHeartbeatSubject(HeartbeatSubject("acme", "edge-1")); err != nil || tn != "acme" || ag != "edge-1" {
		t.Errorf("heartbeat subject round trip: %q %q %v", tn, ag, err)
	}
	for _, n := range []string{"", "-a", "A", strings.Repeat("a", 64), "a.b", "a*"} {
		if ValidName(n) {
			t.Errorf("ValidName(%q) = true", n)
		}
	}
}

// FuzzDecode: whatever the body, Decode never panics, returns only valid
// records within the limits, agrees with DecodeEach, and what it returns
// encodes and decodes back to the same records.
func FuzzDecode(f *testing.F) {
	body, _ := Encode(sample())
	f.Add(body)
	raw, _ := EncodeNDJSON(sample())
	f.Add(raw)
	f.Add(bomb(f, 20_000))
	f.Add(zstdAll(f, append(raw, []byte(`{"op":"upsert","table":"incident"}`+"\n")...)))
	f.Add(zstdAll(f, []byte("\n\n"+string(raw)+"\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Decode(b)
		var streamed int
		inflated, serr := DecodeEach(b, func(*Record) error { streamed++; return nil })
		if (err == nil) != (serr == nil) {
			t.Fatalf("Decode err %v, DecodeEach err %v", err, serr)
		}
		if inflated > MaxDecoded+1 {
			t.Fatalf("DecodeEach read %d inflated bytes, limit %d", inflated, MaxDecoded)
		}
		if err != nil {
			return
		}
		if len(recs) > MaxRecords || streamed != len(recs) {
			t.Fatalf("Decode returned %d records, DecodeEach %d (limit %d)", len(recs), streamed, MaxRecords)
		}
		for i := range recs {
			if err := recs[i].Validate(); err != nil {
				t.Fatalf("Decode returned an invalid record: %v", err)
			}
		}
		again, err := Encode(recs)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded records do not decode: %v", err)
		}
		if diff := cmp.Diff(recs, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeNDJSON(f *testing.F) {
	raw, _ := EncodeNDJSON(sample())
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeNDJSON(b)
		if err != nil {
			return
		}
		again, err := EncodeNDJSON(recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeNDJSON(again); err != nil {
			t.Fatalf("re-encoded records do not decode: %v", err)
		}
	})
}

func TestValidSysIDAndTime(t *testing.T) {
	for _, tc := range []struct {
		s           string
		sysID, time bool
	}{
		{"0123456789abcdef0123456789abcdef", true, false},
		{"a.b_c-D", true, false},
		{"2026-11-01 10:00:00", false, true},
		{"", false, false},
		{"a^NQb", false, false},
		{strings.Repeat("a", 65), false, false},
		{"2026-11-01T10:00:00", false, false},
	} {
		if got := ValidSysID(tc.s); got != tc.sysID {
			t.Errorf("ValidSysID(%q) = %v, want %v", tc.s, got, tc.sysID)
		}
		if got := ValidTime(tc.s); got != tc.time {
			t.Errorf("ValidTime(%q) = %v, want %v", tc.s, got, tc.time)
		}
	}
}

// bomb is a small body that inflates to n copies of one valid record line:
// one stream frame that declares no size and an 8 MiB window (see
// declaredBomb for the worst one the frame checks let through).
func bomb(t testing.TB, n int) []byte {
	t.Helper()
	line, err := EncodeNDJSON(sample()[:1])
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// declaredBomb is the worst bomb the frame checks let through: a frame of
// an agent's shape (EncodeAll, declaring its size) with the library's
// default 8 MiB window, inflating to MaxDecoded bytes of one valid record
// line repeated, far more than MaxRecords records.
func declaredBomb(t testing.TB) []byte {
	t.Helper()
	line, err := EncodeNDJSON(sample()[:1])
	if err != nil {
		t.Fatal(err)
	}
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	body := e.EncodeAll(bytes.Repeat(line, MaxDecoded/len(line)), nil)
	var fh zstd.Header
	if err := fh.Decode(body); err != nil || !fh.HasFCS || fh.WindowSize != MaxWindow {
		t.Fatalf("declaredBomb: header %+v, %v; want a declared size and a %d-byte window", fh, err, MaxWindow)
	}
	return body
}

// allocated returns the bytes f allocated: the least of three runs, since
// a garbage collection in between may empty the decoder pool and make one
// run pay for a new decoder.
func allocated(f func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestDecodeBombIsCheap: a few KB that inflate to MaxDecoded bytes are
// refused after MaxRecords records, having allocated a few MB rather than
// the hundreds the inflated body would take. A stream bomb with a large
// window and no declared size is refused from its header alone.
func TestDecodeBombIsCheap(t *testing.T) {
	stream := bomb(t, 536_870)
	var err error
	if n := allocated(func() { _, err = Decode(stream) }); !errors.Is(err, ErrTooLarge) || n > 64<<10 {
		t.Errorf("Decode(stream bomb) = %v having allocated %d bytes, want ErrTooLarge from the header", err, n)
	}
	body := declaredBomb(t)
	t.Logf("bomb: %d bytes compressed", len(body))
	n := allocated(func() { _, err = Decode(body) })
	if !errors.Is(err, ErrTooManyRecords) {
		t.Fatalf("Decode(bomb) = %v, want ErrTooManyRecords", err)
	}
	t.Logf("decoding the bomb allocated %.1f MiB", float64(n)/(1<<20))
	if n > 32<<20 {
		t.Errorf("decoding the bomb allocated %d bytes, want under 32 MiB", n)
	}
	n = allocated(func() { _, err = DecodeEach(body, func(*Record) error { return nil }) })
	t.Logf("streaming the bomb allocated %.1f MiB", float64(n)/(1<<20))
	if n > 4<<20 {
		t.Errorf("streaming the bomb allocated %d bytes, want under 4 MiB", n)
	}
}

// TestDecodeLimits: exactly MaxRecords records decode; one more does not;
// Encode refuses what Decode would refuse, so an agent splits instead.
func TestDecodeLimits(t *testing.T) {
	recs := make([]Record, MaxRecords+1)
	for i := range recs {
		recs[i] = sample()[1]
	}
	if _, err := Encode(recs); !errors.Is(err, ErrTooManyRecords) {
		t.Errorf("Encode(%d records) = %v, want ErrTooManyRecords", len(recs), err)
	}
	body, err := Encode(recs[:MaxRecords])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(body); err != nil || len(got) != MaxRecords {
		t.Errorf("Decode(%d records) = %d, %v", MaxRecords, len(got), err)
	}
	raw, _ := EncodeNDJSON(recs)
	if _, err := Decode(zstdAll(t, raw)); !errors.Is(err, ErrTooManyRecords) {
		t.Errorf("Decode(%d records) = %v, want ErrTooManyRecords", len(recs), err)
	}
	big := sample()[:1]
	big[0].Fields = map[string]json.RawMessage{"description": json.RawMessage(`"` + strings.Repeat("x", MaxDecoded) + `"`)}
	if _, err := Encode(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Encode(record over MaxDecoded) = %v, want ErrTooLarge", err)
	}
	raw, _ = EncodeNDJSON(big)
	if _, err := Decode(zstdAll(t, raw)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Decode(record over MaxDecoded) = %v, want ErrTooLarge", err)
	}
}

func zstdAll(t testing.TB, raw []byte) []byte {
	t.Helper()
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(raw, nil)
}

func TestScopedMsgID(t *testing.T) {
	id := ScopedMsgID("acme", "0123abcd-0000000000000001")
	if got, ok := MsgIDTenant(id); !ok || got != "acme" {
		t.Errorf("MsgIDTenant(%q) = %q, %v", id, got, ok)
	}
	if got, ok := MsgIDTenant(id + ".replay-abc"); !ok || got != "acme" {
		t.Errorf("a replayed id loses its tenant: %q %v", got, ok)
	}
	for _, old := range []string{"0123abcd-0000000000000001", "poison.replay-1", "seq-7", "Bad:x", ":x"} {
		if got, ok := MsgIDTenant(old); ok {
			t.Errorf("MsgIDTenant(%q) = %q, want no tenant", old, got)
		}
	}
}

// TestEncodeWindowBounded encodes a batch of several MiB of NDJSON and
// checks that its frame asks a decoder for at most EncoderWindow of history
// (the library's default was 8 MiB), and that it still decodes.
func TestEncodeWindowBounded(t *testing.T) {
	in := make([]Record, 3000)
	for i := range in {
		in[i] = sample()[0]
		in[i].SysID = strings.Repeat("0", 24) + strings.Repeat(string(rune('a'+i%26)), 8)
		in[i].Fields = map[string]json.RawMessage{"description": json.RawMessage(`"` + strings.Repeat(string(rune('a'+i%23)), 1500) + `"`)}
	}
	body, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := EncodeNDJSON(in)
	var fh zstd.Header
	if err := fh.Decode(body); err != nil {
		t.Fatal(err)
	}
	if len(raw) <= 2*EncoderWindow || fh.WindowSize == 0 || fh.WindowSize > EncoderWindow {
		t.Errorf("frame window %d for %d bytes of NDJSON, want at most %d", fh.WindowSize, len(raw), EncoderWindow)
	}
	out, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Errorf("decoded %d records, want %d", len(out), len(in))
	}
}
