package servicenow

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
)

func TestDecodeList(t *testing.T) {
	fixture, err := os.ReadFile("../../../shared/fixtures/servicenow/incident_pdi_INC0000060.json")
	if err != nil {
		fixture = []byte(`{"result":[{"sys_id":"a","number":"INC1","caller_id":{"link":"x","value":"u1"}}]}`)
	}
	tests := []struct {
		name      string
		ctype     string
		body      string
		rows      int
		transient bool
	}{
		{"fixture", "application/json;charset=UTF-8", string(fixture), 1, false},
		{"empty", "application/json", `{"result":[]}`, 0, false},
		{"cut off", "application/json", `{"result":[{"sys_id":"a"},{"sys_id":"b","descr`, 0, true},
		{"transaction cancelled", "application/json", `{"result":[{"sys_id":"a"}, Transaction cancelled: maximum execution time exceeded`, 0, true},
		{"html", "text/html", `<html><body>Your instance is hibernating</body></html>`, 0, true},
		{"html without type", "", `  <!DOCTYPE html><html></html>`, 0, true},
		{"no result", "application/json", `{"foo":1}`, 0, true},
		{"null row", "application/json", `{"result":[null]}`, 0, true},
		{"result not array", "application/json", `{"result":{"sys_id":"a"}}`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := decodeList(tt.ctype, []byte(tt.body))
			if tt.transient {
				if !isBadBody(err) {
					t.Fatalf("err = %v, want a transient body error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.rows {
				t.Fatalf("rows = %d, want %d", len(rows), tt.rows)
			}
		})
	}
}

func TestRowString(t *testing.T) {
	r := Row{"s": json.RawMessage(`"x"`), "ref": json.RawMessage(`{"link":"l","value":"v"}`), "n": json.RawMessage(`3`)}
	for f, want := range map[string]string{"s": "x", "ref": "v", "n": "", "missing": ""} {
		if got := r.String(f); got != want {
			t.Errorf("String(%q) = %q, want %q", f, got, want)
		}
	}
}

func TestDecodeError(t *testing.T) {
	msg, detail := decodeError([]byte(`{"error":{"message":"Invalid table incidnt","detail":null},"status":"failure"}`))
	if msg != "Invalid table incidnt" || detail != "" {
		t.Errorf("got %q %q", msg, detail)
	}
	msg, detail = decodeError([]byte(`{"error_description":"access_denied","error":"server_error"}`))
	if msg != "server_error" || detail != "access_denied" {
		t.Errorf("oauth: got %q %q", msg, detail)
	}
}

func FuzzDecodeList(f *testing.F) {
	f.Add("application/json", []byte(`{"result":[{"sys_id":"a","x":{"link":"l","value":"v"}}]}`))
	f.Add("text/html", []byte(`<html>`))
	f.Add("application/json", []byte(`{"result":[{"sys_id":"a"`))
	f.Add("", []byte(`{"result":{"a":"b"}}`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		rows, err := decodeList(ctype, body)
		if err == nil {
			for _, r := range rows {
				if r == nil {
					t.Fatal("nil row without error")
				}
				_ = r.String("sys_id")
			}
		} else if !isBadBody(err) {
			t.Fatalf("non-transient error %v", err)
		}
		// The error path: what a non-2xx answer with this body becomes.
		h := http.Header{"Content-Type": {ctype}}
		for _, status := range []int{400, 403, 429, 503} {
			e, _ := statusError(&response{status: status, header: h, body: body}, "incident")
			if e.Message == "" || e.Permanent == transientStatus(status) {
				t.Fatalf("status %d: error %+v", status, e)
			}
		}
	})
}
