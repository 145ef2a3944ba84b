package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/httpjson"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// routes builds the handler: /healthz open, everything else (unknown paths
// and methods included) behind the token.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /v1/records", s.records)
	mux.HandleFunc("GET /v1/changes", s.changes)
	mux.HandleFunc("GET /v1/agents", s.agents)
	mux.HandleFunc("POST /v1/agents/{tenant}/{agent}/requests", s.agentRequest)
	mux.HandleFunc("GET /v1/agents/{tenant}/{agent}/bundles/{id}", s.agentBundle)
	mux.HandleFunc("/v1/integrations", s.integrations)
	mux.HandleFunc("/v1/integrations/", s.integrations)
	mux.HandleFunc("GET /v1/oauth/callback", s.oauthCallback)
	mux.HandleFunc("GET /v1/quota", s.quota)
	metrics := promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s.log},
		ErrorHandling: promhttp.ContinueOnError,
	})
	mux.Handle("GET /metrics", adminOnly(metrics))
	// The Go profiler, admin token only: heap, allocs, goroutine, profile
	// (CPU, ?seconds=N), trace.
	mux.Handle("GET /debug/pprof/", adminOnly(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", adminOnly(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("GET /debug/pprof/profile", adminOnly(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/symbol", adminOnly(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /debug/pprof/trace", adminOnly(http.HandlerFunc(pprof.Trace)))
	authed := s.auth(mux)
	return noStore(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/v1/oauth/callback" { // the callback's state is its credential
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

// auth lets a request through only with "Authorization: Bearer <token>",
// the admin token or a tenant token, and puts who it is in the context.
func (s *Server) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer(r) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sei-relay"`)
			writeError(w, http.StatusUnauthorized, "", "authorization required: send Authorization: Bearer <token>")
			return
		}
		p, err := s.principal(r)
		switch {
		case err != nil:
			// The token may be good: the client should retry, not drop it.
			s.log.Error().Err(err).Msg("look up token")
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "", "check token: "+err.Error())
		case p == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="sei-relay", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "", "invalid token")
		default:
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		}
	})
}

// principal is who a request's token speaks for: the admin, or one tenant.
type principal struct {
	admin  bool
	tenant string // a tenant token's tenant
}

type principalKey struct{}

// who returns the request's principal; auth put it there.
func who(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	if p == nil {
		return &principal{} // reads nothing
	}
	return p
}

// mayRead reports whether p may read tenant's data ("" is every tenant).
func (p *principal) mayRead(tenant string) bool {
	return p.admin || (tenant != "" && tenant == p.tenant)
}

// forbidden answers 403 for a tenant token reaching past its tenant. The
// answer is the same whether the other tenant exists or not.
func forbidden(w http.ResponseWriter, param string) {
	writeError(w, http.StatusForbidden, param, "this token reads only its own tenant")
}

// adminOnly lets only the admin token through.
func adminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !who(r).admin {
			writeError(w, http.StatusForbidden, "", "only the admin token (http.token) may do this")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// principal returns who the request's token is, nil for an unknown token.
// The admin token is compared in constant time through its hash, which
// hides its length as well; tenant tokens are looked up by hash (see
// Tenants).
func (s *Server) principal(r *http.Request) (*principal, error) {
	got := bearer(r)
	if got == "" {
		return nil, nil
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.Token))
	if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
		return &principal{admin: true}, nil
	}
	if s.cfg.Tenants == nil {
		return nil, nil
	}
	tenant, ok, err := s.cfg.Tenants.TenantOf(r.Context(), got)
	if err != nil || !ok || !wire.ValidName(tenant) {
		return nil, err
	}
	return &principal{tenant: tenant}, nil
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// writeError and writeJSON answer in the body shape every relay HTTP
// endpoint shares.
var (
	writeError = httpjson.WriteError
	writeJSON  = httpjson.Write
)

// writeNDJSON answers 200 with items as NDJSON, one JSON line each, after
// the headers the caller set; Sei-Records says how many lines follow. A
// write that fails (the client went away, or a stored record is not valid
// JSON) ends the body short of Sei-Records lines and is logged as what.
func writeNDJSON[T any](w http.ResponseWriter, log zerolog.Logger, tenant, what string, items []T) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set(wire.HeaderRecords, strconv.Itoa(len(items)))
	w.WriteHeader(http.StatusOK)
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	for i := range items {
		if err := e.Encode(&items[i]); err != nil {
			log.Warn().Err(err).Str("tenant", tenant).Msg(what)
			return
		}
	}
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
