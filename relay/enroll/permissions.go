package enroll

import "github.com/sei-edge/servicenow-edge/relay/wire"

// Publish returns the subjects agent a may publish to: its integration's
// ingest subjects, its own heartbeat subject and its own answers to remote
// requests. Nothing else: in particular no $JS.API subject, so an agent
// cannot read any stream, nor answer a request made to another agent.
func (a Agent) Publish() []string {
	return []string{wire.IngestFilter(a.Tenant, a.Integration), wire.HeartbeatSubject(a.Tenant, a.Agent), wire.ReplyFilter(a.Tenant, a.Agent) + ".>"}
}

// Subscribe returns the subjects agent a may receive on: its own inbox
// prefix (PubAcks come there; the agent sets nats.CustomInboxPrefix to
// wire.InboxPrefix) and the messages addressed to it.
func (a Agent) Subscribe() []string {
	return []string{wire.InboxPrefix(a.Tenant, a.Agent) + ".>", wire.AgentSubject(a.Tenant, a.Agent) + ".>"}
}
