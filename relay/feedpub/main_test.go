package feedpub

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(crashURLEnv), os.Getenv(crashRoundEnv)))
	}
	goleak.VerifyTestMain(m)
}

func startNATS(t testing.TB) *server.Server {
	t.Helper()
	return natstest.Start(t, &server.Options{JetStreamMaxStore: 256 << 20})
}

func connectJS(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := EnsureStream(t.Context(), js, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return js
}

func openStore(t testing.TB, dir string) *badgerstore.Store {
	t.Helper()
	st, err := badgerstore.Open(dir, zerolog.Nop())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func rec(tenant, id string, sec int, fields string) store.Record {
	return store.Record{Tenant: tenant, Integration: "sn", Table: "incident", SysID: id,
		SysUpdatedOn: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second).Format(wire.TimeLayout),
		Fields:       []byte(fields)}
}

// streamed is one message of SEI_CHANGES.
type streamed struct {
	subject string
	id      string
	change  store.Change
}

// readStream returns every message SEI_CHANGES holds, in stream order.
func readStream(t testing.TB, js jetstream.JetStream) []streamed {
	t.Helper()
	s, err := js.Stream(t.Context(), wire.ChangesStreamName)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []streamed
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		var c store.Change
		if err := json.Unmarshal(m.Data, &c); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if string(c.Fields) == "null" {
			c.Fields = nil
		}
		id := m.Header.Get(nats.MsgIdHdr)
		if id != c.Position || m.Header.Get(wire.HeaderPosition) != c.Position {
			t.Fatalf("message %d: id %q, %s %q, body position %q", seq, id, wire.HeaderPosition, m.Header.Get(wire.HeaderPosition), c.Position)
		}
		out = append(out, streamed{subject: m.Subject, id: id, change: c})
	}
	return out
}

// feedOf returns the store's whole feed of tenant.
func feedOf(t testing.TB, st store.Store, tenant string) []store.Change {
	t.Helper()
	var all []store.Change
	since := ""
	for {
		page, next, err := st.Changes(t.Context(), store.ChangeQuery{Tenant: tenant, Since: since, Limit: store.MaxLimit})
		if err != nil {
			t.Fatalf("Changes: %v", err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		since = next.String()
	}
}

func sprintIDs(ms []streamed) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf(" %s", m.change.SysID)
	}
	return s
}
