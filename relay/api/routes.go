package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// routes builds the handler: /healthz open, everything else (unknown paths
// and methods included) behind the token.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /v1/records", s.records)
	mux.HandleFunc("GET /v1/changes", s.changes)
	mux.HandleFunc("GET /v1/agents", s.agents)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s.log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	authed := s.auth(mux)
	return noStore(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			mux.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	}))
}

// noStore keeps proxies and browsers from caching tenant data.
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// auth lets a request through only with "Authorization: Bearer <Token>".
func (s *Server) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case bearer(r) == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="sei-relay"`)
			writeError(w, http.StatusUnauthorized, "", "authorization required: send Authorization: Bearer <http.token>")
		case !s.authorized(r):
			w.Header().Set("WWW-Authenticate", `Bearer realm="sei-relay", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "", "invalid token")
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// authorized compares the request's token with Config.Token in constant
// time; hashing first hides the token's length as well.
func (s *Server) authorized(r *http.Request) bool {
	got := bearer(r)
	if got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"` // the query parameter at fault
}

func writeError(w http.ResponseWriter, code int, param, msg string) {
	writeJSON(w, code, apiError{Error: msg, Param: param})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	_ = e.Encode(v)
}

// newStdLogger routes net/http's own errors (TLS handshakes, bad requests)
// into the logger at debug level: they are about clients, not the relay.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// promLogger logs metric gathering errors.
type promLogger struct{ l zerolog.Logger }

func (p promLogger) Println(v ...any) {
	p.l.Warn().Interface("detail", v).Msg("gather metrics")
}
