package natsbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
)

// ConnLimit bounds the connections of each user (agent) of a tenant
// account, which nats-server does not do: user JWTs carry no connection
// limit (jwt.UserLimits has none; the server counts connections per
// account only, Limits.Conn). So the tenant account's limit is only a
// ceiling (connections_per_agent times its agents), and one agent's
// credentials could take every slot of its tenant's other agents.
//
// ConnLimit watches the server's connect and disconnect events (as a user
// of the system account, in process) and closes a user's newest
// connection when it already holds PerUser: the connection that holds a
// slot keeps it, and another agent's slots stay free. The closed client
// sees its connection end (nats-server's "Kicked"). An agent enrolled for
// several integrations (one per ServiceNow instance, each forwarding on a
// connection of its own) may hold PerUser per integration. An agent's
// reconnection is refused the same way for as long as its other
// connections stay. The relay's and system accounts are not limited.
type ConnLimit struct {
	perUser int
	kicked  func(account, user, name string) // called for every closed connection
	b       connBackend

	mu sync.Mutex
	// mu guards users: account/user → open connections.
	users map[string]map[connID]struct{}
}

// connID names one client connection: its server (the server's id on an
// external cluster, "" on the embedded server) and its id there.
type connID struct {
	server string
	cid    uint64
}

// connBackend is where a ConnLimit reads and closes connections: the
// embedded server in process, or an external cluster through its system
// account's requests.
type connBackend interface {
	// events returns a system-account connection to receive the events on,
	// and whether Run closes it.
	events() (*nats.Conn, bool, error)
	// limited reports whether a user of account with tags is limited.
	limited(account string, tags jwt.TagList) bool
	// kick closes connection c.
	kick(c connID) error
	// gone reports whether connection c is closed.
	gone(c connID) bool
	// seed calls open for every client connection open now.
	seed(open func(c connID, account, user, name string, tags jwt.TagList)) error
	// server is the connID server of an event's server id.
	server(id string) string
}

// NewConnLimit returns a limiter of perUser (>= 1) connections for every
// tenant user of srv; kicked, if not nil, is called for each connection it
// closes.
func (s *Server) NewConnLimit(perUser int, kicked func(account, user, name string)) (*ConnLimit, error) {
	return newConnLimit(perUser, kicked, embeddedConns{s})
}

func newConnLimit(perUser int, kicked func(account, user, name string), b connBackend) (*ConnLimit, error) {
	if perUser < 1 {
		return nil, fmt.Errorf("connection limit per agent must be >= 1 (got %d)", perUser)
	}
	if kicked == nil {
		kicked = func(string, string, string) {}
	}
	return &ConnLimit{perUser: perUser, kicked: kicked, b: b, users: map[string]map[connID]struct{}{}}, nil
}

// Run enforces the limit until ctx ends. It subscribes to the events
// first, then counts the connections already open, so none is missed.
func (l *ConnLimit) Run(ctx context.Context) error {
	nc, owned, err := l.b.events()
	if err != nil {
		return err
	}
	if owned {
		defer nc.Close()
	}
	// One subscription, so connects and disconnects arrive in order. A
	// burst beyond the buffer is dropped by nats.go (slow consumer): open
	// then checks the connections it counts before it refuses one.
	msgs := make(chan *nats.Msg, 1<<16)
	sub, err := nc.ChanSubscribe("$SYS.ACCOUNT.*.*", msgs)
	if err != nil {
		return fmt.Errorf("subscribe to connection events: %w", err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribe to connection events: %w", err)
	}
	if err := l.b.seed(l.admit); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			l.event(m)
		}
	}
}

// event handles one $SYS.ACCOUNT.<account>.<kind> message.
func (l *ConnLimit) event(m *nats.Msg) {
	var ev struct {
		Type   string            `json:"type"`
		Server server.ServerInfo `json:"server"`
		Client server.ClientInfo `json:"client"`
	}
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Client.Kind != "Client" && ev.Client.Kind != "" {
		return
	}
	c := connID{server: l.b.server(ev.Server.ID), cid: ev.Client.ID}
	switch ev.Type {
	case server.ConnectEventMsgType:
		l.admit(c, ev.Client.Account, ev.Client.User, ev.Client.Name, ev.Client.Tags)
	case server.DisconnectEventMsgType:
		l.closed(ev.Client.Account, ev.Client.User, c)
	}
}

