package enroll

import (
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// permissions are agent a's user permissions inside its tenant's account:
// it may publish its integration's ingest subjects and its own heartbeat,
// and receive on its own inbox prefix (PubAcks; the agent sets
// nats.CustomInboxPrefix to wire.InboxPrefix) and the messages addressed to
// it. The account boundary is what isolates tenants; these keep the agents
// of one tenant apart.
func (a Agent) permissions() *jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add(a.Publish()...)
	p.Sub.Allow.Add(a.Subscribe()...)
	return &p
}

// accountJWT signs t's account JWT: the imports of its own slice of the
// relay's exports (ingest withheld while paused), no JetStream, a
// connection limit of ConnsPerAgent per agent, and t's revocations.
func (r *Registry) accountJWT(t *Tenant) (string, error) {
	relay := Public(r.keys.Relay)
	ac := jwt.NewAccountClaims(t.Account)
	ac.Name = t.Name
	ac.Audience = fmt.Sprintf("sei-relay tenant revision %d", t.Revision)
	per := r.ConnsPerAgent
	if per <= 0 {
		per = DefaultConnsPerAgent
	}
	ac.Limits.Conn = int64(per * len(t.Agents))
	ac.Limits.LeafNodeConn = 0
	ac.Limits.Exports = 0
	type imp struct {
		name, subject string
		typ           jwt.ExportType
		local         string // the subject in the tenant's account, when it differs
	}
	imps := []imp{
		{"heartbeat", wire.HeartbeatPrefix + "." + t.Name + ".*", jwt.Service, ""},
		{"agent", wire.AgentPrefix + "." + t.Name + ".>", jwt.Stream, ""},
		{"reply", wire.ReplyPrefix + "." + t.Name + ".>", jwt.Service, ""},
	}
	if !t.Paused {
		imps = append(imps, imp{"ingest", wire.SubmitPrefix + "." + t.Name + ".>", jwt.Service, wire.IngestPrefix + "." + t.Name + ".>"})
	}
	for _, im := range imps {
		act := jwt.NewActivationClaims(t.Account)
		act.Name = t.Name + " " + im.name
		act.ImportSubject = jwt.Subject(im.subject)
		act.ImportType = im.typ
		tok, err := act.Encode(r.keys.Relay)
		if err != nil {
			return "", fmt.Errorf("sign %s activation of tenant %s: %w", im.name, t.Name, err)
		}
		// Share passes the agent's identity (account, user, user JWT name)
		// to the relay in the Nats-Request-Info header the server sets.
		ac.Imports.Add(&jwt.Import{Name: im.name, Subject: jwt.Subject(im.subject), LocalSubject: jwt.RenamingSubject(im.local),
			Account: relay, Token: tok, Type: im.typ, Share: im.typ == jwt.Service})
	}
	for k, at := range t.Revoked {
		ac.RevokeAt(k, time.Unix(at, 0))
	}
	tok, err := ac.Encode(r.keys.Operator)
	if err != nil {
		return "", fmt.Errorf("sign account jwt of tenant %s: %w", t.Name, err)
	}
	return tok, nil
}
