package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// agentView is one agent in the /v1/agents answer.
type agentView struct {
	Tenant        string          `json:"tenant"`
	Agent         string          `json:"agent"`
	LastHeartbeat time.Time       `json:"last_heartbeat"` // when the relay received it
	SilentSeconds float64         `json:"silent_seconds"` // since LastHeartbeat
	Stale         bool            `json:"stale"`          // silent longer than StaleAfter
	Version       string          `json:"version"`
	Verdict       string          `json:"verdict"` // OK, DEGRADED or FAILING, as the agent reported it
	Reasons       []string        `json:"reasons,omitempty"`
	Backlog       int64           `json:"backlog_records"`
	AgentTime     time.Time       `json:"agent_time"` // the agent's clock when it sent the heartbeat
	Status        json.RawMessage `json:"status,omitempty"`
	// Reconcile is the relay's check of each table the agent reconciled
	// (reconcile.go); a table that differs makes Verdict DEGRADED at least.
	Reconcile []reconcileView `json:"reconcile,omitempty"`
}

// agentsAnswer is the body of /v1/agents.
type agentsAnswer struct {
	StaleAfterSeconds float64     `json:"stale_after_seconds"`
	Agents            []agentView `json:"agents"`
	// HostedAgents lists the hosted agents (`sei-agent hosted`) and the
	// integrations each holds; admin token only.
	HostedAgents json.RawMessage `json:"hosted_agents,omitempty"`
}

// agents lists the agents, of one tenant when ?tenant= is given or the token
// is a tenant's; only the admin token lists every tenant.
func (s *Server) agents(w http.ResponseWriter, r *http.Request) {
	tenant, err := parseAgentsQuery(r.URL.Query())
	if err != nil {
		writeParamError(w, err)
		return
	}
	p := who(r)
	if tenant == "" && !p.admin {
		tenant = p.tenant // a tenant token lists its own tenant
	}
	if !p.mayRead(tenant) {
		forbidden(w, "tenant")
		return
	}
	list, err := s.cfg.Store.Agents(r.Context(), tenant)
	if err != nil {
		s.log.Error().Err(err).Msg("list agents")
		writeError(w, http.StatusInternalServerError, "", "list agents: store unavailable")
		return
	}
	now := s.cfg.Now()
	ans := agentsAnswer{StaleAfterSeconds: s.cfg.StaleAfter.Seconds(), Agents: make([]agentView, 0, len(list))}
	for _, a := range list {
		av := agentView{Tenant: a.Tenant, Agent: a.Agent, LastHeartbeat: a.Seen}
		silent := now.Sub(a.Seen)
		av.SilentSeconds = max(silent, 0).Seconds()
		av.Stale = silent > s.cfg.StaleAfter
		var hb wire.Heartbeat
		if err := json.Unmarshal(a.Heartbeat, &hb); err == nil {
			av.Version, av.Verdict, av.Reasons, av.Backlog, av.AgentTime = hb.Version, hb.Verdict, hb.Reasons, hb.Backlog, hb.Time
			av.Status = hb.Status
			var reasons []string
			av.Reconcile, reasons = s.checkReconcile(r.Context(), a.Tenant, hb)
			if len(reasons) > 0 && av.Verdict != "FAILING" {
				av.Verdict = "DEGRADED"
			}
			av.Reasons = append(av.Reasons, reasons...)
		}
		ans.Agents = append(ans.Agents, av)
	}
	ans.HostedAgents = s.hostedAgents(r)
	writeJSON(w, http.StatusOK, ans)
}

// parseAgentsQuery checks the query of /v1/agents (see checkParams) and
// returns its tenant, "" for all.
func parseAgentsQuery(v url.Values) (string, error) {
	if err := checkParams(v, "tenant"); err != nil {
		return "", err
	}
	tenant := v.Get("tenant")
	if v.Has("tenant") && !wire.ValidName(tenant) {
		return "", &paramError{"tenant", wire.CheckName("tenant", tenant)}
	}
	return tenant, nil
}
