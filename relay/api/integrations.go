package api

import (
	"context"
	"encoding/json"
	"net/http"
)

// Hosted serves the hosted integrations (relay/hosted): the API
// authenticates, the Hosted decides what the caller may see.
type Hosted interface {
	// ServeHosted serves /v1/integrations and below; admin is the admin
	// token, otherwise tenant is the tenant token's tenant.
	ServeHosted(w http.ResponseWriter, r *http.Request, admin bool, tenant string)
	// ServeOAuthCallback serves /v1/oauth/callback, reached by a browser
	// coming back from ServiceNow without a bearer token.
	ServeOAuthCallback(w http.ResponseWriter, r *http.Request)
	// HostedAgents lists the hosted agents and what each holds, as JSON.
	HostedAgents(ctx context.Context) (json.RawMessage, error)
}

// hostedOff answers when the relay has no hosted.secret_key_file.
const hostedOff = "hosted integrations are off on this relay: set hosted.secret_key_file in its configuration"

// integrations hands /v1/integrations to the Hosted.
func (s *Server) integrations(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Hosted == nil {
		writeError(w, http.StatusServiceUnavailable, "", hostedOff)
		return
	}
	p := who(r)
	s.cfg.Hosted.ServeHosted(w, r, p.admin, p.tenant)
}

// oauthCallback hands /v1/oauth/callback to the Hosted, without the token.
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Hosted == nil {
		writeError(w, http.StatusServiceUnavailable, "", hostedOff)
		return
	}
	s.cfg.Hosted.ServeOAuthCallback(w, r)
}

// hostedAgents is the hosted_agents member of /v1/agents, for the admin.
func (s *Server) hostedAgents(r *http.Request) json.RawMessage {
	if s.cfg.Hosted == nil || !who(r).admin {
		return nil
	}
	raw, err := s.cfg.Hosted.HostedAgents(r.Context())
	if err != nil {
		s.log.Warn().Err(err).Msg("list hosted agents")
		return nil
	}
	return raw
}
