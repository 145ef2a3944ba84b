package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// submitSubjects matches every tenant's ingest import in the relay account.
const submitSubjects = wire.SubmitPrefix + ".>"

// Gateway forwards the tenants' batches into the stream. Consumer runs one;
// tests of the account model run one alone.
type Gateway struct {
	conn     *nats.Conn
	queue    string
	log      zerolog.Logger
	rejected func() // counts a refused batch
	ledger   Ledger // never nil
}

// NewGateway returns a gateway on conn (a relay-account connection) in
// queue group queue; rejected, if not nil, is called for every batch
// refused for its identity.
func NewGateway(conn *nats.Conn, queue string, log zerolog.Logger, rejected func()) *Gateway {
	if rejected == nil {
		rejected = func() {}
	}
	return &Gateway{conn: conn, queue: queue, log: log, rejected: rejected, ledger: noLedger{}}
}

// Run forwards the tenants' batches into the stream until ctx ends.
// A batch arrives on sei.submit.<tenant>.… with the server's
// Nats-Request-Info (the sender's account and user), which JetStream would
// strip: the gateway checks the Sei-Agent header against it, stamps
// Sei-Agent with the connection's agent, and publishes the batch to
// sei.ingest.<tenant>.…, then answers the agent's reply subject with
// JetStream's PubAck: the answer travels back through the import to the
// asking connection alone (a client may not publish with the server's _R_
// reply subjects, so the relay asks and answers itself). A batch whose
// header disagrees is refused with an error the agent's publish returns,
// and counted. Relays share the work (queue group); gatewayWorkers
// forwards run at once.
func (c *Gateway) Run(ctx context.Context) error {
	return serveQueue(ctx, c.conn, submitSubjects, c.queue, 1024, gatewayWorkers, c.forward)
}

// gatewayWorkers bounds the batches the gateway forwards at once.
const gatewayWorkers = 64

// forward checks and forwards one submitted batch.
func (c *Gateway) forward(ctx context.Context, m *nats.Msg) {
	rest, ok := strings.CutPrefix(m.Subject, wire.SubmitPrefix+".")
	if !ok {
		return
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	agent, err := sender(m.Header)
	if err == nil {
		err = enrolledFor(m.Header.Get(HeaderClientInfo), subjectIntegration(rest))
	}
	if err != nil {
		c.rejected()
		c.log.Warn().Err(err).Str("subject", m.Subject).Msg("refuse batch: agent identity")
		c.refuse(m, err)
		return
	}
	tenant, _, _ := strings.Cut(rest, ".")
	if err := c.ledger.Admit(tenant); err != nil {
		// 503 like an outage: the agent keeps the batch and retries.
		c.refuseCode(m, 503, err)
		return
	}
	out := &nats.Msg{Subject: wire.IngestPrefix + "." + rest, Header: m.Header, Data: m.Data}
	out.Header.Del(HeaderClientInfo)
	if agent != "" {
		out.Header.Set(wire.HeaderAgent, agent)
	}
	if m.Reply == "" {
		// Without a reply the stream's answer is not seen, so the batch is
		// not counted in the ledger: an agent always asks for the PubAck.
		if err := c.conn.PublishMsg(out); err != nil {
			c.log.Warn().Err(err).Str("subject", out.Subject).Msg("forward batch to the stream")
		}
		return
	}
	rctx, cancel := context.WithTimeout(ctx, gatewayTimeout)
	defer cancel()
	ack, err := c.conn.RequestMsgWithContext(rctx, out)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn().Err(err).Str("subject", out.Subject).Msg("forward batch to the stream")
			c.refuseCode(m, 503, fmt.Errorf("stream unavailable: %w", err))
		}
		return
	}
	if stored(ack.Data) {
		c.ledger.Added(tenant, int64(len(m.Data)))
	}
	if err := c.conn.PublishMsg(&nats.Msg{Subject: m.Reply, Header: ack.Header, Data: ack.Data}); err != nil {
		c.log.Debug().Err(err).Msg("answer batch")
	}
}

// subjectIntegration is the integration of a submitted batch's subject
// without its prefix ("<tenant>.<integration>.<table>"); "" when it has
// none (the stream's consumer refuses such a subject).
func subjectIntegration(rest string) string {
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// stored reports whether a stream's answer is a PubAck for a new message
// (not an error, not a duplicate).
func stored(ack []byte) bool {
	var a struct {
		Stream    string          `json:"stream"`
		Duplicate bool            `json:"duplicate"`
		Error     json.RawMessage `json:"error"`
	}
	return json.Unmarshal(ack, &a) == nil && a.Stream != "" && !a.Duplicate && a.Error == nil
}

// gatewayTimeout bounds how long the gateway waits for the stream's ack.
const gatewayTimeout = 10 * time.Second

// refuse answers a submitted batch with a JetStream-style API error, so the
// agent's publish fails with it instead of waiting for a timeout.
func (c *Gateway) refuse(m *nats.Msg, err error) { c.refuseCode(m, 400, err) }

func (c *Gateway) refuseCode(m *nats.Msg, code int, err error) {
	if m.Reply == "" {
		return
	}
	var resp struct {
		Error struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	resp.Error.Code, resp.Error.Description = code, err.Error()
	body, _ := json.Marshal(resp)
	if err := c.conn.Publish(m.Reply, body); err != nil {
		c.log.Debug().Err(err).Msg("answer refused batch")
	}
}
