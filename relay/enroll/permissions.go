package enroll

import "github.com/sei-edge/servicenow-edge/relay/wire"

// Publish returns the subjects agent a may publish to: its integrations'
// ingest subjects, its own heartbeat subject and its own answers to remote
// requests. Nothing else: in particular no $JS.API subject, so an agent
// cannot read any stream, nor answer a request made to another agent.
func (a Agent) Publish() []string {
	var out []string
	for _, in := range a.AllIntegrations() {
		out = append(out, wire.IngestFilter(a.Tenant, in))
	}
	return append(out, wire.HeartbeatSubject(a.Tenant, a.Agent), wire.ReplyFilter(a.Tenant, a.Agent)+".>")
}

// TagIntegration starts the user JWT tags naming an integration the agent
// was enrolled for ("integration:snow-prod"). The NATS server copies the
// tags into the Nats-Request-Info header of every message that crosses the
// ingest import, so the relay's gateway checks the integration from the
// connection's own signed credentials, even if a permission slipped.
const TagIntegration = "integration:"

// Tags are a's user JWT tags: one TagIntegration per integration.
func (a Agent) Tags() []string {
	var out []string
	for _, in := range a.AllIntegrations() {
		out = append(out, TagIntegration+in)
	}
	return out
}

// Subscribe returns the subjects agent a may receive on: its own inbox
// prefix (PubAcks come there; the agent sets nats.CustomInboxPrefix to
// wire.InboxPrefix) and the messages addressed to it.
func (a Agent) Subscribe() []string {
	return []string{wire.InboxPrefix(a.Tenant, a.Agent) + ".>", wire.AgentSubject(a.Tenant, a.Agent) + ".>"}
}
