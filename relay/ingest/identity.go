package ingest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// HeaderClientInfo is the header the NATS server sets on a message that
// crossed a service import with sharing on: the sender's account, user and
// user JWT name. The server replaces any value the sender set, so it is the
// connection's identity, not a claim.
const HeaderClientInfo = "Nats-Request-Info"

// clientInfo is the part of the server's ClientInfo the relay reads.
type clientInfo struct {
	Account string   `json:"acc"`
	User    string   `json:"user"`
	NameTag string   `json:"name_tag"` // the user JWT's name: the agent id
	Tags    []string `json:"tags"`     // the user JWT's tags: enroll's "integration:<name>", one per integration
}

// TagIntegration starts the user JWT tags naming the integrations an agent
// was enrolled for (enroll.TagIntegration; the gateway cannot import enroll).
const TagIntegration = "integration:"

// enrolledFor checks that a message that crossed a tenant's import (raw is
// its Nats-Request-Info) is for an integration its sender was enrolled
// for, as the sender's user JWT tags say. The publish permissions enforce
// the same: this holds even if a permission slipped. Credentials without
// integration tags (enrolled before agents could have several) are
// accepted, their permissions being the only check.
func enrolledFor(raw, integration string) error {
	if raw == "" {
		return nil
	}
	var ci clientInfo
	if err := json.Unmarshal([]byte(raw), &ci); err != nil {
		return fmt.Errorf("header %s: %w", HeaderClientInfo, err)
	}
	var allowed []string
	for _, t := range ci.Tags {
		if in, ok := strings.CutPrefix(t, TagIntegration); ok {
			allowed = append(allowed, in)
		}
	}
	if len(allowed) == 0 || slices.Contains(allowed, integration) {
		return nil
	}
	return fmt.Errorf("agent %s is not enrolled for integration %q (enrolled for %s)", ci.NameTag, integration, strings.Join(allowed, ", "))
}

// sender returns the agent that sent a message. Across a tenant's import
// (Nats-Request-Info present) it is the connection's user name, which
// enroll sets to the agent id and signs with the tenant's account key; a
// Sei-Agent header that disagrees is an error. A message without it was
// published inside the relay's own account (a replay, or an external
// cluster that does not use accounts): Sei-Agent is taken as is, and may be
// "".
func sender(h nats.Header) (agent string, err error) {
	claimed := h.Get(wire.HeaderAgent)
	raw := h.Get(HeaderClientInfo)
	if raw == "" {
		if wire.ValidName(claimed) {
			return claimed, nil
		}
		return "", nil
	}
	var ci clientInfo
	if err := json.Unmarshal([]byte(raw), &ci); err != nil {
		return "", fmt.Errorf("header %s: %w", HeaderClientInfo, err)
	}
	if !wire.ValidName(ci.NameTag) {
		return "", fmt.Errorf("sender %s of account %s has no agent name", ci.User, ci.Account)
	}
	if claimed != "" && claimed != ci.NameTag {
		return "", fmt.Errorf("header %s says %q, the connection is agent %q", wire.HeaderAgent, claimed, ci.NameTag)
	}
	return ci.NameTag, nil
}
