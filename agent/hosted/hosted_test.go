package hosted

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

// bucket makes the leases bucket as the relay does, with ttl.
func bucket(t *testing.T, ttl time.Duration) jetstream.JetStream {
	t.Helper()
	ns := natstest.Start(t, nil)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: wire.HostedLeasesBucket, TTL: ttl, History: 1}); err != nil {
		t.Fatal(err)
	}
	return js
}

func TestLeaseExclusiveUntilExpiry(t *testing.T) {
	js := bucket(t, time.Second)
	ctx := context.Background()
	a, err := OpenLeases(ctx, js, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := OpenLeases(ctx, js, "b")
	if a.TTL() != time.Second {
		t.Fatalf("ttl %s", a.TTL())
	}
	la, err := a.Acquire(ctx, "acme.snow")
	if err != nil {
		t.Fatal(err)
	}
	if la.Deadline.Sub(la.Acquired) != 750*time.Millisecond {
		t.Errorf("deadline %s after taking, want 3/4 of the period", la.Deadline.Sub(la.Acquired))
	}
	if _, err := b.Acquire(ctx, "acme.snow"); !errors.Is(err, ErrLost) {
		t.Fatalf("b takes a live lease: %v", err)
	}
	// A writer with a stale revision is refused (the revision check is the
	// fence against a holder that lost its lease).
	if _, err := b.Renew(ctx, Lease{ID: "acme.snow", Revision: la.Revision + 7}); !errors.Is(err, ErrLost) {
		t.Fatalf("renew with a wrong revision: %v", err)
	}
	if la, err = a.Renew(ctx, la); err != nil {
		t.Fatal(err)
	}
	// a stops renewing: once the server drops the key, b takes it, and a's
	// renewal is refused.
	var lb Lease
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		var err error
		lb, err = b.Acquire(ctx, "acme.snow")
		return err
	})
	if _, err := a.Renew(ctx, la); !errors.Is(err, ErrLost) {
		t.Fatalf("a renews a lease b took: %v", err)
	}
	if err := a.Release(ctx, la); err == nil {
		t.Error("a released b's lease")
	}
	v, err := b.Look(ctx)
	if err != nil || v.Holders["acme.snow"] != "b" {
		t.Fatalf("look: %+v %v", v, err)
	}
	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx, "acme.snow"); err != nil {
		t.Fatalf("take after release: %v", err)
	}
}

// runs records the pipelines running, and fails on two at once for one id.
type runs struct {
	mu      sync.Mutex
	running map[string]string // id -> agent
	started map[string]int
	overlap []string
}

func (r *runs) run(agent string) func(ctx context.Context, id string, rev uint64) error {
	return func(ctx context.Context, id string, rev uint64) error {
		r.mu.Lock()
		if other, ok := r.running[id]; ok {
			r.overlap = append(r.overlap, fmt.Sprintf("%s started %s while %s ran it", agent, id, other))
		}
		r.running[id] = agent
		r.started[agent+" "+id]++
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
		return nil
	}
}

func (r *runs) snapshot() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for k, v := range r.running {
		out[k] = v
	}
	return out
}

// TestSupervisorsShareAndHandOver: two supervisors share four
// integrations two and two, never run one twice at once, follow a
// deletion, and when one stops the other takes everything.
func TestSupervisorsShareAndHandOver(t *testing.T) {
	js := bucket(t, 2*time.Second)
	var mu sync.Mutex
	items := []wire.HostedListItem{{ID: "acme.a", Revision: 1}, {ID: "acme.b", Revision: 1}, {ID: "globex.c", Revision: 1}, {ID: "globex.d", Revision: 1}}
	list := func(context.Context) ([]wire.HostedListItem, error) {
		mu.Lock()
		defer mu.Unlock()
		return append([]wire.HostedListItem(nil), items...), nil
	}
	r := &runs{running: map[string]string{}, started: map[string]int{}}
	start := func(name string) (context.CancelFunc, chan error) {
		l, err := OpenLeases(context.Background(), js, name)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		s := New(Config{Leases: l, List: list, Run: r.run(name), Logger: zerolog.Nop()})
		go func() { done <- s.Run(ctx) }()
		return cancel, done
	}
	stopA, doneA := start("a")
	stopB, doneB := start("b")
	defer func() { stopB(); <-doneB }()
	count := func(m map[string]string, agent string) int {
		n := 0
		for _, a := range m {
			if a == agent {
				n++
			}
		}
		return n
	}
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		m := r.snapshot()
		if len(m) != 4 || count(m, "a") != 2 || count(m, "b") != 2 {
			return fmt.Errorf("running %v, want two each", m)
		}
		return nil
	})
	// A changed integration restarts on its holder.
	holder := r.snapshot()["acme.a"]
	mu.Lock()
	items[0].Revision = 2
	items = items[:3] // globex.d deleted
	mu.Unlock()
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		m := r.snapshot()
		r.mu.Lock()
		n := r.started[holder+" acme.a"]
		r.mu.Unlock()
		if _, ok := m["globex.d"]; ok || n < 2 {
			return fmt.Errorf("running %v, acme.a started %d times on %s", m, n, holder)
		}
		return nil
	})
	stopA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if m := r.snapshot(); len(m) != 3 || count(m, "b") != 3 {
			return fmt.Errorf("running %v, want all three on b", m)
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.overlap) > 0 {
		t.Errorf("pipelines ran twice at once: %v", r.overlap)
	}
}

