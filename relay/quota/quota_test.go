package quota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/natsbox"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	srv *natsbox.Server
	reg *enroll.Registry
	js  jetstream.JetStream
	dir string
}

func start(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	srv, err := natsbox.Start(context.Background(), natsbox.Config{DataDir: dir, Listen: "127.0.0.1:0", DisableTLS: true,
		MaxStore: 128 << 20, MaxMemory: 16 << 20, Log: zerolog.New(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect("quota-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw := ingest.NewGateway(nc, "test", zerolog.New(io.Discard), nil)
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-gwDone; nc.Close(); srv.Shutdown() })
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.EnsureStream(context.Background(), js, ingest.StreamConfig{MaxBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	reg, err := enroll.NewRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, reg: reg, js: js, dir: dir}
}

// agent enrolls tenant/agent and connects with its credentials.
func (f *fixture) agent(t *testing.T, tenant, agent string) jetstream.JetStream {
	t.Helper()
	_, creds, tok, err := f.reg.Enroll(tenant, "snow", agent, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.UpdateAccount(tok); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), agent+".creds")
	if err := enroll.WriteCredentials(path, creds); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(f.srv.ClientURL(), nats.UserCredentials(path), nats.CustomInboxPrefix(wire.InboxPrefix(tenant, agent)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func publish(ctx context.Context, js jetstream.JetStream, tenant, id string) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := js.Publish(pctx, wire.IngestSubject(tenant, "snow", "incident"), []byte("batch"), jetstream.WithMsgID(id))
	return err
}

// TestTenantAtQuotaIsPausedAlone fills tenant ta's quota (no relay consumes
// the stream here): ta's publishes then fail as in an outage, tb's go on,
// and once ta's batches are drained ta publishes again.
func TestTenantAtQuotaIsPausedAlone(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ta := f.agent(t, "ta", "agent1")
	tb := f.agent(t, "tb", "agent2")
	e, err := New(Config{JS: f.js, MaxMessages: 3, Log: zerolog.New(io.Discard),
		Paused: func() ([]string, error) { return nil, nil },
		SetPaused: func(_ context.Context, tenant string, paused bool) error {
			tok, _, err := f.reg.SetPaused(tenant, paused)
			if err == nil {
				err = f.srv.UpdateAccount(tok)
			}
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := publish(ctx, ta, "ta", fmt.Sprintf("ta-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := publish(ctx, tb, "tb", "tb-0"); err != nil {
		t.Fatal(err)
	}
	if err := e.Check(ctx); err != nil {
		t.Fatal(err)
	}
	err = publish(ctx, ta, "ta", "ta-over")
	if !errors.Is(err, jetstream.ErrNoStreamResponse) && !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("ta publish at quota: %v, want no responders", err)
	}
	if err := publish(ctx, tb, "tb", "tb-1"); err != nil {
		t.Errorf("tb publish while ta is paused: %v", err)
	}
	held, err := Held(ctx, f.js)
	if err != nil || held["ta"] != 3 || held["tb"] != 2 {
		t.Errorf("held %v %v, want ta 3 tb 2", held, err)
	}
	if ten, _, _ := f.reg.Tenant("ta"); !ten.Paused {
		t.Error("pause not recorded in ta's file (a restarted relay would forget it)")
	}

	// The relay drains ta.
	st, err := f.js.Stream(ctx, wire.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(wire.IngestPrefix+".ta.>")); err != nil {
		t.Fatal(err)
	}
	if err := e.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := publish(ctx, ta, "ta", "ta-after"); err != nil {
		t.Errorf("ta publish after drain: %v", err)
	}
}
