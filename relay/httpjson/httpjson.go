// Package httpjson writes the relay's JSON HTTP answers, so the cloud API
// (relay/api) and the hosted integrations' endpoints (relay/hosted) answer
// errors with one body shape.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"` // the parameter (query parameter or config key) at fault
}

// WriteError answers code with an Error body.
func WriteError(w http.ResponseWriter, code int, param, msg string) {
	Write(w, code, Error{Error: msg, Param: param})
}

// Write answers code with v as JSON (HTML characters not escaped).
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	_ = e.Encode(v)
}
