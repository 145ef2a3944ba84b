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
func (s *Server) renderLocked(buf *bytes.Buffer, def *tableDef, row map[string]string, ro renderOpts) {
	fields := def.fields
	if ro.fields != nil {
		fields = ro.fields
	}
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSON(buf, f)
		buf.WriteByte(':')
		s.renderValueLocked(buf, def, f, row[f], ro)
	}
	buf.WriteByte('}')
}

func (s *Server) renderValueLocked(buf *bytes.Buffer, def *tableDef, f, v string, ro renderOpts) {
	ref := def.refs[f]
	link := ""
	if ref != "" && v != "" && !ro.noLink {
		link = ro.base + "/api/now/table/" + ref + "/" + v
	}
	switch ro.mode {
	case modeDisplay:
		dv := s.displayLocked(def, f, v)
		if link == "" {
			writeJSON(buf, dv)
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
			writeJSON(buf, v)
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
func writeObject(buf *bytes.Buffer, kv ...string) {
	buf.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSON(buf, kv[i])
		buf.WriteByte(':')
		writeJSON(buf, kv[i+1])
	}
	buf.WriteByte('}')
}

// writeJSON writes v as JSON without HTML escaping, as ServiceNow does.
func writeJSON(buf *bytes.Buffer, v any) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings and maps of strings always encode
	buf.Truncate(buf.Len() - 1)
}
