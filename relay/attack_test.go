package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// The attack suite: a real `sei-relay run` (in process), two tenants
// enrolled through the CLI, and the attacker holding only tenant ta's
// agent1 credentials file. Every attack ends with the same check: nothing
// changed for tenant tb (records, agents and heartbeats, confirmations,
// quarantine), read through the HTTP API and the admin CLI.
//
// The suite uses only the public surface (the CLI, the credentials file
// enroll writes, NATS, HTTP), so it also runs against the single-account
// relay that came before tenant accounts, where the reply-subject, forged
// header, forged heartbeat and connection-limit attacks succeed.

// attackRelay is a running relay with tenants ta (agents agent1, agent3)
// and tb (agent2).
type attackRelay struct {
	cfgPath, dataDir string
	ri               runInfo
	// victimToken is tb's own tenant token (`sei-relay token create
	// --tenant tb`): the attacks are judged through what tb itself sees.
	victimToken string
	adminToken  string
	blocks      map[string]enroll.RelayBlock // by agent
}

func startAttackRelay(t *testing.T, extraConfig ...string) *attackRelay {
	t.Helper()
	return startAttackRelayWith(t, strings.Join(extraConfig, "\n"))
}

// startAttackRelayWith starts the attack relay with extra lines of
// configuration.
func startAttackRelayWith(t *testing.T, extra string) *attackRelay {
	t.Helper()
	dir := t.TempDir()
	r := &attackRelay{dataDir: filepath.Join(dir, "data"), blocks: map[string]enroll.RelayBlock{}}
	r.cfgPath = writeConfig(t, dir, `
data_dir: data
http: {listen: "127.0.0.1:0", token: admin-token}
nats: {listen: "127.0.0.1:0", max_store: 256MiB, max_memory: 32MiB}
stream: {max_bytes: 64MiB}
consumer: {max_deliver: 2, ack_wait: 2s}
log: {level: error}
`+extra)
	r.adminToken = "admin-token"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "-c", r.cfgPath}, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("relay exited %d", code)
		}
	})
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() (err error) {
		r.ri, err = readRunInfo(r.dataDir)
		return err
	})
	for _, a := range [][2]string{{"ta", "agent1"}, {"ta", "agent3"}, {"tb", "agent2"}} {
		code, out, errOut := runCmd(t, "enroll", "-c", r.cfgPath, "--tenant", a[0], "--integration", "snow", "--agent", a[1])
		if code != 0 {
			t.Fatalf("enroll %s/%s: %d %s", a[0], a[1], code, errOut)
		}
		var b struct {
			Relay enroll.RelayBlock `yaml:"relay"`
		}
		if err := yaml.Unmarshal([]byte(out), &b); err != nil {
			t.Fatal(err)
		}
		r.blocks[a[1]] = b.Relay
	}
	code, out, errOut := runCmd(t, "token", "create", "-c", r.cfgPath, "--tenant", "tb", "--name", "victim")
	if code != 0 {
		t.Fatalf("token create --tenant tb: %d %s", code, errOut)
	}
	r.victimToken = strings.TrimSpace(out)
	return r
}

// credsOption reads a credentials file as sei-agent does: a .creds file,
// or (before tenant accounts) a bare NKEY seed.
func credsOption(t *testing.T, path string) nats.Option {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "BEGIN NATS USER JWT") {
		return nats.UserCredentials(path)
	}
	o, err := nats.NkeyOptionFromSeed(path)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// dial connects as agent with its own credentials, as sei-agent does.
func (r *attackRelay) dial(t *testing.T, agent string, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	b := r.blocks[agent]
	base := []nats.Option{credsOption(t, b.Credentials), nats.RootCAs(b.CAFile),
		nats.CustomInboxPrefix(wire.InboxPrefix(b.Tenant, agent)), nats.MaxReconnects(0),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}
	return nats.Connect(b.URL, append(base, opts...)...)
}

