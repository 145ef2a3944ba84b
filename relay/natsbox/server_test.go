package natsbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t *testing.T) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	}
	return zerolog.New(io.Discard)
}

// relay is an embedded server under test with its registry Watch loop.
type relay struct {
	*Server
	dir string
	nc  *nats.Conn
	js  jetstream.JetStream
}

func startRelay(t *testing.T) *relay {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Config{
		DataDir: dir, Listen: "127.0.0.1:0", SyncAlways: true,
		MaxStore: 256 << 20, MaxMemory: 32 << 20, Log: testLogger(t),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	nc, err := s.Connect("relay-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		cancel()
		s.Shutdown()
	})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The relay's gateway forwards what the tenants' ingest imports
	// deliver to the stream.
	gw := ingest.NewGateway(nc, "test", testLogger(t), nil)
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-gwDone })
	if _, err := ingest.EnsureStream(ctx, js, ingest.StreamConfig{MaxBytes: 64 << 20, Replicas: 1, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return &relay{Server: s, dir: dir, nc: nc, js: js}
}

// agentConn is an agent's connection with its asynchronous errors.
type agentConn struct {
	*nats.Conn
	errs         chan error
	disconnected chan struct{}
	once         sync.Once
}

// enrollAgent enrolls tenant/agent and returns its credentials path.
func (r *relay) enrollAgent(t *testing.T, tenant, integration, agent string) string {
	t.Helper()
	_, creds, tok, err := r.registry(t).Enroll(tenant, integration, agent, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateAccount(tok); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), agent+".creds")
	if err := enroll.WriteCredentials(path, creds); err != nil {
		t.Fatal(err)
	}
	return path
}

func (r *relay) registry(t *testing.T) *enroll.Registry {
	t.Helper()
	reg, err := enroll.NewRegistry(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func (r *relay) dialAgent(tenant, agent, creds string) (*agentConn, error) {
	ac := &agentConn{errs: make(chan error, 64), disconnected: make(chan struct{})}
	nc, err := nats.Connect(r.ClientURL(), nats.UserCredentials(creds),
		nats.RootCAs(r.CAFile()),
		nats.CustomInboxPrefix(wire.InboxPrefix(tenant, agent)),
		nats.MaxReconnects(2), nats.ReconnectWait(20*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case ac.errs <- err:
			default:
			}
		}),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { ac.once.Do(func() { close(ac.disconnected) }) }),
	)
	if err != nil {
		return nil, err
	}
	ac.Conn = nc
	return ac, nil
}

func (r *relay) mustDialAgent(t *testing.T, tenant, agent, creds string) *agentConn {
	t.Helper()
	var ac *agentConn
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() (err error) {
		ac, err = r.dialAgent(tenant, agent, creds)
		return err
	})
	t.Cleanup(ac.Close)
	return ac
}

// wantViolation waits for a permissions violation naming subject.
func (ac *agentConn) wantViolation(t *testing.T, subject string) {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case err := <-ac.errs:
			if strings.Contains(err.Error(), "Permissions Violation") && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
		case <-timeout:
			t.Fatalf("no permissions violation for %q", subject)
		}
	}
}

