package remotereq

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup starts a NATS server (one account: no tenant accounts), the
// relay's connection and an Asker with short waits.
func setup(t *testing.T) (*Asker, *nats.Conn) {
	t.Helper()
	srv := natstest.Start(t, nil)
	relay, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(relay.Close)
	js, err := jetstream.New(relay)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Conn: relay, JS: js, Timeout: 500 * time.Millisecond, AnswerTimeout: time.Second,
		MaxResultBytes: 1 << 20, BundleMaxBytes: 8 << 20, BundleStoreBytes: 32 << 20, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Close)
	return a, agent
}

// fakeAgent answers requests to ta/a1 with script, which sends messages
// with send (each acknowledged by the relay, as the agent sends them).
func fakeAgent(t *testing.T, nc *nats.Conn, script func(send func(status string, h map[string]string, body []byte) error, req *nats.Msg)) {
	t.Helper()
	var wg sync.WaitGroup
	sub, err := nc.Subscribe(wire.RequestFilter("ta", "a1"), func(req *nats.Msg) {
		send := func(status string, h map[string]string, body []byte) error {
			m := nats.NewMsg(req.Reply)
			m.Header.Set(wire.HeaderReply, status)
			for k, v := range h {
				m.Header.Set(k, v)
			}
			m.Data = body
			_, err := nc.RequestMsg(m, 5*time.Second)
			return err
		}
		wg.Go(func() { script(send, req) })
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe(); wg.Wait() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// sendResult sends data in chunks of size chunk, as agent/remote does.
func sendResult(send func(string, map[string]string, []byte) error, content string, data []byte, chunk int) error {
	sum := sha256.Sum256(data)
	n := max((len(data)+chunk-1)/chunk, 1)
	for i := range n {
		part := data[i*chunk : min((i+1)*chunk, len(data))]
		h := map[string]string{wire.HeaderChunk: strconv.Itoa(i), wire.HeaderChunks: strconv.Itoa(n),
			wire.HeaderSize: strconv.Itoa(len(data)), wire.HeaderSHA256: hex.EncodeToString(sum[:]), wire.HeaderContent: content}
		if err := send(wire.ReplyResult, h, part); err != nil {
			return err
		}
	}
	return nil
}

func question(kind string) Question {
	return Question{Tenant: "ta", Agent: "a1", Kind: kind, Body: []byte(`{"kind":"` + kind + `"}`), Asker: "admin"}
}

func TestAskResultAndRefusal(t *testing.T) {
	a, agent := setup(t)
	fakeAgent(t, agent, func(send func(string, map[string]string, []byte) error, req *nats.Msg) {
		if req.Header.Get(wire.HeaderAsker) != "admin" || req.Header.Get(wire.HeaderRequest) == "" {
			send(wire.ReplyError, nil, []byte("no asker or id"))
			return
		}
		if strings.HasSuffix(req.Subject, ".preview") {
			send(wire.ReplyRefused, nil, []byte("agent a1 does not answer preview"))
			return
		}
		send(wire.ReplyAccepted, nil, nil)
		sendResult(send, wire.ContentJSON, []byte(`{"verdict":"OK","pad":"`+strings.Repeat("x", 5000)+`"}`), 1024)
	})
	ans, err := a.Ask(context.Background(), question(wire.KindStatus))
	if err != nil || ans.Status != wire.ReplyResult || !bytes.HasPrefix(ans.Result, []byte(`{"verdict":"OK"`)) {
		t.Fatalf("status: %v %+v", err, ans.Status)
	}
	ans, err = a.Ask(context.Background(), question(wire.KindPreview))
	if err != nil || ans.Status != wire.ReplyRefused || ans.Text != "agent a1 does not answer preview" {
		t.Errorf("preview: %v %+v", err, ans)
	}
}

// TestNoAnswer: an agent that is not connected is known at once; one that
// listens but never accepts, after Timeout; one that accepts but never
// finishes, after AnswerTimeout.
func TestNoAnswer(t *testing.T) {
	a, agent := setup(t)
	_, err := a.Ask(context.Background(), question(wire.KindStatus))
	if !errors.Is(err, ErrNoAnswer) || !errors.Is(err, ErrNotConnected) {
		t.Errorf("nobody listening: %v", err)
	}
	fakeAgent(t, agent, func(send func(string, map[string]string, []byte) error, req *nats.Msg) {
		if strings.HasSuffix(req.Subject, ".validate") {
			send(wire.ReplyAccepted, nil, nil)
		}
	})
	_, err = a.Ask(context.Background(), question(wire.KindStatus))
	if !errors.Is(err, ErrNoAnswer) || errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "within 500ms") {
		t.Errorf("silent agent: %v", err)
	}
	_, err = a.Ask(context.Background(), question(wire.KindValidate))
	if !errors.Is(err, ErrAnswerTimeout) {
		t.Errorf("accepted, never finished: %v", err)
	}
}

// TestBadAnswers: an answer that breaks the exchange is refused, never
// passed on as a result.
func TestBadAnswers(t *testing.T) {
	data := []byte(`{"a":1}`)
	sum := sha256.Sum256(data)
	good := func(i, n int) map[string]string {
		return map[string]string{wire.HeaderChunk: strconv.Itoa(i), wire.HeaderChunks: strconv.Itoa(n),
			wire.HeaderSize: strconv.Itoa(len(data)), wire.HeaderSHA256: hex.EncodeToString(sum[:]), wire.HeaderContent: wire.ContentJSON}
	}
	cases := map[string]func(send func(string, map[string]string, []byte) error){
		"out of order": func(send func(string, map[string]string, []byte) error) {
			send(wire.ReplyResult, good(1, 2), data)
		},
		"checksum": func(send func(string, map[string]string, []byte) error) {
			send(wire.ReplyResult, good(0, 1), []byte(`{"a":2}`))
		},
		"more than announced": func(send func(string, map[string]string, []byte) error) {
			send(wire.ReplyResult, good(0, 1), append(data, ' '))
		},
		"too large": func(send func(string, map[string]string, []byte) error) {
			h := good(0, 1)
			h[wire.HeaderSize] = strconv.Itoa(2 << 20)
			send(wire.ReplyResult, h, data)
		},
		"zip for status": func(send func(string, map[string]string, []byte) error) {
			h := good(0, 1)
			h[wire.HeaderContent] = wire.ContentZip
			send(wire.ReplyResult, h, data)
		},
		"not json": func(send func(string, map[string]string, []byte) error) {
			sendResult(send, wire.ContentJSON, []byte("{nope"), 1024)
		},
		"unknown status": func(send func(string, map[string]string, []byte) error) {
			send("maybe", nil, nil)
		},
	}
	for name, script := range cases {
		t.Run(name, func(t *testing.T) {
			a, agent := setup(t)
			fakeAgent(t, agent, func(send func(string, map[string]string, []byte) error, _ *nats.Msg) { script(send) })
			ans, err := a.Ask(context.Background(), question(wire.KindStatus))
			if !errors.Is(err, ErrBadAnswer) {
				t.Errorf("%s: %v %+v, want ErrBadAnswer", name, err, ans)
			}
		})
	}
}

// TestImpostorIgnored: a message on the reply subject whose server-set
// identity names another agent is ignored; the agent's own answer counts.
func TestImpostorIgnored(t *testing.T) {
	a, agent := setup(t)
	fakeAgent(t, agent, func(send func(string, map[string]string, []byte) error, req *nats.Msg) {
		// The impostor does not wait for an acknowledgement: none comes.
		m := nats.NewMsg(req.Reply)
		m.Header.Set(wire.HeaderReply, wire.ReplyRefused)
		m.Header.Set(headerClientInfo, `{"acc":"A","user":"U","name_tag":"a2"}`)
		m.Data = []byte("forged by a2")
		agent.PublishMsg(m)
		send(wire.ReplyRefused, map[string]string{headerClientInfo: `{"acc":"A","user":"U","name_tag":"a1"}`}, []byte("the real a1"))
	})
	ans, err := a.Ask(context.Background(), question(wire.KindStatus))
	if err != nil || ans.Text != "the real a1" {
		t.Errorf("answer %+v, %v; want the agent's own", ans, err)
	}
}

// TestBundleStoredAndServed: a bundle several times NATS's max payload
// arrives whole, is kept in the object store under its agent, and is
// served byte for byte; another agent's path finds nothing.
func TestBundleStoredAndServed(t *testing.T) {
	a, agent := setup(t)
	want := make([]byte, 3<<20+777)
	rand.Read(want)
	fakeAgent(t, agent, func(send func(string, map[string]string, []byte) error, _ *nats.Msg) {
		send(wire.ReplyAccepted, nil, nil)
		sendResult(send, wire.ContentZip, want, 1000<<10)
	})
	ctx := context.Background()
	ans, err := a.Ask(ctx, question(wire.KindBundle))
	if err != nil || ans.Bundle == nil || ans.Bundle.Size != int64(len(want)) {
		t.Fatalf("bundle: %v %+v", err, ans)
	}
	rc, size, err := a.OpenBundle(ctx, "ta", "a1", ans.Bundle.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || size != int64(len(want)) || !bytes.Equal(got, want) {
		t.Fatalf("served %d bytes (size %d), identical %v, %v", len(got), size, bytes.Equal(got, want), err)
	}
	for _, path := range [][3]string{{"ta", "a2", ans.Bundle.ID}, {"tb", "a1", ans.Bundle.ID}, {"ta", "a1", "nope"}, {"ta", "a1", "../x"}} {
		if _, _, err := a.OpenBundle(ctx, path[0], path[1], path[2]); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenBundle %v: %v, want ErrNotFound", path, err)
		}
	}
}

// TestBundleTooLarge: a bundle over requests.bundle_max_bytes is refused
// at its first chunk, before it is held.
func TestBundleTooLarge(t *testing.T) {
	a, agent := setup(t)
	fakeAgent(t, agent, func(send func(string, map[string]string, []byte) error, _ *nats.Msg) {
		sendResult(send, wire.ContentZip, make([]byte, 9<<20), 1000<<10)
	})
	if _, err := a.Ask(context.Background(), question(wire.KindBundle)); !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), "bundle_max_bytes") {
		t.Errorf("oversized bundle: %v", err)
	}
}

