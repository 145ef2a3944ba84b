package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs a Server against an in-process NATS server (one account,
// as without tenant accounts) and plays the relay's side.
type harness struct {
	t   *testing.T
	nc  *nats.Conn // the "relay"
	log *syncBuffer
	n   int
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	srv := natstest.Start(t, nil)
	cfg.URL, cfg.Tenant, cfg.Agent = srv.ClientURL(), "ta", "a1"
	h := &harness{t: t, log: &syncBuffer{}}
	cfg.Logger = zerolog.New(h.log)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if h.nc, err = nats.Connect(srv.ClientURL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.nc.Close)
	// The server is ready once a request finds it.
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		_, _, err := h.tryAsk("unknown-kind", "{}")
		return err
	})
	return h
}

// reply is an answer as the relay assembles it.
type reply struct {
	status string
	data   []byte
	chunks int
}

// ask sends one request as the relay does and returns the answer.
func (h *harness) ask(kind, body string) reply {
	h.t.Helper()
	r, _, err := h.tryAsk(kind, body)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) tryAsk(kind, body string) (reply, string, error) {
	h.n++
	id := fmt.Sprintf("req%d", h.n)
	subj := wire.ReplySubject("ta", "a1", id)
	sub, err := h.nc.SubscribeSync(subj)
	if err != nil {
		return reply{}, id, err
	}
	defer sub.Unsubscribe()
	m := nats.NewMsg(wire.RequestSubject("ta", "a1", kind))
	m.Reply = subj
	m.Header.Set(wire.HeaderRequest, id)
	m.Header.Set(wire.HeaderAsker, "token t1 (support)")
	m.Data = []byte(body)
	if err := h.nc.PublishMsg(m); err != nil {
		return reply{}, id, err
	}
	var r reply
	var data bytes.Buffer
	for {
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			return reply{}, id, fmt.Errorf("request %s: %w", kind, err)
		}
		_ = msg.Respond(nil)
		st := msg.Header.Get(wire.HeaderReply)
		switch st {
		case wire.ReplyAccepted:
			continue
		case wire.ReplyResult:
		default:
			return reply{status: st, data: msg.Data}, id, nil
		}
		if i, _ := strconv.Atoi(msg.Header.Get(wire.HeaderChunk)); i != r.chunks {
			return reply{}, id, fmt.Errorf("chunk %d after %d", i, r.chunks)
		}
		data.Write(msg.Data)
		r.chunks++
		if n, _ := strconv.Atoi(msg.Header.Get(wire.HeaderChunks)); r.chunks < n {
			continue
		}
		sum := sha256.Sum256(data.Bytes())
		if strconv.Itoa(data.Len()) != msg.Header.Get(wire.HeaderSize) || hex.EncodeToString(sum[:]) != msg.Header.Get(wire.HeaderSHA256) {
			return reply{}, id, fmt.Errorf("result of %d bytes does not match the announced size %s or SHA-256", data.Len(), msg.Header.Get(wire.HeaderSize))
		}
		return reply{status: wire.ReplyResult, data: data.Bytes(), chunks: r.chunks}, id, nil
	}
}

func statusHandler(ctx context.Context, req Request) (Result, error) {
	return JSON(map[string]string{"agent": "a1", "secret_figure": "result-data-42"})
}

