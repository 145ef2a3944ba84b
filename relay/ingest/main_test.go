package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is one in-process JetStream server with a client connection.
type env struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

func startNATS(t testing.TB) *env {
	t.Helper()
	srv := natstest.Start(t, &server.Options{JetStreamMaxStore: 256 << 20})
	nc := connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := EnsureStream(t.Context(), js, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, nc: nc, js: js}
}

func connect(t testing.TB, srv *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// testConfig is a Config with fast timings for tests.
func (e *env) testConfig(t testing.TB, st store.Store) Config {
	return Config{
		JS:         e.js,
		Conn:       e.nc,
		Store:      st,
		Logger:     zerolog.New(zerolog.NewTestWriter(t)),
		MaxDeliver: 3,
		// Short, so a message lost in transit comes back well within the
		// tests' timeouts; InProgress covers slow writes.
		AckWait:         5 * time.Second,
		NakDelay:        10 * time.Millisecond,
		MaxNakDelay:     50 * time.Millisecond,
		ConfirmInterval: 50 * time.Millisecond,
		LagInterval:     50 * time.Millisecond,
	}
}

// running is a Consumer started by start; stop ends it.
type running struct {
	c    *Consumer
	reg  *prometheus.Registry
	stop func()
}

// start runs a Consumer until the test ends (or stop), and checks that Run
// returned nil.
func start(t testing.TB, cfg Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return &running{c: c, reg: reg, stop: stop}
}

// metric returns the value of a counter or gauge (with the given label
// pairs) from reg, or -1 when it is absent.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

// rec builds an upsert record of table with a version.
func rec(table, id string, minute, mod int) wire.Record {
	return wire.Record{
		Op:           wire.OpUpsert,
		Table:        table,
		SysID:        id,
		SysUpdatedOn: fmt.Sprintf("2026-01-01 10:%02d:00", minute),
		SysModCount:  int64(mod),
		Fields:       map[string]json.RawMessage{"number": json.RawMessage(strconv.Quote(id)), "mod": json.RawMessage(strconv.Itoa(mod))},
	}
}

// batchMsg builds a well-formed batch message.
func batchMsg(t testing.TB, subject, id, agent string, recs []wire.Record) *nats.Msg {
	t.Helper()
	body, err := wire.Encode(recs)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	m := nats.NewMsg(subject)
	m.Header.Set(wire.HeaderMsgID, id)
	m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
	m.Header.Set(wire.HeaderEncoding, wire.Encoding)
	m.Header.Set(wire.HeaderRecords, strconv.Itoa(len(recs)))
	if agent != "" {
		m.Header.Set(wire.HeaderAgent, agent)
	}
	m.Data = body
	return m
}

func (e *env) publish(t testing.TB, m *nats.Msg) {
	t.Helper()
	ack, err := e.js.PublishMsg(t.Context(), m)
	if err != nil {
		t.Fatalf("publish %s: %v", m.Subject, err)
	}
	if ack.Duplicate {
		t.Fatalf("publish %s: duplicate", m.Header.Get(wire.HeaderMsgID))
	}
}

// waitDrained waits until the durable has nothing pending or unacknowledged.
func (e *env) waitDrained(t *testing.T) {
	t.Helper()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		c, err := e.js.Consumer(t.Context(), wire.StreamName, DefaultDurable)
		if err != nil {
			return err
		}
		info, err := c.Info(t.Context())
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer: %d pending, %d ack pending", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

// memStore is an in-memory store.Store with "newest version wins", and hooks
// to make it fail.
type memStore struct {
	store.Feed // not used by the consumer; nil

	mu sync.Mutex
	// mu guards the fields below
	recs        map[string]store.Record
	agents      map[string]store.Agent
	quarantined map[string]store.Quarantined
	applied     int // sum of Result.Applied
	ignored     int // sum of Result.Ignored
	calls       int // Apply calls
	// failApply, when set, is called before each Apply; an error fails it.
	failApply func(call int, recs []store.Record) error
	// failAfterCommit, when set, fails Apply after the commit (a lost reply).
	failAfterCommit func(call int) error
	failQuarantine  error
	parts           map[string]store.Part // by partKey
	partsDone       map[string]time.Time  // by partSetKey
	// failDeleteParts is how many DeleteParts calls still fail (a crash
	// after the set was applied).
	failDeleteParts int
}

func newMemStore() *memStore {
	return &memStore{recs: map[string]store.Record{}, agents: map[string]store.Agent{}, quarantined: map[string]store.Quarantined{},
		parts: map[string]store.Part{}, partsDone: map[string]time.Time{}}
}

func partSetKey(tenant, integration, set string) string {
	return tenant + "/" + integration + "/" + set + "/"
}

func (s *memStore) PutPart(ctx context.Context, p store.Part) error {
	if err := store.CheckPart(&p); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.partsDone[partSetKey(p.Tenant, p.Integration, p.Set)]; ok {
		return store.ErrPartSetDone
	}
	s.parts[fmt.Sprintf("%s%04d", partSetKey(p.Tenant, p.Integration, p.Set), p.Index)] = p
	return nil
}

func (s *memStore) Parts(ctx context.Context, tenant, integration, set string) ([]store.Part, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Part
	for k, p := range s.parts {
		if strings.HasPrefix(k, partSetKey(tenant, integration, set)) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

func (s *memStore) DeleteParts(ctx context.Context, tenant, integration, set string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failDeleteParts > 0 {
		s.failDeleteParts--
		return errors.New("connection lost before deleting the parts")
	}
	for k := range s.parts {
		if strings.HasPrefix(k, partSetKey(tenant, integration, set)) {
			delete(s.parts, k)
		}
	}
	return nil
}

func (s *memStore) FinishParts(ctx context.Context, tenant, integration, set string, at time.Time) error {
	if err := s.DeleteParts(ctx, tenant, integration, set); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.partsDone[partSetKey(tenant, integration, set)]; !ok {
		s.partsDone[partSetKey(tenant, integration, set)] = at
	}
	return nil
}

func (s *memStore) ExpireParts(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range s.partsDone {
		if at.Before(before) {
			delete(s.partsDone, k)
		}
	}
	old := map[string]bool{}
	for _, p := range s.parts {
		if p.Time.Before(before) {
			old[partSetKey(p.Tenant, p.Integration, p.Set)] = true
		}
	}
	for k := range s.parts {
		if old[k[:strings.LastIndex(k, "/")+1]] {
			delete(s.parts, k)
		}
	}
	return len(old), nil
}

// partCount returns how many parts the store holds.
func (s *memStore) partCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.parts)
}

func key(r store.Record) string {
	return r.Tenant + "/" + r.Integration + "/" + r.Table + "/" + r.SysID
}

func (s *memStore) Apply(ctx context.Context, recs []store.Record) (store.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failApply != nil {
		if err := s.failApply(s.calls, recs); err != nil {
			return store.Result{}, err
		}
	}
	var res store.Result
	for _, r := range recs {
		old, ok := s.recs[key(r)]
		if ok && !r.Version().Newer(old.Version()) {
			res.Ignored++
			continue
		}
		s.recs[key(r)] = r
		res.Applied++
	}
	s.applied += res.Applied
	s.ignored += res.Ignored
	if s.failAfterCommit != nil {
		if err := s.failAfterCommit(s.calls); err != nil {
			return store.Result{}, err
		}
	}
	return res, nil
}

func (s *memStore) List(ctx context.Context, q store.Query) ([]store.Record, string, error) {
	return nil, "", fmt.Errorf("not used")
}

func (s *memStore) PutAgent(ctx context.Context, a store.Agent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents[a.Tenant+"/"+a.Agent] = a
	return nil
}

func (s *memStore) Agents(ctx context.Context, tenant string) ([]store.Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Agent
	for _, a := range s.agents {
		if tenant == "" || a.Tenant == tenant {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant+"/"+out[i].Agent < out[j].Tenant+"/"+out[j].Agent })
	return out, nil
}

func (s *memStore) Quarantine(ctx context.Context, q store.Quarantined, lim store.QuarantineLimits) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failQuarantine != nil {
		return s.failQuarantine
	}
	if err := store.CheckQuarantineID(q.Tenant, q.ID); err != nil {
		return err
	}
	k := q.Tenant + "\x00" + q.ID
	if _, ok := s.quarantined[k]; ok {
		return store.ErrQuarantineExists
	}
	n, bytes := 0, int64(0)
	for _, e := range s.quarantined {
		if e.Tenant == q.Tenant {
			n, bytes = n+1, bytes+int64(len(e.Data))
		}
	}
	if lim.Full(n, bytes, int64(len(q.Data))) {
		return store.ErrQuarantineFull
	}
	q.Size = len(q.Data)
	s.quarantined[k] = q
	return nil
}

func (s *memStore) QuarantineList(ctx context.Context, q store.QuarantineQuery) ([]store.Quarantined, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Quarantined
	for _, e := range s.quarantined {
		if q.Tenant == "" || e.Tenant == q.Tenant {
			e.Data = nil
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant+"\x00"+out[i].ID < out[j].Tenant+"\x00"+out[j].ID })
	return out, "", nil
}

func (s *memStore) QuarantinedBatch(ctx context.Context, tenant, id string) (store.Quarantined, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.quarantined[tenant+"\x00"+id]
	if !ok {
		return q, store.ErrNotFound
	}
	return q, nil
}

func (s *memStore) Release(ctx context.Context, tenant, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.quarantined, tenant+"\x00"+id)
	return nil
}

// quarantinedAll lists st's whole quarantine, data included.
func quarantinedAll(t testing.TB, st store.Store) ([]store.Quarantined, error) {
	t.Helper()
	var out []store.Quarantined
	after := ""
	for {
		page, next, err := st.QuarantineList(t.Context(), store.QuarantineQuery{After: after})
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			q, err := st.QuarantinedBatch(t.Context(), m.Tenant, m.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, q)
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}

func (s *memStore) Ping(ctx context.Context) error { return nil }
func (s *memStore) Close() error                   { return nil }

// snapshot returns a copy of the stored records by key.
func (s *memStore) snapshot() map[string]store.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]store.Record, len(s.recs))
	for k, v := range s.recs {
		out[k] = v
	}
	return out
}

func (s *memStore) counts() (applied, ignored, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied, s.ignored, s.calls
}

func (s *memStore) quarantinedIDs() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, q := range s.quarantined {
		out[q.ID] = q.Reason
	}
	return out
}

// zstdOf compresses raw as a batch body.
func zstdOf(t testing.TB, raw []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil)
}
