package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// headroom is what a chunk leaves of the connection's max payload for its
// headers.
const headroom = 8 << 10

// answer is one request being answered.
type answer struct {
	s     *Server
	nc    *nats.Conn
	reply string
	req   Request
	log   zerolog.Logger
	start time.Time
	sent  int64 // result bytes sent
}

// run says "accepted", runs h and sends its result, or why there is none.
func (a *answer) run(ctx context.Context, h Handler) {
	if err := a.send(ctx, a.msg(wire.ReplyAccepted, nil)); err != nil {
		a.log.Warn().Err(err).Msg("remote request abandoned: the relay did not take the acceptance")
		return
	}
	hctx, cancel := context.WithTimeout(ctx, a.s.cfg.Timeout)
	res, err := h(hctx, a.req)
	cancel()
	if res.File != "" {
		defer os.Remove(res.File)
	}
	switch {
	case err != nil && IsInvalid(err):
		a.final(ctx, wire.ReplyInvalid, []byte(err.Error()))
	case err != nil:
		a.final(ctx, wire.ReplyError, []byte(fmt.Sprintf("agent %s: %v", a.s.cfg.Agent, err)))
	default:
		if err := a.result(ctx, res); err != nil {
			a.log.Error().Err(err).Int64("bytes", a.sent).Dur("took", time.Since(a.start)).Msg("remote request not answered")
			return
		}
		a.log.Info().Str("reply", wire.ReplyResult).Int64("bytes", a.sent).Dur("took", time.Since(a.start)).Msg("remote request answered")
	}
}

// final sends a one-message answer that is not a result.
func (a *answer) final(ctx context.Context, status string, text []byte) {
	err := a.send(ctx, a.msg(status, text))
	ev := a.log.Info()
	if status == wire.ReplyError {
		ev = a.log.Warn()
	}
	if err != nil {
		ev = a.log.Warn().AnErr("send_err", err)
	}
	ev.Str("reply", status).Str("detail", string(text)).Dur("took", time.Since(a.start)).Msg("remote request answered")
}

func (a *answer) msg(status string, body []byte) *nats.Msg {
	m := nats.NewMsg(a.reply)
	m.Header.Set(wire.HeaderReply, status)
	m.Header.Set(wire.HeaderRequest, a.req.ID)
	m.Data = body
	return m
}

// send publishes m and waits for the relay's acknowledgement: the relay
// answers every message of an answer, so the agent never runs ahead of
// it, and a relay that stopped waiting shows as "no responders".
func (a *answer) send(ctx context.Context, m *nats.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, a.s.cfg.AckTimeout)
	defer cancel()
	if _, err := a.nc.RequestMsgWithContext(ctx, m); err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("the relay no longer waits for request %s (it answered its asker already): %w", a.req.ID, err)
		}
		return fmt.Errorf("send answer to request %s: %w", a.req.ID, err)
	}
	return nil
}

// result sends res in chunks, each with the size and SHA-256 of the whole.
func (a *answer) result(ctx context.Context, res Result) error {
	if res.Content == "" {
		res.Content = wire.ContentJSON
	}
	src, size, sum, err := open(res)
	if err != nil {
		a.final(ctx, wire.ReplyError, []byte(fmt.Sprintf("agent %s: %v", a.s.cfg.Agent, err)))
		return err
	}
	defer src.Close()
	chunk := max(int(a.nc.MaxPayload())-headroom, 1<<10)
	n := max(int((size+int64(chunk)-1)/int64(chunk)), 1)
	buf := make([]byte, chunk)
	for i := range n {
		k, err := io.ReadFull(src, buf[:min(int64(chunk), size-a.sent)])
		if err != nil {
			return fmt.Errorf("read result chunk %d: %w", i, err)
		}
		m := a.msg(wire.ReplyResult, buf[:k])
		m.Header.Set(wire.HeaderChunk, strconv.Itoa(i))
		m.Header.Set(wire.HeaderChunks, strconv.Itoa(n))
		m.Header.Set(wire.HeaderSize, strconv.FormatInt(size, 10))
		m.Header.Set(wire.HeaderSHA256, sum)
		m.Header.Set(wire.HeaderContent, res.Content)
		if err := a.send(ctx, m); err != nil {
			return err
		}
		a.sent += int64(k)
	}
	return nil
}

// open returns res's content with its size and hex SHA-256.
func open(res Result) (io.ReadCloser, int64, string, error) {
	if res.File == "" {
		h := sha256.Sum256(res.Data)
		return io.NopCloser(bytes.NewReader(res.Data)), int64(len(res.Data)), hex.EncodeToString(h[:]), nil
	}
	f, err := os.Open(res.File)
	if err != nil {
		return nil, 0, "", fmt.Errorf("open result: %w", err)
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, "", fmt.Errorf("read result %s: %w", res.File, err)
	}
	return f, size, hex.EncodeToString(h.Sum(nil)), nil
}