func TestAnswersAllowedAndRefusesTheRest(t *testing.T) {
	h := start(t, Config{Allow: []string{wire.KindStatus}, Handlers: map[string]Handler{
		wire.KindStatus: statusHandler, wire.KindPreview: statusHandler,
	}})
	r := h.ask(wire.KindStatus, `{"kind":"status"}`)
	if r.status != wire.ReplyResult || string(r.data) != `{"agent":"a1","secret_figure":"result-data-42"}` {
		t.Errorf("status: %s %s", r.status, r.data)
	}
	r = h.ask(wire.KindPreview, `{"kind":"preview"}`)
	if r.status != wire.ReplyRefused || !strings.Contains(string(r.data), "remote_requests.allow lists status") || !strings.Contains(string(r.data), `"preview"`) {
		t.Errorf("preview not allowed: %s %q", r.status, r.data)
	}
	r = h.ask("shell", `{"kind":"shell"}`)
	if r.status != wire.ReplyInvalid || !strings.Contains(string(r.data), "unknown request kind") {
		t.Errorf("unknown kind: %s %q", r.status, r.data)
	}
	// Both sides' logs name who asked; none holds the result's data.
	logs := h.log.String()
	if !strings.Contains(logs, `"asker":"token t1 (support)"`) || !strings.Contains(logs, `"reply":"result"`) || !strings.Contains(logs, `"reply":"refused"`) {
		t.Errorf("log lacks the asker or the answers:\n%s", logs)
	}
	if strings.Contains(logs, "result-data-42") {
		t.Errorf("log holds the result's data:\n%s", logs)
	}
}

// TestLargeResultArrivesWhole: a result several times the max payload
// arrives in order, byte for byte, and its file is removed once sent.
func TestLargeResultArrivesWhole(t *testing.T) {
	want := make([]byte, 3<<20+12345)
	rand.Read(want)
	dir := t.TempDir()
	path := filepath.Join(dir, "bundle.zip")
	h := start(t, Config{Allow: []string{wire.KindBundle}, Handlers: map[string]Handler{
		wire.KindBundle: func(ctx context.Context, req Request) (Result, error) {
			return Result{Content: wire.ContentZip, File: path}, os.WriteFile(path, want, 0o600)
		},
	}})
	r := h.ask(wire.KindBundle, `{"kind":"bundle"}`)
	if r.status != wire.ReplyResult || !bytes.Equal(r.data, want) {
		t.Fatalf("bundle: %s, %d bytes, identical %v", r.status, len(r.data), bytes.Equal(r.data, want))
	}
	if r.chunks < 4 || int64(len(want))/int64(r.chunks) > h.nc.MaxPayload() {
		t.Errorf("%d chunks for %d bytes with a %d max payload", r.chunks, len(want), h.nc.MaxPayload())
	}
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("result file still there: %v", err)
		}
		return nil
	})
}

func TestHandlerErrors(t *testing.T) {
	h := start(t, Config{Allow: []string{wire.KindPreview, wire.KindResync, wire.KindStatus}, Handlers: map[string]Handler{
		wire.KindPreview: func(ctx context.Context, req Request) (Result, error) {
			var args struct{ Table string }
			if err := req.Decode(&args); err != nil {
				return Result{}, err
			}
			return Result{}, Invalidf("table %q: not synced", args.Table)
		},
		wire.KindResync: func(ctx context.Context, req Request) (Result, error) {
			return Result{}, errors.New("buffer closed")
		},
	}})
	if r := h.ask(wire.KindPreview, `{"kind":"preview","table":"x"}`); r.status != wire.ReplyInvalid || string(r.data) != `table "x": not synced` {
		t.Errorf("invalid: %s %q", r.status, r.data)
	}
	if r := h.ask(wire.KindPreview, `{"kind":"preview","table":7}`); r.status != wire.ReplyInvalid || !strings.Contains(string(r.data), "preview request") {
		t.Errorf("undecodable: %s %q", r.status, r.data)
	}
	if r := h.ask(wire.KindResync, `{"kind":"resync"}`); r.status != wire.ReplyError || string(r.data) != "agent a1: buffer closed" {
		t.Errorf("error: %s %q", r.status, r.data)
	}
	// Allowed, but no handler: refused, not a crash.
	if r := h.ask(wire.KindStatus, `{"kind":"status"}`); r.status != wire.ReplyRefused {
		t.Errorf("no handler: %s %q", r.status, r.data)
	}
}