func TestAgentPermissions(t *testing.T) {
	r := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	credsA := r.enrollAgent(t, "ta", "snow", "agent1")
	r.enrollAgent(t, "tb", "snow", "agent2")
	a := r.mustDialAgent(t, "ta", "agent1", credsA)

	t.Run("publishes its batch and gets a PubAck", func(t *testing.T) {
		ajs, err := jetstream.New(a.Conn)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := ajs.Publish(ctx, wire.IngestSubject("ta", "snow", "incident"), []byte("batch"), jetstream.WithMsgID("b1"))
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if ack.Stream != wire.StreamName || ack.Sequence != 1 {
			t.Errorf("PubAck = %+v", ack)
		}
		ack, err = ajs.Publish(ctx, wire.IngestSubject("ta", "snow", "incident"), []byte("batch"), jetstream.WithMsgID("b1"))
		if err != nil || !ack.Duplicate {
			t.Errorf("re-publish: ack %+v, err %v; want duplicate", ack, err)
		}
	})
	t.Run("heartbeat and addressed messages", func(t *testing.T) {
		hb, err := r.nc.SubscribeSync(wire.HeartbeatSubject("ta", "agent1"))
		if err != nil {
			t.Fatal(err)
		}
		confirm, err := a.SubscribeSync(wire.ConfirmSubject("ta", "agent1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := r.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := a.Publish(wire.HeartbeatSubject("ta", "agent1"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if _, err := hb.NextMsg(3 * time.Second); err != nil {
			t.Errorf("relay did not get heartbeat: %v", err)
		}
		if err := r.nc.Publish(wire.ConfirmSubject("ta", "agent1"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if _, err := confirm.NextMsg(3 * time.Second); err != nil {
			t.Errorf("agent did not get its confirmation: %v", err)
		}
	})
	for _, subj := range []string{
		wire.IngestSubject("tb", "snow", "incident"),  // other tenant
		wire.IngestSubject("ta", "other", "incident"), // other integration
		wire.HeartbeatSubject("ta", "agent2"),         // other agent's heartbeat
		wire.ConfirmSubject("ta", "agent1"),           // only the relay talks to the agent
		"$JS.API.STREAM.INFO." + wire.StreamName,
	} {
		t.Run("cannot publish "+subj, func(t *testing.T) {
			if err := a.Publish(subj, []byte("x")); err != nil {
				t.Fatal(err)
			}
			a.wantViolation(t, subj)
		})
	}
	for _, subj := range []string{
		wire.IngestWildcard,
		wire.IngestFilter("ta", "snow"), // not even its own data
		"_INBOX.>",
		wire.InboxPrefix("tb", "agent2") + ".>",
		wire.AgentSubject("tb", "agent2") + ".>",
		wire.HeartbeatPrefix + ".>",
		"$JS.API.>",
		">",
	} {
		t.Run("cannot subscribe "+subj, func(t *testing.T) {
			if _, err := a.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			a.wantViolation(t, subj)
		})
	}
	t.Run("cannot read JetStream", func(t *testing.T) {
		ajs, err := jetstream.New(a.Conn)
		if err != nil {
			t.Fatal(err)
		}
		qctx, qcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer qcancel()
		if _, err := ajs.Stream(qctx, wire.StreamName); err == nil {
			t.Error("agent read stream info")
		}
		if _, err := ajs.CreateOrUpdateConsumer(qctx, wire.StreamName, jetstream.ConsumerConfig{Name: "steal"}); err == nil {
			t.Error("agent created a consumer")
		}
	})
	t.Run("stream holds only the permitted batch", func(t *testing.T) {
		st, err := r.js.Stream(ctx, wire.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 1 {
			t.Errorf("stream has %d messages, want 1", info.State.Msgs)
		}
	})
}

func TestEnrollAndRevokeWithoutRestart(t *testing.T) {
	r := startRelay(t)
	creds1 := r.enrollAgent(t, "ta", "snow", "agent1")
	a1 := r.mustDialAgent(t, "ta", "agent1", creds1)

	// Enrolled while running: connects once the relay reloaded.
	creds2 := r.enrollAgent(t, "ta", "snow", "agent2")
	a2 := r.mustDialAgent(t, "ta", "agent2", creds2)

	tok, err := r.registry(t).Revoke("ta", "agent2")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateAccount(tok); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a2.disconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("revoked agent still connected")
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !a2.IsClosed() {
			return fmt.Errorf("revoked agent's connection status %s, want closed", a2.Status())
		}
		return nil
	})
	if _, err := r.dialAgent("ta", "agent2", creds2); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("revoked agent reconnect: err = %v, want authorization violation", err)
	}
	// The reloads did not disturb the other agent or the relay.
	select {
	case <-a1.disconnected:
		t.Error("agent1 was disconnected by a reload")
	default:
	}
	if !r.nc.IsConnected() {
		t.Error("relay connection lost on reload")
	}
	if err := a1.Publish(wire.HeartbeatSubject("ta", "agent1"), nil); err != nil {
		t.Error(err)
	}
	if err := a1.Flush(); err != nil {
		t.Errorf("agent1 after reloads: %v", err)
	}
}

func TestAdminKeyHasFullAccess(t *testing.T) {
	r := startRelay(t)
	nc, err := nats.Connect(r.ClientURL(), nats.UserCredentials(filepath.Join(r.dir, enroll.AdminCredsFile)), nats.RootCAs(r.CAFile()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, wire.StreamName); err != nil {
		t.Errorf("admin stream info: %v", err)
	}
	if err := HealthCheck(r.nc, r.js)(ctx); err != nil {
		t.Errorf("HealthCheck: %v", err)
	}
	fi, err := os.Stat(filepath.Join(r.dir, enroll.AdminCredsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin key file: %v %v", fi, err)
	}
}

func TestHealthCheckFailsWhenNATSDown(t *testing.T) {
	r := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	check := HealthCheck(r.nc, r.js)
	if err := check(ctx); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	r.Shutdown()
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		cctx, ccancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer ccancel()
		if err := check(cctx); err == nil {
			return errors.New("health check passes with the server down")
		}
		return nil
	})
}

func TestPlaintextListener(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(context.Background(), Config{DataDir: dir, Listen: "127.0.0.1:0", DisableTLS: true,
		MaxStore: 64 << 20, MaxMemory: 16 << 20, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") || s.CAFile() != "" {
		t.Errorf("ClientURL %q CAFile %q", s.ClientURL(), s.CAFile())
	}
	if _, err := os.Stat(filepath.Join(dir, TLSDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tls dir created with TLS disabled: %v", err)
	}
}

func TestStartFailsFastOnBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(context.Background(), Config{DataDir: t.TempDir(), Listen: l.Addr().String(), DisableTLS: true,
		MaxStore: 64 << 20, MaxMemory: 16 << 20, Log: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "nats.listen") {
		t.Fatalf("Start on a busy port: %v", err)
	}
}
