package natsbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
)

// NewRemoteConnLimit returns a limiter of perUser (>= 1) connections for
// every agent on an external cluster, through sys, a connection as a user
// of the cluster's system account (nats.system_credentials), which the
// caller closes after Run. It watches the same connect and disconnect
// events as the embedded limiter, lists the open connections with the
// servers' CONNZ requests and closes one with its server's KICK request.
// Only agents are limited: users whose JWT carries an integration tag
// (enroll.TagIntegration), so the relay's and operators' users never are.
// Each relay replica may run one: they see the same events and close the
// same connections.
func NewRemoteConnLimit(sys *nats.Conn, perUser int, kicked func(account, user, name string)) (*ConnLimit, error) {
	return newConnLimit(perUser, kicked, remoteConns{nc: sys})
}

// remoteConns is an external cluster, through its system account.
type remoteConns struct{ nc *nats.Conn }

// remoteTimeout bounds one request to the cluster's servers.
const remoteTimeout = 2 * time.Second

func (r remoteConns) events() (*nats.Conn, bool, error) { return r.nc, false, nil }

func (remoteConns) limited(_ string, tags jwt.TagList) bool {
	for _, t := range tags {
		if strings.HasPrefix(t, enroll.TagIntegration) {
			return true
		}
	}
	return false
}

func (remoteConns) server(id string) string { return id }

// connzReply is one server's answer to a CONNZ or KICK request.
type connzReply struct {
	Server server.ServerInfo `json:"server"`
	Data   *server.Connz     `json:"data"`
	Error  *server.ApiError  `json:"error"`
}

func (r remoteConns) request(subject string, req any) (connzReply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return connzReply{}, err
	}
	m, err := r.nc.Request(subject, body, remoteTimeout)
	if err != nil {
		return connzReply{}, fmt.Errorf("request %s (nats.system_credentials must be a user of the cluster's system account): %w", subject, err)
	}
	var rep connzReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return connzReply{}, fmt.Errorf("decode answer to %s: %w", subject, err)
	}
	if rep.Error != nil {
		return connzReply{}, fmt.Errorf("%s: %s", subject, rep.Error.Description)
	}
	return rep, nil
}

func (r remoteConns) kick(c connID) error {
	_, err := r.request(fmt.Sprintf("$SYS.REQ.SERVER.%s.KICK", c.server), server.KickClientReq{CID: c.cid})
	return err
}

// gone reports whether c is closed; false when its server does not answer.
func (r remoteConns) gone(c connID) bool {
	rep, err := r.request(fmt.Sprintf("$SYS.REQ.SERVER.%s.CONNZ", c.server), server.ConnzOptions{CID: c.cid})
	return err == nil && rep.Data != nil && (len(rep.Data.Conns) == 0 || rep.Data.Conns[0].Cid != c.cid)
}

// seed asks every server for its connections (one request answered by
// each, collected until none answered for remoteTimeout/4), then pages
// through each server that has more.
func (r remoteConns) seed(open func(c connID, account, user, name string, tags jwt.TagList)) error {
	const page = 1024
	first, err := json.Marshal(server.ConnzOptions{Limit: page, Username: true})
	if err != nil {
		return err
	}
	inbox := r.nc.NewRespInbox()
	sub, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	defer sub.Unsubscribe()
	if err := r.nc.PublishRequest("$SYS.REQ.SERVER.PING.CONNZ", inbox, first); err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*remoteTimeout)
	defer cancel()
	var replies []connzReply
	for wait := remoteTimeout; ; wait = remoteTimeout / 4 {
		wctx, wcancel := context.WithTimeout(ctx, wait)
		m, err := sub.NextMsgWithContext(wctx)
		wcancel()
		if err != nil {
			if len(replies) == 0 {
				return fmt.Errorf("list connections: no server answered $SYS.REQ.SERVER.PING.CONNZ (nats.system_credentials must be a user of the cluster's system account): %w", err)
			}
			break
		}
		var rep connzReply
		if json.Unmarshal(m.Data, &rep) == nil && rep.Error == nil && rep.Data != nil {
			replies = append(replies, rep)
		}
	}
	var errs []error
	for _, rep := range replies {
		for {
			for _, c := range rep.Data.Conns {
				open(connID{server: rep.Server.ID, cid: c.Cid}, c.Account, c.AuthorizedUser, c.Name, c.Tags)
			}
			next := rep.Data.Offset + len(rep.Data.Conns)
			if len(rep.Data.Conns) == 0 || next >= rep.Data.Total {
				break
			}
			id := rep.Server.ID
			if rep, err = r.request(fmt.Sprintf("$SYS.REQ.SERVER.%s.CONNZ", id), server.ConnzOptions{Offset: next, Limit: page, Username: true}); err != nil {
				errs = append(errs, err)
				break
			}
			if rep.Data == nil {
				errs = append(errs, fmt.Errorf("list connections of server %s: empty answer", id))
				break
			}
		}
	}
	return errors.Join(errs...)
}
