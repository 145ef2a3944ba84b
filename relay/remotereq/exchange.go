package remotereq

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// headerClientInfo is set by the NATS server on a message that crossed a
// service import with sharing on: the sender's account, user and user JWT
// name. The server replaces any value the sender set.
const headerClientInfo = "Nats-Request-Info"

// exchange is one request and its answer.
type exchange struct {
	a   *Asker
	q   Question
	id  string
	log zerolog.Logger

	accepted bool
	// the result being received
	next    int    // the chunk expected next
	chunks  int    // how many the agent announced
	size    int64  // the whole result's size it announced
	sum     string // and its SHA-256
	content string
	data    bytes.Buffer
}

// run publishes the request and reads the answer's messages until it is
// whole, or a wait ends.
func (x *exchange) run(ctx context.Context) (Answer, error) {
	nc := x.a.cfg.Conn
	reply := wire.ReplySubject(x.q.Tenant, x.q.Agent, x.id)
	sub, err := nc.SubscribeSync(reply)
	if err != nil {
		return Answer{}, fmt.Errorf("subscribe to answers of request %s: %w", x.id, err)
	}
	defer sub.Unsubscribe()
	m := nats.NewMsg(wire.RequestSubject(x.q.Tenant, x.q.Agent, x.q.Kind))
	m.Reply = reply
	m.Header.Set(wire.HeaderRequest, x.id)
	m.Header.Set(wire.HeaderAsker, x.q.Asker)
	m.Data = x.q.Body
	x.log.Info().Msg("remote request sent")
	if err := nc.PublishMsg(m); err != nil {
		return Answer{}, fmt.Errorf("send request %s: %w", x.id, err)
	}
	deadline := time.Now().Add(x.a.cfg.Timeout)
	for {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		msg, err := sub.NextMsgWithContext(wctx)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return Answer{}, ctx.Err()
		case errors.Is(err, nats.ErrNoResponders):
			// Nothing subscribes to the agent's requests: it is not
			// connected (or predates remote requests).
			return Answer{}, fmt.Errorf("%w: %w", ErrNoAnswer, ErrNotConnected)
		case err != nil && errors.Is(err, context.DeadlineExceeded) && !x.accepted:
			return Answer{}, fmt.Errorf("%w within %s", ErrNoAnswer, x.a.cfg.Timeout)
		case err != nil && errors.Is(err, context.DeadlineExceeded):
			return Answer{}, fmt.Errorf("%w within %s (%d of %d chunks received)", ErrAnswerTimeout, x.a.cfg.AnswerTimeout, x.next, x.chunks)
		case err != nil:
			return Answer{}, fmt.Errorf("read answer of request %s: %w", x.id, err)
		}
		if !x.fromAgent(msg) {
			continue
		}
		ans, done, err := x.take(ctx, msg)
		if err != nil {
			_ = msg.Respond(nil)
			return Answer{}, err
		}
		// The acknowledgement goes after the message is taken (a bundle:
		// stored), so the agent never runs ahead of the relay.
		if err := msg.Respond(nil); err != nil && !done {
			return Answer{}, fmt.Errorf("acknowledge answer of request %s: %w", x.id, err)
		}
		if done {
			return ans, nil
		}
		if msg.Header.Get(wire.HeaderReply) == wire.ReplyAccepted {
			deadline = time.Now().Add(x.a.cfg.AnswerTimeout)
		}
	}
}

// fromAgent reports whether msg comes from the asked agent: across the
// tenant's import the server names the sender, and only that agent's user
// may publish on the reply subject; without the header the message was
// published inside the relay's account (no accounts: a test setup or an
// external cluster without them), where every publisher is trusted.
func (x *exchange) fromAgent(msg *nats.Msg) bool {
	raw := msg.Header.Get(headerClientInfo)
	if raw == "" {
		return true
	}
	var ci struct {
		NameTag string `json:"name_tag"`
	}
	if err := json.Unmarshal([]byte(raw), &ci); err != nil || ci.NameTag != x.q.Agent {
		x.log.Warn().Str("sender", ci.NameTag).Msg("answer from another connection than the agent's ignored")
		return false
	}
	return true
}

