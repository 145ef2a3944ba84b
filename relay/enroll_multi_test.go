package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// batchFor is batchMsg for integration instead of "snow".
func batchFor(t *testing.T, tenant, integration, id string) *nats.Msg {
	m := batchMsg(t, tenant, id, id, "")
	m.Subject = wire.IngestSubject(tenant, integration, "incident")
	return m
}

// TestEnrollSeveralIntegrations: `enroll --integration a --integration b`
// gives credentials that publish for exactly a and b (a third is refused by
// the server), prints a relay block without relay.integration, lists both,
// and enrolling again with another set needs --replace, which revokes the
// old key and allows the new set only.
func TestEnrollSeveralIntegrations(t *testing.T) {
	r := startAttackRelay(t)
	enrollMulti := func(extra ...string) (int, string, string) {
		args := []string{"enroll", "-c", r.cfgPath, "--tenant", "ta", "--agent", "multi1"}
		return runCmd(t, append(args, extra...)...)
	}
	code, out, errOut := enrollMulti("--integration", "snow-prod", "--integration", "snow-emea")
	if code != 0 {
		t.Fatalf("enroll: %d %s", code, errOut)
	}
	var b struct {
		Relay enroll.RelayBlock `yaml:"relay"`
	}
	if err := yaml.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	if b.Relay.Integration != "" || !strings.Contains(out, "- integration: snow-emea") {
		t.Errorf("relay block for several integrations:\n%s", out)
	}
	r.blocks["multi1"] = b.Relay
	oldCreds, _ := os.ReadFile(b.Relay.Credentials)

	publish := func(nc *nats.Conn, integration, id string) error {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = js.PublishMsg(ctx, batchFor(t, "ta", integration, id))
		return err
	}
	nc := r.mustDial(t, "multi1")
	for _, in := range []string{"snow-prod", "snow-emea"} {
		if err := publish(nc, in, "ok-"+in); err != nil {
			t.Errorf("publish for %s: %v", in, err)
		}
	}
	if err := publish(nc, "snow-apac", "third"); err == nil {
		t.Error("publish for an integration the agent was not enrolled for was acknowledged")
	}
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		body, err := httpGet(r.ri.HTTPURL+"/v1/records?tenant=ta", r.adminToken)
		if err != nil || !strings.Contains(body, `"ok-snow-emea"`) || !strings.Contains(body, `"ok-snow-prod"`) {
			return fmt.Errorf("records not stored: %v %s", err, body)
		}
		if strings.Contains(body, `"third"`) {
			t.Fatalf("third integration stored: %s", body)
		}
		return nil
	})
	if code, out, _ := runCmd(t, "agents", "-c", r.cfgPath); code != 0 || !strings.Contains(out, "snow-prod,snow-emea") {
		t.Errorf("agents: %d\n%s", code, out)
	}

	// Another set: refused without --replace, with a message saying so.
	code, _, errOut = enrollMulti("--integration", "snow-apac")
	if code != 2 || !strings.Contains(errOut, "--replace") || !strings.Contains(errOut, "snow-prod, snow-emea") {
		t.Errorf("re-enroll without --replace: %d %s", code, errOut)
	}
	code, out, errOut = enrollMulti("--integration", "snow-apac", "--replace")
	if code != 0 {
		t.Fatalf("re-enroll --replace: %d %s", code, errOut)
	}
	if err := yaml.Unmarshal([]byte(out), &b); err != nil || b.Relay.Integration != "snow-apac" {
		t.Fatalf("relay block: %v\n%s", err, out)
	}
	if newCreds, _ := os.ReadFile(b.Relay.Credentials); string(newCreds) == string(oldCreds) {
		t.Fatal("credentials unchanged")
	}
	nc2 := r.mustDial(t, "multi1")
	if err := publish(nc2, "snow-apac", "now-apac"); err != nil {
		t.Errorf("publish for the new set: %v", err)
	}
	if err := publish(nc2, "snow-prod", "no-longer-prod"); err == nil {
		t.Error("publish for an integration dropped from the set was acknowledged")
	}

	// Bad flags: none, invalid, twice.
	for _, args := range [][]string{{}, {"--integration", "Snow"}, {"--integration", "a", "--integration", "a"}} {
		if code, _, errOut := enrollMulti(args...); code != 2 || !strings.Contains(errOut, "--integration") {
			t.Errorf("enroll %v: %d %s", args, code, errOut)
		}
	}
}

// TestSeveralIntegrationsConnections: an agent with several instances
// holds one connection per instance, so it may hold connections_per_agent
// per integration: an agent enrolled for two integrations holds 8
// connections, and its 9th is closed (the relay's per-agent limit), while
// its tenant (with another agent beside it) has room.
func TestSeveralIntegrationsConnections(t *testing.T) {
	r := startAttackRelay(t)
	for _, args := range [][]string{
		{"--agent", "multi2", "--integration", "snow-prod", "--integration", "snow-emea"},
		{"--agent", "single", "--integration", "snow-prod"},
	} {
		code, out, errOut := runCmd(t, append([]string{"enroll", "-c", r.cfgPath, "--tenant", "tm"}, args...)...)
		if code != 0 {
			t.Fatalf("enroll: %d %s", code, errOut)
		}
		var b struct {
			Relay enroll.RelayBlock `yaml:"relay"`
		}
		if err := yaml.Unmarshal([]byte(out), &b); err != nil {
			t.Fatal(err)
		}
		r.blocks[args[1]] = b.Relay
	}
	limit := enroll.DefaultConnsPerAgent * 2
	var conns []*nats.Conn
	for i := range limit {
		nc, err := r.dial(t, "multi2")
		if err != nil {
			t.Fatalf("connection %d refused: %v", i+1, err)
		}
		t.Cleanup(nc.Close)
		conns = append(conns, nc)
	}
	// The one too many is closed by the relay: at once (the dial fails)
	// or a moment after it connected.
	if extra, err := r.dial(t, "multi2"); err == nil {
		t.Cleanup(extra.Close)
		natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			if !extra.IsClosed() {
				return fmt.Errorf("connection %d still open", limit+1)
			}
			return nil
		})
	}
	for i, nc := range conns[:limit] {
		if !nc.IsConnected() {
			t.Errorf("connection %d of %d closed", i+1, limit)
		}
	}
}
