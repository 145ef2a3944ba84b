package natstest

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartServesJetStream(t *testing.T) {
	srv := Start(t, nil)
	if srv.Addr() == nil || srv.ClientURL() == "nats://127.0.0.1:4222" {
		t.Fatalf("server on %v, want a free port", srv.ClientURL())
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.JetStream(); err != nil {
		t.Fatal(err)
	}
	if !srv.JetStreamEnabled() {
		t.Fatal("JetStream is off")
	}
}

func TestCheckForPolls(t *testing.T) {
	n := 0
	CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Errorf("f called %d times, want 3", n)
	}
}