// take handles one answer message: done when the answer is complete.
func (x *exchange) take(ctx context.Context, msg *nats.Msg) (Answer, bool, error) {
	status := msg.Header.Get(wire.HeaderReply)
	switch status {
	case wire.ReplyAccepted:
		x.accepted = true
		x.log.Debug().Msg("remote request accepted")
		return Answer{}, false, nil
	case wire.ReplyRefused, wire.ReplyInvalid, wire.ReplyBusy, wire.ReplyError:
		text := string(msg.Data)
		if len(text) > 4096 {
			text = text[:4096]
		}
		return Answer{ID: x.id, Status: status, Text: text}, true, nil
	case wire.ReplyResult:
		return x.chunk(ctx, msg)
	}
	return Answer{}, false, fmt.Errorf("%w: request %s: unknown %s %q", ErrBadAnswer, x.id, wire.HeaderReply, status)
}

// chunk takes one chunk of the result; the last one checks the whole.
func (x *exchange) chunk(ctx context.Context, msg *nats.Msg) (Answer, bool, error) {
	h := msg.Header
	i, err1 := strconv.Atoi(h.Get(wire.HeaderChunk))
	n, err2 := strconv.Atoi(h.Get(wire.HeaderChunks))
	size, err3 := strconv.ParseInt(h.Get(wire.HeaderSize), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || n < 1 || size < 0 {
		return Answer{}, false, fmt.Errorf("%w: request %s: chunk headers: %v", ErrBadAnswer, x.id, err)
	}
	if i == 0 {
		if err := x.begin(n, size, h.Get(wire.HeaderSHA256), h.Get(wire.HeaderContent)); err != nil {
			return Answer{}, false, err
		}
	}
	if i != x.next || n != x.chunks || size != x.size || h.Get(wire.HeaderSHA256) != x.sum {
		return Answer{}, false, fmt.Errorf("%w: request %s: chunk %d of %d (size %d) after %d of %d (size %d)",
			ErrBadAnswer, x.id, i, n, size, x.next, x.chunks, x.size)
	}
	if int64(x.data.Len()+len(msg.Data)) > x.size {
		return Answer{}, false, fmt.Errorf("%w: request %s: more than the %d bytes announced", ErrBadAnswer, x.id, x.size)
	}
	x.data.Write(msg.Data)
	x.next++
	if x.next < x.chunks {
		return Answer{}, false, nil
	}
	sum := sha256.Sum256(x.data.Bytes())
	if int64(x.data.Len()) != x.size || hex.EncodeToString(sum[:]) != x.sum {
		return Answer{}, false, fmt.Errorf("%w: request %s: %d bytes with SHA-256 %x, announced %d bytes with %s",
			ErrBadAnswer, x.id, x.data.Len(), sum, x.size, x.sum)
	}
	return x.finish(ctx)
}

// begin checks the first chunk's announcement against the limits.
func (x *exchange) begin(n int, size int64, sum, content string) error {
	limit, want := x.a.cfg.MaxResultBytes, wire.ContentJSON
	if x.q.Kind == wire.KindBundle {
		limit, want = x.a.cfg.BundleMaxBytes, wire.ContentZip
	}
	switch {
	case content != want:
		return fmt.Errorf("%w: request %s: a %s answer must be %s, not %q", ErrBadAnswer, x.id, x.q.Kind, want, content)
	case size > limit:
		return fmt.Errorf("%w: request %s: the %s result is %d bytes, more than this relay takes (%d; requests.bundle_max_bytes for bundles)",
			ErrBadAnswer, x.id, x.q.Kind, size, limit)
	case n > int(size/1024)+1:
		return fmt.Errorf("%w: request %s: %d chunks for %d bytes", ErrBadAnswer, x.id, n, size)
	}
	x.chunks, x.size, x.sum, x.content = n, size, sum, content
	x.data.Grow(int(size))
	return nil
}

// finish turns the whole result into the answer.
func (x *exchange) finish(ctx context.Context) (Answer, bool, error) {
	ans := Answer{ID: x.id, Status: wire.ReplyResult}
	if x.content == wire.ContentJSON {
		if !json.Valid(x.data.Bytes()) {
			return Answer{}, false, fmt.Errorf("%w: request %s: the result is not JSON", ErrBadAnswer, x.id)
		}
		ans.Result = json.RawMessage(x.data.Bytes())
		return ans, true, nil
	}
	b, err := x.a.putBundle(ctx, x.q.Tenant, x.q.Agent, x.id, x.data.Bytes(), x.sum)
	if err != nil {
		return Answer{}, false, err
	}
	ans.Bundle = &b
	return ans, true, nil
}
