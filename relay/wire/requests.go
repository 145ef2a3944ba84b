package wire

import (
	"fmt"
	"slices"
	"strings"
)

// Remote requests: the cloud asks one agent something over the connection
// the agent opened. The relay publishes the request, in its own account, on
// RequestSubject(tenant, agent, kind) with the reply subject
// ReplySubject(tenant, agent, id); the tenant account imports
// sei.agent.<tenant>.> as a stream, so only that agent receives it. The
// agent answers with one or more messages on the reply subject, which its
// account imports from the relay's as a service (sei.reply.<tenant>.>),
// each sent as a request the relay acknowledges (an empty reply), so the
// agent never sends faster than the relay stores. Every answer message
// carries HeaderReply:
//
//   - ReplyAccepted: the agent will answer (sent at once; the relay's short
//     wait ends, the longer answer wait begins).
//   - ReplyRefused: remote_requests.allow does not list the kind; the body
//     is the agent's refusal text.
//   - ReplyInvalid: the request's arguments are wrong (an unknown table);
//     the body says what to fix.
//   - ReplyBusy: the agent is answering as many requests as it takes.
//   - ReplyError: the agent failed; the body says why.
//   - ReplyResult: one chunk of the result, HeaderChunk of HeaderChunks,
//     HeaderSize and HeaderSHA256 describing the whole result, the chunks'
//     bodies concatenated in order. HeaderContent is "json" (every kind
//     but bundle) or "zip" (the support bundle).
const (
	// ReplyPrefix is the first token of the subjects answers come back on.
	ReplyPrefix = "sei.reply"

	HeaderReply   = "Sei-Reply"
	HeaderAsker   = "Sei-Asker"   // who asked: "admin" or the tenant token's name; for the agent's log
	HeaderRequest = "Sei-Request" // the request's id, for both sides' logs
	HeaderChunk   = "Sei-Chunk"
	HeaderChunks  = "Sei-Chunks"
	HeaderSize    = "Sei-Size"
	HeaderSHA256  = "Sei-SHA256"
	HeaderContent = "Sei-Content"

	ReplyAccepted = "accepted"
	ReplyRefused  = "refused"
	ReplyInvalid  = "invalid"
	ReplyBusy     = "busy"
	ReplyError    = "error"
	ReplyResult   = "result"

	ContentJSON = "json"
	ContentZip  = "zip"
)

// Request kinds.
const (
	KindStatus   = "status"
	KindValidate = "validate"
	KindPreview  = "preview"
	KindResync   = "resync"
	KindBundle   = "bundle"
)

// RequestKinds are every kind an agent may be asked, in the order the
// documentation lists them.
var RequestKinds = []string{KindStatus, KindValidate, KindPreview, KindResync, KindBundle}

// DefaultAllowedKinds are what an agent answers when its configuration
// says nothing: the read-only diagnostics that hold no record.
var DefaultAllowedKinds = []string{KindStatus, KindValidate}

// ValidKind reports whether kind is one of RequestKinds.
func ValidKind(kind string) bool { return slices.Contains(RequestKinds, kind) }

// RequestSubject is where the relay asks agent of tenant a request of kind.
func RequestSubject(tenant, agent, kind string) string {
	return AgentSubject(tenant, agent) + ".req." + kind
}

// RequestFilter is what an agent subscribes to for its requests.
func RequestFilter(tenant, agent string) string {
	return AgentSubject(tenant, agent) + ".req.*"
}

// ReplySubject is where agent's answer to request id comes back.
func ReplySubject(tenant, agent, id string) string {
	return ReplyFilter(tenant, agent) + "." + id
}

// ReplyFilter covers every answer agent of tenant may send; its user may
// publish there and nowhere else of the reply space.
func ReplyFilter(tenant, agent string) string {
	return ReplyPrefix + "." + tenant + "." + agent
}

// ParseRequestSubject returns the kind of a request subject addressed to
// agent of tenant, and checks that reply is that agent's reply subject,
// so an answer can only go back to the relay.
func ParseRequestSubject(tenant, agent, subject, reply string) (kind string, err error) {
	kind, ok := strings.CutPrefix(subject, AgentSubject(tenant, agent)+".req.")
	if !ok || !ValidName(kind) {
		return "", fmt.Errorf("request subject %q: want %s", subject, RequestSubject(tenant, agent, "<kind>"))
	}
	id, ok := strings.CutPrefix(reply, ReplyFilter(tenant, agent)+".")
	if !ok || !ValidName(id) {
		return "", fmt.Errorf("request %q: reply subject %q is not %s", subject, reply, ReplySubject(tenant, agent, "<id>"))
	}
	return kind, nil
}
