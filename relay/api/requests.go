package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/remotereq"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Remote requests:
//
//	POST /v1/agents/{tenant}/{agent}/requests   {"kind": K, ...}
//	    asks the agent; 200 {"kind","agent","result"}; 400 for an unknown
//	    kind or arguments the agent calls wrong; 403 when the token may not
//	    read the tenant (whether the agent exists or not) or when the
//	    agent's remote_requests.allow refuses the kind (with its text); 502
//	    when the agent failed; 503 when it or the relay is busy; 504 when it
//	    did not answer in time.
//	GET /v1/agents/{tenant}/{agent}/bundles/{id}
//	    the support bundle a bundle request stored (application/zip).

// Requests asks agents (remotereq.Asker).
type Requests interface {
	Ask(ctx context.Context, q remotereq.Question) (remotereq.Answer, error)
	OpenBundle(ctx context.Context, tenant, agent, id string) (io.ReadCloser, int64, error)
	Timeout() time.Duration
	AnswerTimeout() time.Duration
}

// TokenNamer names a tenant token for logs; the token file implements it.
type TokenNamer interface {
	NameOf(token string) string
}

// maxRequestBody bounds a request's JSON body.
const maxRequestBody = 64 << 10

// requestAnswer is the body of a successful request.
type requestAnswer struct {
	Kind   string `json:"kind"`
	Agent  string `json:"agent"`
	Result any    `json:"result"`
}

// agentPath reads and checks {tenant} and {agent}, and whether the token
// may reach that tenant; it answers the request when not.
func (s *Server) agentPath(w http.ResponseWriter, r *http.Request) (tenant, agent string, ok bool) {
	tenant, agent = r.PathValue("tenant"), r.PathValue("agent")
	if !wire.ValidName(tenant) {
		writeError(w, http.StatusBadRequest, "tenant", "tenant: must match [a-z0-9][a-z0-9_-]{0,62}")
		return "", "", false
	}
	if !s.tenantAllowed(w, r, tenant) {
		return "", "", false
	}
	if !wire.ValidName(agent) {
		writeError(w, http.StatusBadRequest, "agent", "agent: must match [a-z0-9][a-z0-9_-]{0,62}")
		return "", "", false
	}
	if s.cfg.Requests == nil {
		writeError(w, http.StatusServiceUnavailable, "", "remote requests are not available on this relay")
		return "", "", false
	}
	return tenant, agent, true
}

// asker names who sent r, for both sides' logs: "admin", or the tenant
// token's id and name.
func (s *Server) asker(r *http.Request) string {
	p := who(r)
	if p.admin {
		return "admin"
	}
	if n, ok := s.cfg.Tenants.(TokenNamer); ok {
		return n.NameOf(bearer(r))
	}
	return "tenant token of " + p.tenant
}

func (s *Server) agentRequest(w http.ResponseWriter, r *http.Request) {
	tenant, agent, ok := s.agentPath(w, r)
	if !ok {
		return
	}
	body, kind, ok := readRequest(w, r)
	if !ok {
		return
	}
	q := remotereq.Question{Tenant: tenant, Agent: agent, Kind: kind, Body: body, Asker: s.asker(r)}
	log := s.log.With().Str("tenant", tenant).Str("agent", agent).Str("kind", kind).Str("asker", q.Asker).Logger()
	start := time.Now()
	ans, err := s.cfg.Requests.Ask(r.Context(), q)
	code := s.writeAnswer(w, q, ans, err)
	ev := log.Info()
	if err != nil {
		ev = log.Warn().Err(err)
	}
	ev.Str("request", ans.ID).Int("code", code).Str("reply", ans.Status).Dur("took", time.Since(start)).Msg("remote request answered")
}

