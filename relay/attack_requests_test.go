package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Remote requests under attack: the attacker holds ta/agent1's (or
// ta/agent3's) credentials and tries to receive tb/agent2's requests, or
// to answer a request made to another agent, knowing its exact reply
// subject. Each attempt must fail and the real agent's answer must be the
// one the asker gets.

// fakeAgent answers remote requests as an agent does: "accepted" at once,
// then, once release is closed, a one-chunk JSON result naming who
// answered. Every message is a request the relay acknowledges. replies
// receives each request's reply subject.
type fakeAgent struct {
	nc      *nats.Conn
	name    string
	release chan struct{}
	replies chan string
	wg      sync.WaitGroup
}

func newFakeAgent(t *testing.T, nc *nats.Conn, tenant, name string) *fakeAgent {
	t.Helper()
	fa := &fakeAgent{nc: nc, name: name, release: make(chan struct{}), replies: make(chan string, 16)}
	sub, err := nc.Subscribe(wire.RequestFilter(tenant, name), func(m *nats.Msg) {
		fa.replies <- m.Reply
		fa.wg.Go(func() { fa.answer(m.Subject, m.Reply) })
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Unsubscribe()
		select {
		case <-fa.release:
		default:
			close(fa.release)
		}
		fa.wg.Wait()
	})
	return fa
}

func (fa *fakeAgent) send(reply, status string, h map[string]string, body []byte) error {
	m := nats.NewMsg(reply)
	m.Header.Set(wire.HeaderReply, status)
	for k, v := range h {
		m.Header.Set(k, v)
	}
	m.Data = body
	_, err := fa.nc.RequestMsg(m, 10*time.Second)
	return err
}

func (fa *fakeAgent) answer(subject, reply string) {
	if fa.send(reply, wire.ReplyAccepted, nil, nil) != nil {
		return
	}
	<-fa.release
	if strings.HasSuffix(subject, ".req."+wire.KindBundle) {
		h := resultHeaders(fakeBundle)
		h[wire.HeaderContent] = wire.ContentZip
		_ = fa.send(reply, wire.ReplyResult, h, fakeBundle)
		return
	}
	_ = fa.send(reply, wire.ReplyResult, resultHeaders(fa.result()), fa.result())
}

// fakeBundle is what a fakeAgent sends as its support bundle.
var fakeBundle = []byte("PK\x03\x04 not really a zip")

func (fa *fakeAgent) result() []byte { return []byte(`{"answered_by":"` + fa.name + `"}`) }

// resultHeaders are the headers of a one-chunk JSON result data.
func resultHeaders(data []byte) map[string]string {
	sum := sha256.Sum256(data)
	return map[string]string{wire.HeaderChunk: "0", wire.HeaderChunks: "1", wire.HeaderSize: strconv.Itoa(len(data)),
		wire.HeaderSHA256: hex.EncodeToString(sum[:]), wire.HeaderContent: wire.ContentJSON}
}

// askAsync posts a status request for tenant/agent and returns the
// answer's status code and body when it comes.
func (r *attackRelay) askAsync(t *testing.T, token, tenant, agent string) <-chan string {
	t.Helper()
	out := make(chan string, 1)
	req, _ := http.NewRequest(http.MethodPost, r.ri.HTTPURL+"/v1/agents/"+tenant+"/"+agent+"/requests", strings.NewReader(`{"kind":"status"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		out <- fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}()
	return out
}

// violations collects the permission errors the server reports to a
// connection.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			v.mu.Lock()
			v.errs = append(v.errs, err.Error())
			v.mu.Unlock()
		}
	})
}

func (v *violations) seen(subject string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.errs {
		if strings.Contains(e, `"`+subject+`"`) {
			return true
		}
	}
	return false
}

func TestAttackRemoteRequests(t *testing.T) {
	r := startAttackRelay(t)
	victim := newFakeAgent(t, r.mustDial(t, "agent2"), "tb", "agent2")
	var v violations
	attacker, err := r.dial(t, "agent1", v.handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(attacker.Close)
	self := newFakeAgent(t, attacker, "ta", "agent1") // the attacker's own, legitimate subscription
	close(self.release)

	// 1. Receive tb's requests: every subscription that could match is
	// refused, or lives in ta's account where tb's requests never are.
	spy := make(chan *nats.Msg, 64)
	for _, subj := range []string{wire.RequestFilter("tb", "agent2"), "sei.agent.>", "sei.agent.*.*.req.*", ">", "sei.reply.>"} {
		if _, err := attacker.ChanSubscribe(subj, spy); err != nil {
			t.Fatal(err)
		}
	}
	natsFlush(t, attacker)
	answer := r.askAsync(t, r.victimToken, "tb", "agent2")
	reply := <-victim.replies

	// 2. Answer it, knowing its exact reply subject: from another tenant,
	// and with a correctly shaped result.
	forged := []byte(`{"answered_by":"attacker"}`)
	m := nats.NewMsg(reply)
	m.Header.Set(wire.HeaderReply, wire.ReplyResult)
	for k, val := range resultHeaders(forged) {
		m.Header.Set(k, val)
	}
	m.Data = forged
	if err := attacker.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	natsFlush(t, attacker)
	close(victim.release)
	if got := <-answer; !strings.HasPrefix(got, "200 ") || !strings.Contains(got, `"answered_by":"agent2"`) {
		t.Errorf("the asker got %q, want agent2's own answer", got)
	}

	// A request of the attacker's own comes after tb's on the relay's
	// connection: once it arrived, tb's request would have too.
	if got := <-r.askAsync(t, r.adminToken, "ta", "agent1"); !strings.Contains(got, `"answered_by":"agent1"`) {
		t.Fatalf("the attacker's own request: %q", got)
	}
	for len(spy) > 0 {
		if msg := <-spy; strings.Contains(msg.Subject, "tb") {
			t.Errorf("the attacker received %s", msg.Subject)
		}
	}
	for _, subj := range []string{wire.RequestFilter("tb", "agent2"), reply} {
		if !v.seen(subj) {
			t.Errorf("no permissions violation for %s (seen: %v)", subj, v.errs)
		}
	}

	// 3. Within one tenant: agent3 answers a request made to agent1.
	var v3 violations
	agent3, err := r.dial(t, "agent3", v3.handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent3.Close)
	slow := newFakeAgent(t, r.mustDial(t, "agent1"), "ta", "agent1")
	self.nc.Close() // only the slow agent1 answers from here on
	answer = r.askAsync(t, r.adminToken, "ta", "agent1")
	reply = <-slow.replies
	m.Subject = reply
	if err := agent3.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	natsFlush(t, agent3)
	close(slow.release)
	if got := <-answer; !strings.Contains(got, `"answered_by":"agent1"`) {
		t.Errorf("the asker got %q, want agent1's own answer", got)
	}
	if !v3.seen(reply) {
		t.Errorf("no permissions violation for agent3 publishing %s (seen: %v)", reply, v3.errs)
	}
}

// natsFlush waits until the server processed what nc sent.
func natsFlush(t *testing.T, nc *nats.Conn) {
	t.Helper()
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}
