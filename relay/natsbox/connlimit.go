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
	srv     *Server
	perUser int
	kicked  func(account, user, name string) // called for every closed connection

	mu sync.Mutex
	// mu guards users: account/user → open connection ids.
	users map[string]map[uint64]struct{}
}

// NewConnLimit returns a limiter of perUser (>= 1) connections for every
// tenant user of srv; kicked, if not nil, is called for each connection it
// closes.
func (s *Server) NewConnLimit(perUser int, kicked func(account, user, name string)) (*ConnLimit, error) {
	if perUser < 1 {
		return nil, fmt.Errorf("connection limit per agent must be >= 1 (got %d)", perUser)
	}
	if kicked == nil {
		kicked = func(string, string, string) {}
	}
	return &ConnLimit{srv: s, perUser: perUser, kicked: kicked, users: map[string]map[uint64]struct{}{}}, nil
}

// Run enforces the limit until ctx ends. It subscribes to the events
// first, then counts the connections already open, so none is missed.
func (l *ConnLimit) Run(ctx context.Context) error {
	nc, err := l.srv.connectSystem()
	if err != nil {
		return err
	}
	defer nc.Close()
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
	if err := l.seed(); err != nil {
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
		Client server.ClientInfo `json:"client"`
	}
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Client.Kind != "Client" && ev.Client.Kind != "" {
		return
	}
	switch ev.Type {
	case server.ConnectEventMsgType:
		if !l.open(ev.Client.Account, ev.Client.User, ev.Client.ID, l.limitFor(ev.Client.Tags)) {
			if err := l.srv.ns.DisconnectClientByID(ev.Client.ID); err == nil {
				l.kicked(ev.Client.Account, ev.Client.User, ev.Client.Name)
			}
		}
	case server.DisconnectEventMsgType:
		l.closed(ev.Client.Account, ev.Client.User, ev.Client.ID)
	}
}

// seed counts the tenant connections open now.
func (l *ConnLimit) seed() error {
	for offset := 0; ; {
		cz, err := l.srv.ns.Connz(&server.ConnzOptions{Offset: offset, Limit: 1024, Username: true})
		if err != nil {
			return fmt.Errorf("list connections: %w", err)
		}
		for _, c := range cz.Conns {
			if !l.open(c.Account, c.AuthorizedUser, c.Cid, l.limitFor(c.Tags)) {
				if err := l.srv.ns.DisconnectClientByID(c.Cid); err == nil {
					l.kicked(c.Account, c.AuthorizedUser, c.Name)
				}
			}
		}
		offset += len(cz.Conns)
		if len(cz.Conns) == 0 || offset >= cz.Total {
			return nil
		}
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

// open counts connection id of user in account, and reports false (not
// counted) when user holds limit connections already.
func (l *ConnLimit) open(account, user string, id uint64, limit int) bool {
	if !l.limited(account) || user == "" {
		return true
	}
	k := account + "/" + user
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.users[k]
	if _, ok := ids[id]; ok {
		return true
	}
	if len(ids) >= limit {
		l.forgetGoneLocked(ids)
	}
	if len(ids) >= limit {
		return false
	}
	if ids == nil {
		ids = map[uint64]struct{}{}
		l.users[k] = ids
	}
	ids[id] = struct{}{}
	return true
}

// forgetGoneLocked drops from ids the connections that are closed (their
// disconnect event was lost).
func (l *ConnLimit) forgetGoneLocked(ids map[uint64]struct{}) {
	for id := range ids {
		cz, err := l.srv.ns.Connz(&server.ConnzOptions{CID: id})
		if err == nil && (len(cz.Conns) == 0 || cz.Conns[0].Cid != id) {
			delete(ids, id)
		}
	}
}

// closed forgets connection id.
func (l *ConnLimit) closed(account, user string, id uint64) {
	k := account + "/" + user
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.users[k], id)
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

// limited reports whether account's users are limited: every account but
// the relay's and the system account.
func (l *ConnLimit) limited(account string) bool {
	return account != "" && account != enroll.Public(l.srv.keys.Relay) && account != enroll.Public(l.srv.keys.System)
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