// admit counts connection c, or closes it when its user holds its limit.
func (l *ConnLimit) admit(c connID, account, user, name string, tags jwt.TagList) {
	if !l.b.limited(account, tags) || user == "" {
		return
	}
	if l.open(account, user, c, l.limitFor(tags)) {
		return
	}
	if err := l.b.kick(c); err == nil {
		l.kicked(account, user, name)
	}
}

// limitFor is the connections a user with the user JWT tags may hold:
// perUser for each integration it was enrolled for (enroll.Tags; an agent
// with several ServiceNow instances holds one connection each), perUser
// when it has none.
func (l *ConnLimit) limitFor(tags jwt.TagList) int {
	n := 0
	for _, t := range tags {
		if strings.HasPrefix(t, enroll.TagIntegration) {
			n++
		}
	}
	return l.perUser * max(1, n)
}

// open counts connection c of user in account, and reports false (not
// counted) when user holds limit connections already.
func (l *ConnLimit) open(account, user string, c connID, limit int) bool {
	k := account + "/" + user
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.users[k]
	if _, ok := ids[c]; ok {
		return true
	}
	if len(ids) >= limit {
		l.forgetGoneLocked(ids)
	}
	if len(ids) >= limit {
		return false
	}
	if ids == nil {
		ids = map[connID]struct{}{}
		l.users[k] = ids
	}
	ids[c] = struct{}{}
	return true
}

// forgetGoneLocked drops from ids the connections that are closed (their
// disconnect event was lost).
func (l *ConnLimit) forgetGoneLocked(ids map[connID]struct{}) {
	for c := range ids {
		if l.b.gone(c) {
			delete(ids, c)
		}
	}
}

// closed forgets connection c.
func (l *ConnLimit) closed(account, user string, c connID) {
	k := account + "/" + user
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.users[k], c)
	if len(l.users[k]) == 0 {
		delete(l.users, k)
	}
}

// Open returns how many connections the limiter counts for user of
// account (tests).
func (l *ConnLimit) Open(account, user string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.users[account+"/"+user])
}

// embeddedConns is the embedded server, in process.
type embeddedConns struct{ s *Server }

func (e embeddedConns) events() (*nats.Conn, bool, error) {
	nc, err := e.s.connectSystem()
	return nc, true, err
}

// limited: every account but the relay's and the system account.
func (e embeddedConns) limited(account string, _ jwt.TagList) bool {
	return account != "" && account != enroll.Public(e.s.keys.Relay) && account != enroll.Public(e.s.keys.System)
}

func (e embeddedConns) kick(c connID) error { return e.s.ns.DisconnectClientByID(c.cid) }

func (e embeddedConns) gone(c connID) bool {
	cz, err := e.s.ns.Connz(&server.ConnzOptions{CID: c.cid})
	return err == nil && (len(cz.Conns) == 0 || cz.Conns[0].Cid != c.cid)
}

func (embeddedConns) server(string) string { return "" }

func (e embeddedConns) seed(open func(c connID, account, user, name string, tags jwt.TagList)) error {
	for offset := 0; ; {
		cz, err := e.s.ns.Connz(&server.ConnzOptions{Offset: offset, Limit: 1024, Username: true})
		if err != nil {
			return fmt.Errorf("list connections: %w", err)
		}
		for _, c := range cz.Conns {
			open(connID{cid: c.Cid}, c.Account, c.AuthorizedUser, c.Name, c.Tags)
		}
		offset += len(cz.Conns)
		if len(cz.Conns) == 0 || offset >= cz.Total {
			return nil
		}
	}
}

// connectSystem opens an in-process connection as a fresh user of the
// system account, to receive the server's events.
func (s *Server) connectSystem() (*nats.Conn, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("create system nkey: %w", err)
	}
	uc := jwt.NewUserClaims(enroll.Public(kp))
	uc.Name = "sei-relay-events"
	tok, err := uc.Encode(s.keys.System)
	if err != nil {
		return nil, fmt.Errorf("sign system user jwt: %w", err)
	}
	nc, err := nats.Connect("", nats.Name("sei-relay-events"), nats.InProcessServer(s.ns),
		nats.UserJWT(func() (string, error) { return tok, nil }, kp.Sign), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats as the system account: %w", err)
	}
	return nc, nil
}