// TestSupervisorFencesOnPartition: a holder cut off from NATS stops its
// pipeline by itself (3/4 of the lease period after its last renewal),
// before the server drops its lease and another agent can take it: never
// two pipelines of one integration at once.
func TestSupervisorFencesOnPartition(t *testing.T) {
	js := bucket(t, 2*time.Second)
	url := js.Conn().ConnectedUrl()
	list := func(context.Context) ([]wire.HostedListItem, error) {
		return []wire.HostedListItem{{ID: "acme.a", Revision: 1}}, nil
	}
	r := &runs{running: map[string]string{}, started: map[string]int{}}
	start := func(name string) (*nats.Conn, context.CancelFunc, chan error) {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		l, err := OpenLeases(context.Background(), js, name)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		s := New(Config{Leases: l, List: list, Run: r.run(name), Logger: zerolog.Nop()})
		go func() { done <- s.Run(ctx) }()
		return nc, cancel, done
	}
	ncA, stopA, doneA := start("a")
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if r.snapshot()["acme.a"] != "a" {
			return fmt.Errorf("a does not run acme.a yet")
		}
		return nil
	})
	ncB, stopB, doneB := start("b")
	defer ncB.Close()
	ncA.Close() // a is cut off: its renewals fail
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if r.snapshot()["acme.a"] != "b" {
			return fmt.Errorf("b does not run acme.a yet")
		}
		return nil
	})
	stopB()
	<-doneB
	stopA()
	<-doneA
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.overlap) > 0 {
		t.Errorf("pipelines ran twice at once: %v", r.overlap)
	}
}

// hangingKV is, once on, a partition in which writes never answer.
type hangingKV struct {
	jetstream.KeyValue
	on *atomic.Bool
}

func (h hangingKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if !h.on.Load() {
		return h.KeyValue.Update(ctx, key, value, rev)
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

func (h hangingKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if !h.on.Load() {
		return h.KeyValue.Put(ctx, key, value)
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestSupervisorFencesWhenRenewalsHang: the holder's renewals hang (no
// answer, no error); its pipeline still stops before another agent takes
// the lease.
func TestSupervisorFencesWhenRenewalsHang(t *testing.T) {
	js := bucket(t, 2*time.Second)
	list := func(context.Context) ([]wire.HostedListItem, error) {
		return []wire.HostedListItem{{ID: "acme.a", Revision: 1}}, nil
	}
	r := &runs{running: map[string]string{}, started: map[string]int{}}
	la, _ := OpenLeases(context.Background(), js, "a")
	var partitioned atomic.Bool
	la.kv = hangingKV{la.kv, &partitioned}
	hang := make(chan struct{})
	var once sync.Once
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	sa := New(Config{Leases: la, List: list, Logger: zerolog.Nop(), Run: func(ctx context.Context, id string, rev uint64) error {
		once.Do(func() { close(hang) })
		return r.run("a")(ctx, id, rev)
	}})
	go func() { doneA <- sa.Run(ctxA) }()
	<-hang // a runs acme.a: from now on its writes hang
	partitioned.Store(true)
	lb, _ := OpenLeases(context.Background(), js, "b")
	ctxB, stopB := context.WithCancel(context.Background())
	doneB := make(chan error, 1)
	go func() { doneB <- New(Config{Leases: lb, List: list, Run: r.run("b"), Logger: zerolog.Nop()}).Run(ctxB) }()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if r.snapshot()["acme.a"] != "b" {
			return fmt.Errorf("b does not run acme.a yet")
		}
		return nil
	})
	stopB()
	<-doneB
	stopA()
	<-doneA
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.overlap) > 0 {
		t.Errorf("pipelines ran twice at once: %v", r.overlap)
	}
}