// BenchmarkBundle measures a 32 MiB bundle from a fake agent to the
// object store: chunks of 1000 KiB, each acknowledged (stop and wait).
// Each run keeps its bundle: at most about 15 runs fit the 512 MiB store.
func BenchmarkBundle(b *testing.B) {
	srv := natstest.Start(b, nil)
	relay, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer relay.Close()
	js, _ := jetstream.New(relay)
	a, err := New(Config{Conn: relay, JS: js, BundleMaxBytes: 64 << 20, BundleStoreBytes: 512 << 20, BundleTTL: time.Hour, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	agent, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer agent.Close()
	data := make([]byte, 32<<20)
	rand.Read(data)
	var wg sync.WaitGroup
	sub, err := agent.Subscribe(wire.RequestFilter("ta", "a1"), func(req *nats.Msg) {
		wg.Go(func() {
			send := func(status string, h map[string]string, body []byte) error {
				m := nats.NewMsg(req.Reply)
				m.Header.Set(wire.HeaderReply, status)
				for k, v := range h {
					m.Header.Set(k, v)
				}
				m.Data = body
				_, err := agent.RequestMsg(m, 10*time.Second)
				return err
			}
			sendResult(send, wire.ContentZip, data, 1000<<10)
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { sub.Unsubscribe(); wg.Wait() }()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Ask(context.Background(), question(wire.KindBundle)); err != nil {
			b.Fatal(err)
		}
	}
}