func (r *attackRelay) mustDial(t *testing.T, agent string) *nats.Conn {
	t.Helper()
	nc, err := r.dial(t, agent)
	if err != nil {
		t.Fatalf("dial %s: %v", agent, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

var silentRE = regexp.MustCompile(`"silent_seconds":[-+0-9.eE]+,`)

// victimState is everything tenant tb could observe, as text for diffs.
func (r *attackRelay) victimState(t *testing.T) string {
	t.Helper()
	recs, err := httpGet(r.ri.HTTPURL+"/v1/records?tenant=tb", r.victimToken)
	if err != nil {
		t.Fatal(err)
	}
	agents, err := httpGet(r.ri.HTTPURL+"/v1/agents?tenant=tb", r.victimToken)
	if err != nil {
		t.Fatal(err)
	}
	// silent_seconds is computed at read time; last_heartbeat is what moves
	// when a heartbeat lands.
	agents = silentRE.ReplaceAllString(agents, "")
	code, out, errOut := runCmd(t, "quarantine", "-c", r.cfgPath, "list", "--json")
	if code != 0 {
		t.Fatalf("quarantine list: %s", errOut)
	}
	var qs []store.Quarantined
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		t.Fatalf("quarantine list: %v %s", err, out)
	}
	var q []string
	for _, b := range qs {
		if tenant, _, _, _ := wire.ParseIngestSubject(b.Subject); tenant != "ta" {
			q = append(q, b.Subject+" "+b.ID)
		}
	}
	return fmt.Sprintf("records:\n%s\nagents:\n%s\nquarantine outside ta: %v\n", recs, agents, q)
}

// phantomTenants returns the tenants with agents other than ta and tb.
func (r *attackRelay) phantomTenants(t *testing.T) []string {
	t.Helper()
	body, err := httpGet(r.ri.HTTPURL+"/v1/agents", r.adminToken)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tenant := range []string{"victim", "tc"} {
		if strings.Contains(body, `"tenant":"`+tenant+`"`) {
			out = append(out, tenant)
		}
	}
	return out
}

// attackerModCount marks the version of every record the attacker sends,
// so a confirmation carrying it betrays where the attacker's batch went.
const attackerModCount = 99

// batchMsg is a valid one-record batch of tenant's incident table.
func batchMsg(t *testing.T, tenant, id, sysID, agentHeader string) *nats.Msg {
	t.Helper()
	mod := int64(1)
	if tenant == "ta" {
		mod = attackerModCount
	}
	body, err := wire.Encode([]wire.Record{{Op: wire.OpUpsert, Table: "incident", SysID: sysID, SysUpdatedOn: "2026-01-02 03:04:05", SysModCount: mod}})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(wire.IngestSubject(tenant, "snow", "incident"))
	m.Data = body
	m.Header.Set(wire.HeaderMsgID, id)
	m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
	m.Header.Set(wire.HeaderEncoding, wire.Encoding)
	m.Header.Set(wire.HeaderRecords, "1")
	if agentHeader != "" {
		m.Header.Set(wire.HeaderAgent, agentHeader)
	}
	return m
}

// barrier publishes a sentinel batch and heartbeat from ta/agent1 and waits
// until the relay stored both: everything the attacker sent before has
// been through the relay by then.
func (r *attackRelay) barrier(t *testing.T, nc *nats.Conn, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sysID := fmt.Sprintf("sentinel%d", n)
	if _, err := js.PublishMsg(ctx, batchMsg(t, "ta", sysID, sysID, "agent1")); err != nil {
		t.Fatalf("sentinel batch: %v", err)
	}
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		body, err := httpGet(r.ri.HTTPURL+"/v1/records?tenant=ta", r.adminToken)
		if err != nil || !strings.Contains(body, sysID) {
			return fmt.Errorf("sentinel %s not stored: %v", sysID, err)
		}
		return nil
	})
	hb := fmt.Sprintf(`{"agent":"agent1","version":"sentinel-%d"}`, n)
	if err := nc.Publish(wire.HeartbeatSubject("ta", "agent1"), []byte(hb)); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		body, err := httpGet(r.ri.HTTPURL+"/v1/agents?tenant=ta", r.adminToken)
		if err != nil || !strings.Contains(body, fmt.Sprintf("sentinel-%d", n)) {
			return fmt.Errorf("sentinel heartbeat %d not stored: %v %s", n, err, body)
		}
		return nil
	})
}

