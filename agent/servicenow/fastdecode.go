package servicenow

import (
	"encoding/json"
)

// scanList is decodeList's fast path: it validates a Table API list body
// and splits it into rows in one pass, without reflection, and without
// copying values: each value is the body's own bytes (capacity-limited,
// so an append never writes into the body), and field names are interned
// per body, one string per distinct name. The body must not change while
// the rows are in use (the client reads each body into its own slice).
//
// ok is false whenever the body is anything but the plain shape ServiceNow
// sends: a top-level object whose only key is "result" (exactly, once),
// holding an array of objects. decodeList then decodes it with
// encoding/json as before, which gives the same rows or the same error, so
// the fast path only has to agree with encoding/json on the bodies it
// accepts: it is as strict as encoding/json's own validity check (strings,
// escapes, numbers, literals, nesting, nothing after the top-level value),
// and a row holds what Unmarshal into map[string]json.RawMessage would
// (the value's bytes as written, the last of duplicate names).
func scanList(body []byte) (rows []Row, ok bool) {
	s := listScanner{b: body, names: map[string]string{}}
	s.ws()
	if !s.eat('{') {
		return nil, false
	}
	s.ws()
	const key = `"result"`
	if len(s.b)-s.i < len(key) || string(s.b[s.i:s.i+len(key)]) != key {
		return nil, false
	}
	s.i += len(key)
	s.ws()
	if !s.eat(':') {
		return nil, false
	}
	s.ws()
	if !s.eat('[') {
		return nil, false
	}
	rows = []Row{}
	s.ws()
	if !s.eat(']') {
		for {
			if s.i >= len(s.b) || s.b[s.i] != '{' {
				return nil, false
			}
			r, ok := s.row()
			if !ok {
				return nil, false
			}
			rows = append(rows, r)
			s.ws()
			if s.eat(',') {
				s.ws()
				continue
			}
			if s.eat(']') {
				break
			}
			return nil, false
		}
	}
	s.ws()
	if !s.eat('}') {
		return nil, false
	}
	s.ws()
	return rows, s.i == len(s.b)
}

// maxDepth bounds the nesting scanList follows; deeper values take the
// encoding/json path (which has its own, larger limit).
const maxDepth = 64

type listScanner struct {
	b     []byte
	i     int
	names map[string]string // interned field names
	hint  int               // fields of the previous row: the next map's size
}

func (s *listScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *listScanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// row reads the object at s.i into a Row.
func (s *listScanner) row() (Row, bool) {
	s.i++ // '{'
	r := make(Row, s.hint)
	s.ws()
	if s.eat('}') {
		return r, true
	}
	for {
		name, ok := s.name()
		if !ok {
			return nil, false
		}
		s.ws()
		if !s.eat(':') {
			return nil, false
		}
		s.ws()
		start := s.i
		if !s.value(0) {
			return nil, false
		}
		r[name] = json.RawMessage(s.b[start:s.i:s.i])
		s.ws()
		if s.eat(',') {
			s.ws()
			continue
		}
		if s.eat('}') {
			break
		}
		return nil, false
	}
	s.hint = len(r)
	return r, true
}

// name reads an object key at s.i: interned when it is plain ASCII,
// else decoded by encoding/json (escapes, invalid UTF-8 replaced).
func (s *listScanner) name() (string, bool) {
	start := s.i
	plain, ok := s.str()
	if !ok {
		return "", false
	}
	raw := s.b[start+1 : s.i-1]
	if !plain {
		var n string
		if json.Unmarshal(s.b[start:s.i], &n) != nil {
			return "", false
		}
		return n, true
	}
	if n, ok := s.names[string(raw)]; ok {
		return n, true
	}
	n := string(raw)
	s.names[n] = n
	return n, true
}

// str reads the string at s.i (which must be '"'); plain says it holds
// neither an escape nor a byte past ASCII.
func (s *listScanner) str() (plain, ok bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return false, false
	}
	plain = true
	for i := s.i + 1; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		case c < 0x20:
			return false, false
		default:
			if c >= 0x80 {
				plain = false
			}
			i++
		}
	}
	return false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// value skips the JSON value at s.i, checking it.
func (s *listScanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		if depth >= maxDepth {
			return false
		}
		s.i++
		s.ws()
		if s.eat('}') {
			return true
		}
		for {
			if _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if !s.eat(':') {
				return false
			}
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				s.ws()
				continue
			}
			return s.eat('}')
		}
	case c == '[':
		if depth >= maxDepth {
			return false
		}
		s.i++
		s.ws()
		if s.eat(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				s.ws()
				continue
			}
			return s.eat(']')
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || isDigit(c):
		return s.number()
	}
	return false
}

func (s *listScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *listScanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.i = i
	return true
}
