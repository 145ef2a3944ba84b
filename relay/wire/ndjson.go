package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// recordWriter writes records as NDJSON lines byte for byte as
// json.Encoder (SetEscapeHTML(false)) writes a Record, without reflection:
// the fields in name order, each value compacted. The agent encodes every
// record it sends, so this is most of its encoding cost. A record with
// anything the fast path does not handle (a string needing escapes, a
// value that is not a plain string) goes through json.Compact for that
// value, or through json.Encoder for the whole record, so the output is
// always the same.
type recordWriter struct {
	buf   *bytes.Buffer
	std   *json.Encoder // made on first use, writes to buf
	names []string      // the sorted field names of the last record
}

func newRecordWriter(buf *bytes.Buffer) *recordWriter { return &recordWriter{buf: buf} }

// write appends r as one line.
func (w *recordWriter) write(r *Record) error {
	start := w.buf.Len()
	if w.fast(r) {
		return nil
	}
	w.buf.Truncate(start)
	if w.std == nil {
		w.std = json.NewEncoder(w.buf)
		w.std.SetEscapeHTML(false)
	}
	if err := w.std.Encode(r); err != nil {
		w.buf.Truncate(start)
		return fmt.Errorf("encode record %s/%s: %w", r.Table, r.SysID, err)
	}
	return nil
}

// fast writes r, or reports false having written part of it.
func (w *recordWriter) fast(r *Record) bool {
	b := w.buf
	b.WriteString(`{"op":`)
	if !plainString(b, string(r.Op)) {
		return false
	}
	b.WriteString(`,"table":`)
	if !plainString(b, r.Table) {
		return false
	}
	b.WriteString(`,"sys_id":`)
	if !plainString(b, r.SysID) {
		return false
	}
	b.WriteString(`,"sys_updated_on":`)
	if !plainString(b, r.SysUpdatedOn) {
		return false
	}
	b.WriteString(`,"sys_mod_count":`)
	b.Write(strconv.AppendInt(b.AvailableBuffer(), r.SysModCount, 10))
	if len(r.Fields) > 0 {
		b.WriteString(`,"fields":{`)
		w.names = SortedNames(r.Fields, w.names)
		for i, k := range w.names {
			if i > 0 {
				b.WriteByte(',')
			}
			if !plainString(b, k) {
				return false
			}
			b.WriteByte(':')
			v := r.Fields[k]
			switch {
			case v == nil:
				b.WriteString("null")
			case JSONString(v):
				b.Write(v) // a string is its own compact form
			default:
				if json.Compact(b, v) != nil {
					return false
				}
			}
		}
		b.WriteByte('}')
	}
	if r.Reason != "" {
		b.WriteString(`,"reason":`)
		if !plainString(b, r.Reason) {
			return false
		}
	}
	if r.Repair {
		b.WriteString(`,"repair":true`)
	}
	b.WriteString("}\n")
	return true
}

// plainString writes s quoted when it needs no escape (printable ASCII
// without '"' and '\'), and reports whether it did.
func plainString(b *bytes.Buffer, s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
	return true
}

// JSONString reports whether v is exactly one valid JSON string token:
// quoted, no raw control character, only valid escapes (the relay's
// ingest uses it too).
func JSONString(v []byte) bool {
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	for i := 1; i < len(v); {
		c := v[i]
		switch {
		case c == '"':
			return i == len(v)-1
		case c == '\\':
			if i+1 >= len(v) {
				return false
			}
			switch v[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(v) || !isHex(v[i+2]) || !isHex(v[i+3]) || !isHex(v[i+4]) || !isHex(v[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		case c < 0x20:
			return false
		default:
			i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// SortedNames returns the names of fields in byte order, reusing prev
// (and its backing array) when it holds exactly those names: the records
// of one table usually share their field set, and sorting ninety names per
// record was a large part of encoding it.
func SortedNames(fields map[string]json.RawMessage, prev []string) []string {
	if len(prev) == len(fields) {
		same := true
		for _, k := range prev {
			if _, ok := fields[k]; !ok {
				same = false
				break
			}
		}
		if same {
			return prev // a map has no duplicate keys: same count, all present, same set
		}
	}
	names := prev[:0]
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