// TestAttackOneTenantCannotReachAnother runs every attack with ta/agent1's
// credentials and checks tb after each.
func TestAttackOneTenantCannotReachAnother(t *testing.T) {
	r := startAttackRelay(t)
	victim := r.mustDial(t, "agent2")
	// tb's agent heartbeats and publishes a batch of its own, so there is
	// something to corrupt.
	vjs, err := jetstream.New(victim)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := vjs.PublishMsg(ctx, batchMsg(t, "tb", "tb-1", "tbrec", "agent2")); err != nil {
		t.Fatal(err)
	}
	if err := victim.Publish(wire.HeartbeatSubject("tb", "agent2"), []byte(`{"agent":"agent2","version":"victim"}`)); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		s := r.victimState(t)
		if !strings.Contains(s, "tbrec") || !strings.Contains(s, `"version":"victim"`) {
			return fmt.Errorf("tb not set up yet: %s", s)
		}
		return nil
	})
	confirms, err := victim.SubscribeSync(wire.AgentSubject("tb", "agent2") + ".>")
	if err != nil {
		t.Fatal(err)
	}
	// tb's own confirmation for its batch may still be on its way.
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		for {
			if _, err := confirms.NextMsg(10 * time.Millisecond); err != nil {
				return nil
			}
		}
	})
	before := r.victimState(t)

	attacker := r.mustDial(t, "agent1")
	n := 0
	var phantoms []string
	// check compares tb with the state before this attack (each attack is
	// judged on its own, so one that gets through does not fail the next).
	check := func(t *testing.T) {
		t.Helper()
		n++
		r.barrier(t, attacker, n)
		if after := r.victimState(t); after != before {
			t.Errorf("tenant tb changed:\nbefore %s\nafter %s", before, after)
			before = after
		}
		if p := r.phantomTenants(t); len(p) > len(phantoms) {
			t.Errorf("phantom tenants appeared: %v", p)
			phantoms = p
		}
		for {
			m, err := confirms.NextMsg(10 * time.Millisecond)
			if err != nil {
				break
			}
			// tb's own confirmations come and go; one about the
			// attacker's records does not.
			if m.Subject != wire.ConfirmSubject("tb", "agent2") || strings.Contains(string(m.Data), fmt.Sprintf(`"sys_mod_count":%d`, attackerModCount)) {
				t.Errorf("tb/agent2 got %s: %s", m.Subject, m.Data)
			}
		}
	}

	targets := []string{
		wire.HeartbeatSubject("tb", "agent2"),
		wire.HeartbeatSubject("victim", "ceo"),
		wire.IngestSubject("tb", "snow", "incident"),
		"sei.relay.admin.quarantine.list",
		"sei.relay.admin.quarantine.replay",
		"sei.relay.admin.account.update",
		"sei.relay.admin.registry.reload",
		"$JS.API.STREAM.INFO." + wire.StreamName,
		"$JS.API.STREAM.PURGE." + wire.StreamName,
		"$JS.API.CONSUMER.DELETE." + wire.StreamName + ".sei-relay",
		"_INBOX.tb.agent2.x",
		wire.AgentSubject("tb", "agent2") + ".confirm",
	}
	ajs, err := jetstream.New(attacker)
	if err != nil {
		t.Fatal(err)
	}
	for i, target := range targets {
		t.Run("reply subject "+target, func(t *testing.T) {
			m := batchMsg(t, "ta", fmt.Sprintf("reply-%d", i), fmt.Sprintf("reply%d", i), "agent1")
			m.Reply = target
			if err := attacker.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			check(t)
		})
	}
	for _, target := range targets {
		t.Run("publish "+target, func(t *testing.T) {
			m := batchMsg(t, "tb", "forged", "forged", "agent2")
			m.Subject = target
			if err := attacker.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			check(t)
		})
		t.Run("request "+target, func(t *testing.T) {
			if m, err := attacker.Request(target, []byte(`{}`), 300*time.Millisecond); err == nil {
				t.Errorf("request on %s answered: %s", target, m.Data)
			}
			check(t)
		})
	}
	for _, subj := range []string{">", wire.IngestWildcard, "sei.ingest.tb.>", wire.HeartbeatPrefix + ".>", "sei.agent.>", "_INBOX.>", "$JS.API.>", "sei.relay.>"} {
		t.Run("subscribe "+subj, func(t *testing.T) {
			sub, err := attacker.SubscribeSync(subj)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			// tb's agent is active while the attacker listens.
			if err := victim.Publish(wire.HeartbeatSubject("tb", "agent2"), []byte(`{"agent":"agent2","version":"victim"}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := vjs.PublishMsg(ctx, batchMsg(t, "tb", "tb-1", "tbrec", "agent2")); err != nil { // a duplicate: no change
				t.Fatal(err)
			}
			n++
			r.barrier(t, attacker, n)
			// tb's own activity changed its state: that is the new baseline.
			before = r.victimState(t)
			for {
				if _, err := confirms.NextMsg(10 * time.Millisecond); err != nil {
					break
				}
			}
			for {
				m, err := sub.NextMsg(10 * time.Millisecond)
				if err != nil {
					break
				}
				if !strings.HasPrefix(m.Subject, "sei.ingest.ta.") && !strings.HasPrefix(m.Subject, "_INBOX.ta.agent1.") && !strings.HasPrefix(m.Subject, "sei.agent.ta.agent1.") && m.Subject != wire.HeartbeatSubject("ta", "agent1") {
					t.Errorf("attacker received %s", m.Subject)
				}
			}
		})
	}
	t.Run("cannot read or change the stream", func(t *testing.T) {
		qctx, qcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer qcancel()
		if _, err := ajs.Stream(qctx, wire.StreamName); err == nil {
			t.Error("attacker read the stream's info")
		}
		check(t)
	})
}

// TestAttackForgedAgentHeader sends ta/agent1's batch claiming to come from
// ta/agent3: the relay refuses it (the publish fails, the refusal is
// counted), stores nothing, and agent3 gets no confirmation for a batch it
// never sent.
func TestAttackForgedAgentHeader(t *testing.T) {
	r := startAttackRelay(t)
	agent3 := r.mustDial(t, "agent3")
	confirms, err := agent3.SubscribeSync(wire.AgentSubject("ta", "agent3") + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := agent3.Flush(); err != nil {
		t.Fatal(err)
	}
	attacker := r.mustDial(t, "agent1")
	js, err := jetstream.New(attacker)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, batchMsg(t, "ta", "forged-1", "forged", "agent3")); err == nil {
		t.Error("batch with a forged Sei-Agent acknowledged")
	}
	r.barrier(t, attacker, 1)
	if body, _ := httpGet(r.ri.HTTPURL+"/v1/records?tenant=ta", r.adminToken); strings.Contains(body, `"sys_id":"forged"`) {
		t.Errorf("forged batch stored: %s", body)
	}
	metrics, _ := httpGet(r.ri.HTTPURL+"/metrics", r.adminToken)
	if !strings.Contains(metrics, `sei_relay_ingest_batches_rejected_total{reason="agent"} 1`) {
		t.Errorf("forged header not counted in sei_relay_ingest_batches_rejected_total{reason=\"agent\"}")
	}
	if m, err := confirms.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("agent3 got a confirmation for a batch it never sent: %s", m.Data)
	}
}

// TestAttackForgedHeartbeat sends heartbeats naming another agent of the
// attacker's own tenant, and a batch whose reply subject is that agent's
// heartbeat subject (the PubAck would arrive as a heartbeat): neither is
// stored as agent3's heartbeat.
func TestAttackForgedHeartbeat(t *testing.T) {
	r := startAttackRelay(t)
	attacker := r.mustDial(t, "agent1")
	if err := attacker.Publish(wire.HeartbeatSubject("ta", "agent3"), []byte(`{"agent":"agent3","version":"forged"}`)); err != nil {
		t.Fatal(err)
	}
	m := batchMsg(t, "ta", "reply-hb", "replyhb", "agent1")
	m.Reply = wire.HeartbeatSubject("ta", "agent3")
	if err := attacker.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	r.barrier(t, attacker, 1)
	if body, _ := httpGet(r.ri.HTTPURL+"/v1/agents?tenant=ta", r.adminToken); strings.Contains(body, `"agent":"agent3"`) {
		t.Errorf("heartbeat of agent3 stored, sent by agent1: %s", body)
	}
}

// TestAttackConnectionLimit opens as many connections with ta/agent1's
// credentials as its whole tenant may hold (DefaultConnsPerAgent for each
// of agent1 and agent3), and more: the relay closes agent1's connections
// beyond its own limit, the ones it held first stay, agent3 still gets
// every one of its own slots, and tb's agent connects. Before the limit was
// per agent (the server counts per account only), agent1 took agent3's
// slots.
func TestAttackConnectionLimit(t *testing.T) {
	r := startAttackRelay(t)
	per := enroll.DefaultConnsPerAgent
	var first, extra []*nats.Conn
	for i := range 2*per + 2 {
		nc, err := r.dial(t, "agent1")
		if err != nil {
			continue // refused at the tenant's ceiling, or closed at once: either is fine
		}
		t.Cleanup(nc.Close)
		if i < per {
			first = append(first, nc)
		} else {
			extra = append(extra, nc)
		}
	}
	if len(first) != per {
		t.Fatalf("agent1 got %d of its first %d connections", len(first), per)
	}
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		for i, nc := range extra {
			if !nc.IsClosed() {
				return fmt.Errorf("agent1's connection %d beyond its limit of %d is still open", per+i+1, per)
			}
		}
		return nil
	})
	for i, nc := range first {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			t.Errorf("agent1's connection %d, within its limit, was closed: %v", i+1, err)
		}
	}
	var own []*nats.Conn
	for i := range per {
		nc, err := r.dial(t, "agent3")
		if err != nil {
			t.Fatalf("agent3's connection %d of %d refused while agent1 flooded: %v", i+1, per, err)
		}
		t.Cleanup(nc.Close)
		own = append(own, nc)
	}
	for i, nc := range own {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			t.Errorf("agent3's connection %d closed: %v", i+1, err)
		}
	}
	nc, err := r.dial(t, "agent2")
	if err != nil {
		t.Fatalf("tb's agent refused while ta is at its limit: %v", err)
	}
	nc.Close()
	metrics, _ := httpGet(r.ri.HTTPURL+"/metrics", r.adminToken)
	if !strings.Contains(metrics, "sei_relay_agent_connections_refused_total") || strings.Contains(metrics, "sei_relay_agent_connections_refused_total 0\n") {
		t.Errorf("closed connections not counted in sei_relay_agent_connections_refused_total")
	}
}
