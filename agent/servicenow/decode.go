package servicenow

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"strings"
)

// Row is one record as the Table API returned it: field name to the raw JSON
// value (a string, or a {"link","value"} object).
type Row map[string]json.RawMessage

// String returns field's value as a string: the string itself, or the
// "value" of a reference object; "" when absent or of another shape.
func (r Row) String(field string) string {
	raw, ok := r[field]
	if !ok {
		return ""
	}
	if plainString(raw) {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var ref struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(raw, &ref) == nil {
		return ref.Value
	}
	return ""
}

// plainString reports whether raw is a JSON string that reads as its bytes
// between the quotes: no escape, no control character, only ASCII.
func plainString(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// errBadBody says a 200 response was not the JSON a Table API answer is:
// cut off (transaction quota), or an HTML page (hibernating instance). It is
// transient: retried with a smaller page.
type errBadBody struct {
	reason string
	html   bool // an HTML page: not caused by the page size
}

func (e *errBadBody) Error() string { return e.reason }

// errEnvelope is ServiceNow's error body.
type errEnvelope struct {
	Error *struct {
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	} `json:"error"`
}

// decodeList parses a Table API list body. It never panics; a body that is
// not a complete {"result":[{...},...]} is an *errBadBody.
func decodeList(contentType string, body []byte) ([]Row, error) {
	if err := checkJSON(contentType, body); err != nil {
		return nil, err
	}
	if rows, ok := scanList(body); ok {
		return rows, nil
	}
	var env struct {
		Result *[]Row `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, badJSON(body)
	}
	if env.Result == nil {
		return nil, &errBadBody{reason: "response has no result array"}
	}
	for _, r := range *env.Result {
		if r == nil {
			return nil, &errBadBody{reason: "response has a null row"}
		}
	}
	return *env.Result, nil
}

func checkJSON(contentType string, body []byte) error {
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	if mt == "text/html" || bytes.HasPrefix(trimmed, []byte("<")) {
		return &errBadBody{reason: "got an HTML page instead of JSON (instance hibernating, or a proxy or login page in the way)", html: true}
	}
	if mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return &errBadBody{reason: "got content type " + mt + " instead of application/json"}
	}
	return nil
}

// badJSON classifies invalid JSON on a 200. The body itself is never quoted:
// it may hold excluded values.
func badJSON(body []byte) error {
	if bytes.Contains(body, []byte("Transaction cancelled")) {
		return &errBadBody{reason: "response cut off: Transaction cancelled: maximum execution time exceeded"}
	}
	return &errBadBody{reason: "response is not complete JSON (cut off?)"}
}

// decodeError extracts message and detail from an error envelope; both are
// "" when body is not one.
func decodeError(body []byte) (msg, detail string) {
	var env errEnvelope
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		var oauth struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}
		if json.Unmarshal(body, &oauth) == nil && oauth.Error != "" {
			return oauth.Error, oauth.Desc
		}
		return "", ""
	}
	var d string
	if json.Unmarshal(env.Error.Detail, &d) != nil {
		d = ""
	}
	return env.Error.Message, d
}

// isCutOff reports whether err is a body cut off, which a smaller page may avoid.
func isCutOff(err error) bool {
	var b *errBadBody
	return errors.As(err, &b) && !b.html
}

// isBadBody reports whether err is a transient body error.
func isBadBody(err error) bool {
	var b *errBadBody
	return errors.As(err, &b)
}