// TestBusy: past MaxConcurrent, a request is answered busy at once.
func TestBusy(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := start(t, Config{Allow: []string{wire.KindValidate}, MaxConcurrent: 1, Handlers: map[string]Handler{
		wire.KindValidate: func(ctx context.Context, req Request) (Result, error) {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return JSON([]string{"ok"})
		},
	}})
	first := make(chan reply, 1)
	go func() { r, _, _ := h.tryAsk(wire.KindValidate, "{}"); first <- r }()
	<-entered
	if r := h.ask(wire.KindValidate, "{}"); r.status != wire.ReplyBusy || !strings.Contains(string(r.data), "answering 1 requests") {
		t.Errorf("second: %s %q", r.status, r.data)
	}
	close(release)
	if r := <-first; r.status != wire.ReplyResult {
		t.Errorf("first: %s %q", r.status, r.data)
	}
}

// TestForeignReplySubjectDropped: a request whose reply subject is not
// the agent's own reply space is never answered (an answer could only go
// to the relay through that space anyway).
func TestForeignReplySubjectDropped(t *testing.T) {
	h := start(t, Config{Allow: []string{wire.KindStatus}, Handlers: map[string]Handler{wire.KindStatus: statusHandler}})
	for _, reply := range []string{"_INBOX.evil", wire.ReplySubject("ta", "a2", "x"), wire.ReplySubject("tb", "a1", "x"), ""} {
		evil, err := h.nc.SubscribeSync(">")
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(wire.RequestSubject("ta", "a1", wire.KindStatus))
		m.Reply = reply
		if err := h.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		// A proper request after it is answered; the agent's requests go
		// through one subscription, in order, so the first was seen.
		if r := h.ask(wire.KindStatus, "{}"); r.status != wire.ReplyResult {
			t.Fatalf("status: %s", r.status)
		}
		for {
			msg, err := evil.NextMsg(0)
			if err != nil {
				break
			}
			if msg.Subject == reply && reply != "" {
				t.Errorf("answered on foreign reply subject %s", reply)
			}
		}
		evil.Unsubscribe()
	}
	if !strings.Contains(h.log.String(), "remote request dropped") {
		t.Errorf("no log of the dropped requests:\n%s", h.log.String())
	}
}

func TestNewRejectsUnknownKind(t *testing.T) {
	_, err := New(Config{Tenant: "ta", Agent: "a1", Allow: []string{"status", "rm-rf"}})
	if err == nil || !strings.Contains(err.Error(), `remote_requests.allow: unknown kind "rm-rf"`) {
		t.Errorf("New: %v", err)
	}
}

// TestOldCredentialsSayWhatToDo: credentials issued before remote
// requests may receive requests but not answer them; the agent's log says
// to enroll it again.
func TestOldCredentialsSayWhatToDo(t *testing.T) {
	srv := natstest.Start(t, &server.Options{Users: []*server.User{
		{Username: "relay", Password: "relay-pw"},
		{Username: "agent", Password: "agent-pw", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{wire.HeartbeatSubject("ta", "a1")}},
			Subscribe: &server.SubjectPermission{Allow: []string{wire.AgentSubject("ta", "a1") + ".>", wire.InboxPrefix("ta", "a1") + ".>"}},
		}},
	}})
	log := &syncBuffer{}
	s, err := New(Config{URL: srv.ClientURL(), Auth: []nats.Option{nats.UserInfo("agent", "agent-pw")}, Tenant: "ta", Agent: "a1",
		Allow: []string{wire.KindStatus}, Handlers: map[string]Handler{wire.KindStatus: statusHandler}, AckTimeout: time.Second, Logger: zerolog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	relay, err := nats.Connect(srv.ClientURL(), nats.UserInfo("relay", "relay-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		m := nats.NewMsg(wire.RequestSubject("ta", "a1", wire.KindStatus))
		m.Reply = wire.ReplySubject("ta", "a1", "x1")
		if err := relay.PublishMsg(m); err != nil {
			return err
		}
		if !strings.Contains(log.String(), "sei-relay enroll --replace") {
			return errors.New("no hint in the log yet")
		}
		return nil
	})
}
