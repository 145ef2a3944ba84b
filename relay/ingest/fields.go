package ingest

import (
	"bytes"
	"encoding/json"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// encodeFields returns exactly what json.Marshal returns for fields (keys
// sorted bytewise, each value compacted, '<', '>', '&', U+2028 and U+2029
// escaped), without reflection or a sort of reflect.Values: on a record of
// about a hundred fields that was the largest cost of the relay's ingest.
// Every value must be valid JSON, as the decoder leaves it; a value that is
// not is an error, as for json.Marshal.
//
// Keys and string values that need no escaping (all of ServiceNow's field
// names and nearly every value) are copied as they are; anything else goes
// through encoding/json.
//
// order, when not nil, holds the sorted keys of the previous record of the
// batch and is updated: records of one table mostly have the same fields,
// and those need no sort.
func encodeFields(fields map[string]json.RawMessage, order *[]string) ([]byte, error) {
	var keys []string
	if order != nil {
		*order = wire.SortedNames(fields, *order)
		keys = *order
	} else {
		keys = wire.SortedNames(fields, nil)
	}
	size := 2
	for k, v := range fields {
		size += len(k) + len(v) + 4
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	var scratch bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		if plainKey(k) {
			out = append(out, '"')
			out = append(out, k...)
			out = append(out, '"')
		} else {
			q, err := json.Marshal(k)
			if err != nil {
				return nil, err
			}
			out = append(out, q...)
		}
		out = append(out, ':')
		v := fields[k]
		if v == nil {
			out = append(out, "null"...)
			continue
		}
		if plainString(v) {
			out = append(out, v...)
			continue
		}
		scratch.Reset()
		if err := json.Compact(&scratch, v); err != nil {
			return nil, err
		}
		ob := bytes.NewBuffer(out)
		json.HTMLEscape(ob, scratch.Bytes())
		out = ob.Bytes()
	}
	return append(out, '}'), nil
}

// plainKey reports whether json.Marshal writes k as '"' + k + '"': printable
// ASCII other than the characters it escapes.
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// plainString reports whether v is one valid JSON string token that
// json.Marshal copies unchanged: nothing in it HTML-escaped ('<', '>', '&',
// U+2028, U+2029). Bytes of invalid UTF-8 are copied, as json.Marshal copies
// them from a json.RawMessage; the UTF-8 check comes afterwards.
func plainString(v []byte) bool {
	if !wire.JSONString(v) {
		return false
	}
	for i := 1; i < len(v)-1; i++ {
		switch c := v[i]; {
		case c == '<', c == '>', c == '&':
			return false
		case c == 0xE2 && i+2 < len(v) && v[i+1] == 0x80 && v[i+2]&^1 == 0xA8:
			return false
		}
	}
	return true
}