// readRequest reads the body: a JSON object with a known "kind".
func readRequest(w http.ResponseWriter, r *http.Request) ([]byte, string, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "", fmt.Sprintf("read body (at most %d bytes): %v", maxRequestBody, err))
		return nil, "", false
	}
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		writeError(w, http.StatusBadRequest, "kind", fmt.Sprintf(`body: want a JSON object {"kind": ...}: %v`, err))
		return nil, "", false
	}
	if !wire.ValidKind(head.Kind) {
		writeError(w, http.StatusBadRequest, "kind", fmt.Sprintf("kind: must be one of %s (got %q)", strings.Join(wire.RequestKinds, ", "), head.Kind))
		return nil, "", false
	}
	return body, head.Kind, true
}

// writeAnswer maps the agent's answer, or why there is none, to the
// response, and returns its status code.
func (s *Server) writeAnswer(w http.ResponseWriter, q remotereq.Question, ans remotereq.Answer, err error) int {
	name := q.Tenant + "/" + q.Agent
	code, msg := http.StatusOK, ""
	switch {
	case errors.Is(err, remotereq.ErrNotConnected):
		code, msg = http.StatusGatewayTimeout, fmt.Sprintf("agent %s did not answer: it is not connected to the relay: is it running and connected?", name)
	case errors.Is(err, remotereq.ErrNoAnswer):
		code, msg = http.StatusGatewayTimeout, fmt.Sprintf("agent %s did not answer within %s: is it running and connected?", name, s.cfg.Requests.Timeout())
	case errors.Is(err, remotereq.ErrAnswerTimeout):
		code, msg = http.StatusGatewayTimeout, fmt.Sprintf("agent %s accepted the request but did not finish within %s (requests.answer_timeout)", name, s.cfg.Requests.AnswerTimeout())
	case errors.Is(err, remotereq.ErrBadAnswer):
		code, msg = http.StatusBadGateway, err.Error()
	case errors.Is(err, remotereq.ErrUnavailable):
		code, msg = http.StatusServiceUnavailable, err.Error()
	case err != nil:
		code, msg = http.StatusInternalServerError, "ask agent "+name+": "+err.Error()
	case ans.Status == wire.ReplyRefused:
		code, msg = http.StatusForbidden, ans.Text
	case ans.Status == wire.ReplyInvalid:
		code, msg = http.StatusBadRequest, ans.Text
	case ans.Status == wire.ReplyBusy:
		code, msg = http.StatusServiceUnavailable, ans.Text
	case ans.Status == wire.ReplyError:
		code, msg = http.StatusBadGateway, ans.Text
	}
	if code != http.StatusOK {
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "10")
		}
		writeError(w, code, "", msg)
		return code
	}
	var result any = ans.Result
	if ans.Bundle != nil {
		result = bundleResult{Bundle: *ans.Bundle, URL: "/v1/agents/" + q.Tenant + "/" + q.Agent + "/bundles/" + ans.Bundle.ID}
	}
	writeJSON(w, code, requestAnswer{Kind: q.Kind, Agent: q.Agent, Result: result})
	return code
}

// bundleResult is a bundle request's result: where to fetch it.
type bundleResult struct {
	remotereq.Bundle
	URL string `json:"url"`
}

func (s *Server) agentBundle(w http.ResponseWriter, r *http.Request) {
	tenant, agent, ok := s.agentPath(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	rc, size, err := s.cfg.Requests.OpenBundle(r.Context(), tenant, agent, id)
	switch {
	case errors.Is(err, remotereq.ErrNotFound):
		writeError(w, http.StatusNotFound, "id", fmt.Sprintf("agent %s/%s has no bundle %q (bundles expire after requests.bundle_ttl)", tenant, agent, id))
		return
	case err != nil:
		s.log.Error().Err(err).Str("tenant", tenant).Str("agent", agent).Msg("open bundle")
		writeError(w, http.StatusServiceUnavailable, "", "bundle store unavailable")
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="sei-agent-bundle-%s-%s-%s.zip"`, tenant, agent, id))
	n, err := io.Copy(w, rc)
	if err != nil {
		s.log.Warn().Err(err).Str("tenant", tenant).Str("agent", agent).Int64("bytes", n).Msg("send bundle")
		return
	}
	s.log.Info().Str("tenant", tenant).Str("agent", agent).Str("bundle", id).Str("asker", s.asker(r)).Int64("bytes", n).Msg("bundle fetched")
}
