package snowtest

import (
	"bytes"
	"encoding/json"
	"time"
)

// Display-value modes of sysparm_display_value.
const (
	modeValue   = "false"
	modeDisplay = "true"
	modeAll     = "all"
)

// renderOpts says how records are rendered for one request.
type renderOpts struct {
	fields []string // requested fields in order; nil means all
	mode   string   // modeValue, modeDisplay or modeAll
	noLink bool     // sysparm_exclude_reference_link
	base   string   // scheme://host for reference links
}

// renderLocked appends row as a JSON object, its fields in the table's order
// (or the requested order).
func (s *Server) renderLocked(buf *jsonBuf, def *tableDef, row map[string]string, ro renderOpts) {
	fields := def.fields
	if ro.fields != nil {
		fields = ro.fields
	}
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.str(f)
		buf.WriteByte(':')
		s.renderValueLocked(buf, def, f, row[f], ro)
	}
	buf.WriteByte('}')
}

func (s *Server) renderValueLocked(buf *jsonBuf, def *tableDef, f, v string, ro renderOpts) {
	ref := def.refs[f]
	link := ""
	if ref != "" && v != "" && !ro.noLink {
		link = ro.base + "/api/now/table/" + ref + "/" + v
	}
	switch ro.mode {
	case modeDisplay:
		dv := s.displayLocked(def, f, v)
		if link == "" {
			buf.str(dv)
			return
		}
		writeObject(buf, "link", link, "display_value", dv)
	case modeAll:
		dv := s.displayLocked(def, f, v)
		if link == "" {
			writeObject(buf, "display_value", dv, "value", v)
			return
		}
		writeObject(buf, "display_value", dv, "link", link, "value", v)
	default:
		if link == "" {
			buf.str(v)
			return
		}
		writeObject(buf, "link", link, "value", v)
	}
}

// displayLocked is the label the API user sees for value v of field f.
func (s *Server) displayLocked(def *tableDef, f, v string) string {
	if v == "" {
		return ""
	}
	if ref := def.refs[f]; ref != "" {
		return s.referenceLabelLocked(ref, v)
	}
	if labels, ok := def.choices[f]; ok {
		if l, ok := labels[v]; ok {
			return l
		}
		return v
	}
	if dateTimeFields[f] {
		t, err := time.ParseInLocation(timeLayout, v, time.UTC)
		if err != nil {
			return v
		}
		return t.In(displayZone).Format(displayTimeLayout)
	}
	return v
}

func (s *Server) referenceLabelLocked(ref, id string) string {
	candidates := []string{ref}
	if ref == "task" {
		candidates = []string{TableIncident, TableChangeRequest}
	}
	for _, name := range candidates {
		if t := s.tables[name]; t != nil {
			if row, ok := t.rows[id]; ok {
				return row[t.def.display]
			}
		}
	}
	if l, ok := foreignLabels[id]; ok {
		return l
	}
	return id
}

// writeObject writes a small JSON object of string pairs, keys in the given order.
func writeObject(buf *jsonBuf, kv ...string) {
	buf.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.str(kv[i])
		buf.WriteByte(':')
		buf.str(kv[i+1])
	}
	buf.WriteByte('}')
}

// jsonBuf is a response body under construction. Its one encoder writes
// every string of the body (an encoder per value was most of a page's
// cost), without HTML escaping, as ServiceNow does.
type jsonBuf struct {
	bytes.Buffer
	enc *json.Encoder
}

func newJSONBuf() *jsonBuf {
	b := &jsonBuf{}
	b.enc = json.NewEncoder(&b.Buffer)
	b.enc.SetEscapeHTML(false)
	return b
}

// str writes v as a JSON string.
func (b *jsonBuf) str(v string) {
	if plainJSON(v) { // most values: written as Encode would, without its allocation
		b.WriteByte('"')
		b.WriteString(v)
		b.WriteByte('"')
		return
	}
	_ = b.enc.Encode(v)     // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

// plainJSON reports whether v needs no escaping inside a JSON string
// written without HTML escaping: printable ASCII other than '"' and '\\'.
func plainJSON(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
