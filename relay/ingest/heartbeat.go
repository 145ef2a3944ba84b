package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// heartbeatSubjects matches every agent's heartbeats.
const heartbeatSubjects = wire.HeartbeatPrefix + ".*.*"

// heartbeatWorkers check heartbeats at once, and store them at once for a
// store without PutAgents (see heartbeatBatch).
const heartbeatWorkers = 16

// dropLogBurst is how many refused heartbeats are logged a minute.
const dropLogBurst = 10

// runHeartbeats stores the agents' heartbeats until ctx ends. The relays
// share the subscription through a queue group, so each heartbeat is stored
// once.
func (c *Consumer) runHeartbeats(ctx context.Context) error {
	return serveQueue(ctx, c.cfg.Conn, heartbeatSubjects, c.cfg.Durable, 8192, heartbeatWorkers, c.storeHeartbeat)
}

// storeHeartbeat checks one heartbeat and queues it for the store.
func (c *Consumer) storeHeartbeat(_ context.Context, m *nats.Msg) {
	a, err := parseHeartbeat(m.Subject, m.Header, m.Data)
	if err != nil {
		c.m.heartbeatsRejected.Inc()
		c.dropLog.Warn().Err(err).Msg("drop heartbeat (logged at most 10 times a minute; see sei_relay_ingest_heartbeats_rejected_total)")
		return
	}
	a.Seen = c.cfg.Now().UTC()
	c.hb.add(a) // runHeartbeatWriter stores it
}

// parseHeartbeat checks a heartbeat message. The tenant comes from the
// subject, which only the tenant's account imports; the agent from the
// subject too, which must name the connection's own agent (see sender).
// The payload's agent field is not trusted.
func parseHeartbeat(subject string, h nats.Header, data []byte) (store.Agent, error) {
	tenant, agent, err := wire.ParseHeartbeatSubject(subject)
	if err != nil {
		return store.Agent{}, err
	}
	if h.Get(HeaderClientInfo) != "" {
		from, err := sender(h)
		if err != nil {
			return store.Agent{}, fmt.Errorf("heartbeat on %s: %w", subject, err)
		}
		if from != agent {
			return store.Agent{}, fmt.Errorf("heartbeat on %s sent by agent %q", subject, from)
		}
	}
	var hb wire.Heartbeat
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return store.Agent{}, fmt.Errorf("decode heartbeat of %s/%s: not a JSON object", tenant, agent)
	}
	if err := json.Unmarshal(data, &hb); err != nil {
		return store.Agent{}, fmt.Errorf("decode heartbeat of %s/%s: %w", tenant, agent, err)
	}
	return store.Agent{Tenant: tenant, Agent: agent, Heartbeat: json.RawMessage(data)}, nil
}
