package wire

import (
	"fmt"
	"regexp"
	"strings"
)

// Stream names and subjects of the ingest path.
const (
	// StreamName is the JetStream stream that carries every batch.
	StreamName = "SEI_INGEST"
	// IngestPrefix is the first token of every ingest subject.
	IngestPrefix = "sei.ingest"
	// IngestWildcard is the stream's subject filter.
	IngestWildcard = IngestPrefix + ".>"
	// HeartbeatPrefix is the first token of heartbeat subjects.
	HeartbeatPrefix = "sei.heartbeat"
	// AgentPrefix is the first token of subjects addressed to one agent.
	AgentPrefix = "sei.agent"
	// SubmitPrefix is where a tenant account's ingest import delivers in
	// the relay's account: an agent publishes sei.ingest.<tenant>.…, the
	// relay receives sei.submit.<tenant>.… with the connection's identity,
	// stamps Sei-Agent from it and forwards the batch to the stream. Only
	// the relay's account sees these subjects.
	SubmitPrefix = "sei.submit"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// tableRE accepts ServiceNow table names: lower case, digits and underscores.
var tableRE = regexp.MustCompile(`^[a-z0-9_]{1,80}$`)

// ValidName reports whether s is a valid tenant, integration or agent name:
// [a-z0-9][a-z0-9_-]{0,62}.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ValidTable reports whether s can be a ServiceNow table name in a subject.
func ValidTable(s string) bool { return tableRE.MatchString(s) }

// CheckName returns an error naming what (say "relay.tenant") when s is not a
// valid name.
func CheckName(what, s string) error {
	if !ValidName(s) {
		return fmt.Errorf("%s: must match [a-z0-9][a-z0-9_-]{0,62} (got %q)", what, s)
	}
	return nil
}

// IngestSubject is the subject a batch of table's records is published on.
func IngestSubject(tenant, integration, table string) string {
	return IngestPrefix + "." + tenant + "." + integration + "." + table
}

// IngestFilter is the subject filter covering everything one integration of
// tenant may publish.
func IngestFilter(tenant, integration string) string {
	return IngestPrefix + "." + tenant + "." + integration + ".>"
}

// ParseIngestSubject splits an ingest subject into its tenant, integration
// and table, and checks each.
func ParseIngestSubject(subject string) (tenant, integration, table string, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 || parts[0]+"."+parts[1] != IngestPrefix {
		return "", "", "", fmt.Errorf("parse subject %q: want %s.<tenant>.<integration>.<table>", subject, IngestPrefix)
	}
	tenant, integration, table = parts[2], parts[3], parts[4]
	if !ValidName(tenant) || !ValidName(integration) || !ValidTable(table) {
		return "", "", "", fmt.Errorf("parse subject %q: invalid tenant, integration or table", subject)
	}
	return tenant, integration, table, nil
}

// HeartbeatSubject is where agent publishes its status snapshot.
func HeartbeatSubject(tenant, agent string) string {
	return HeartbeatPrefix + "." + tenant + "." + agent
}

// ParseHeartbeatSubject returns the tenant and agent of a heartbeat subject.
func ParseHeartbeatSubject(subject string) (tenant, agent string, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 || parts[0]+"."+parts[1] != HeartbeatPrefix || !ValidName(parts[2]) || !ValidName(parts[3]) {
		return "", "", fmt.Errorf("parse subject %q: want %s.<tenant>.<agent>", subject, HeartbeatPrefix)
	}
	return parts[2], parts[3], nil
}

// AgentSubject is the prefix of messages addressed to one agent; the agent
// may subscribe to AgentSubject(t, a) + ".>".
func AgentSubject(tenant, agent string) string {
	return AgentPrefix + "." + tenant + "." + agent
}

// ConfirmSubject carries the relay's delivery confirmations to one agent.
func ConfirmSubject(tenant, agent string) string {
	return AgentSubject(tenant, agent) + ".confirm"
}

// RejectSubject carries the relay's negative confirmations (Rejection) to
// one agent.
func RejectSubject(tenant, agent string) string {
	return AgentSubject(tenant, agent) + ".reject"
}

// InboxPrefix is the custom inbox prefix an agent uses for request replies
// (PubAcks), so its permissions can be limited to its own inboxes.
func InboxPrefix(tenant, agent string) string {
	return "_INBOX." + tenant + "." + agent
}

// ScopedMsgID is the Nats-Msg-Id an agent of tenant publishes batch id
// with: "<tenant>:<id>". JetStream deduplicates on the id alone across the
// whole stream, so the tenant prefix keeps one tenant's ids out of
// another's; the relay refuses a batch whose id names another tenant.
func ScopedMsgID(tenant, id string) string { return tenant + ":" + id }

// MsgIDTenant returns the tenant a Nats-Msg-Id is scoped to, and false for
// an id without a tenant prefix (agents before ScopedMsgID).
func MsgIDTenant(id string) (string, bool) {
	t, _, ok := strings.Cut(id, ":")
	if !ok || !ValidName(t) {
		return "", false
	}
	return t, true
}
