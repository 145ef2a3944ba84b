package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store/storetest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// These tests run the relay the way it is deployed at scale: `sei-relay run`
// against an external NATS server or cluster (nats.url), with PostgreSQL
// shared by several relays, or with an R3 stream that loses a node.

const scaleToken = "scale-token"

// TestTwoRelaysIntoPostgres runs two relays, each with its own data_dir and
// HTTP port, against one external NATS server and one PostgreSQL schema.
// Three publishers push a few thousand records of two tenants in many
// batches, out of version order, some batches republished with the same
// Nats-Msg-Id (deduplicated by JetStream) and some with a new one (the
// store must ignore them). Both relays must have done work, and the store
// must hold exactly the newest version of every key, each once, under its
// own tenant.
func TestTwoRelaysIntoPostgres(t *testing.T) {
	dsn := storetest.PostgresSchema(t)
	ns := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cfg := func(dir string) string {
		return fmt.Sprintf(`
data_dir: %q
http: {listen: "127.0.0.1:0", token: %s}
nats: {url: %q}
store: {kind: postgres, dsn: %q}
stream: {max_bytes: 64MiB, replicas: 1}
consumer: {ack_wait: 10s}
log: {level: warn}
`, filepath.Join(dir, "data"), scaleToken, ns.ClientURL(), dsn)
	}
	relays := []*relayProc{startRelayProc(t, "relay-a", cfg), startRelayProc(t, "relay-b", cfg)}

	nc, js := connectJS(t, ns.ClientURL())
	defer nc.Close()
	// Publish only once both relays wait on the shared durable, so that the
	// server has two pull requests to spread the batches over.
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		info, err := consumerInfo(ctx, js)
		if err != nil {
			return err
		}
		if info.NumWaiting < 2 {
			return fmt.Errorf("consumer %s has %d waiting pull requests, want 2", ingest.DefaultDurable, info.NumWaiting)
		}
		return nil
	})

	rng := rand.New(rand.NewPCG(7, 11))
	var batches []testBatch
	for _, tn := range []struct {
		tenant string
		keys   int
	}{{"acme", 300}, {"globex", 60}} {
		for _, table := range []string{"incident", "change_request", "sys_user"} {
			recs := history(tn.tenant, table, tn.keys, func(int) int { return 1 + rng.IntN(5) }, func(int, int) bool { return rng.IntN(7) == 0 })
			rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
			batches = append(batches, chunk(tn.tenant, "snow", table, recs, func() int { return 1 + rng.IntN(25) })...)
		}
	}
	want := newest(batches) // before the copies: they change nothing
	distinct := len(batches)
	sameID := 0
	for i := range distinct {
		switch rng.IntN(10) {
		case 0: // the agent lost the PubAck and publishes again
			batches = append(batches, batches[i])
			sameID++
		case 1: // the same records again, long after the dedup window
			again := batches[i]
			again.id += "-again"
			batches = append(batches, again)
			distinct++
		}
	}
	rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	records := 0
	for _, b := range batches {
		records += len(b.records)
	}
	t.Logf("publishing %d batches (%d records, %d distinct ids, %d same-id republishes) for %d keys",
		len(batches), records, distinct, sameID, len(want))

	const publishers = 3
	var dups atomic.Int64
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := p; i < len(batches); i += publishers {
				b := batches[i]
				b.agent = fmt.Sprintf("agent-%d", p)
				ack, _, err := publishRetry(ctx, js, b, 10*time.Second)
				if err != nil {
					t.Errorf("publisher %d: %v", p, err)
					return
				}
				if ack.Duplicate {
					dups.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := int(dups.Load()); got != sameID {
		t.Errorf("JetStream reported %d duplicate publishes, want %d", got, sameID)
	}

	waitDrained(ctx, t, js, 30*time.Second)
	checkRecords(ctx, t, relays[1], want)
	checkRecords(ctx, t, relays[0], want)
	var total float64
	for _, r := range relays {
		n := r.metric(t, "sei_relay_ingest_batches_applied_total")
		t.Logf("%s applied %.0f batches", r.name, n)
		if n == 0 {
			t.Errorf("%s applied no batch: the relays do not share the work", r.name)
		}
		total += n
	}
	if total < float64(distinct) {
		t.Errorf("the relays applied %.0f batches, want at least the %d stored", total, distinct)
	}
	checkRowCount(ctx, t, dsn, len(want))
	for _, r := range relays {
		r.stop(t)
	}
}

// TestClusterNodeLossMidIngest runs one relay against a three-node NATS
// cluster (nats.url lists every node) in operator mode, the tenant account
// model of relay/doc.go: the relay connects as a user of the relay account
// (relay-admin.creds), each publisher as an enrolled agent of tenant acme
// with its own credentials, through the tenant's ingest import and the
// relay's gateway. An R3 stream and a Badger store.
// Four publishers push batches, retrying with the same Nats-Msg-Id on any
// error; a third of the way through, once the relay has applied batches, one
// node is shut down while the rest is published and consumed: the stream
// leader (acknowledged writes must survive it), or the node the relay is
// connected to (the relay must reconnect and resume). Every acknowledged
// record must end in the store at its newest version.
func TestClusterNodeLossMidIngest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		victim func(ctx context.Context, t *testing.T, st jetstream.Stream, nodes []*server.Server) *server.Server
	}{
		{"stream_leader", streamLeader},
		{"relay_node", func(_ context.Context, t *testing.T, _ jetstream.Stream, nodes []*server.Server) *server.Server {
			return clientNode(t, nodes, "sei-relay")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testNodeLoss(t, tc.victim) })
	}
}

// testNodeLoss is TestClusterNodeLossMidIngest with the node victim picks.
func testNodeLoss(t *testing.T, victimOf func(context.Context, *testing.T, jetstream.Stream, []*server.Server) *server.Server) {
	const publishers = 4
	var agents []string
	for p := range publishers {
		agents = append(agents, fmt.Sprintf("agent-%d", p))
	}
	acc := newAccountsSetup(t, "acme", agents...)
	nodes := startNATSClusterWith(t, acc.nodeOptions(t))
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.ClientURL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// The test reads the stream and consumer as a relay-account user.
	nc, js := connectJS(t, strings.Join(urls, ","), nats.UserCredentials(acc.adminCreds))
	defer nc.Close()
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		defer acancel()
		_, err := js.AccountInfo(actx) // answers once the meta group has a leader
		return err
	})

	rly := startRelayProcAt(t, "relay", acc.dataDir, func(string) string {
		return fmt.Sprintf(`
data_dir: %q
http: {listen: "127.0.0.1:0", token: %s}
nats: {url: %q, credentials: %q}
stream: {max_bytes: 64MiB, replicas: 3}
consumer: {ack_wait: 5s}
log: {level: warn}
`, acc.dataDir, scaleToken, strings.Join(urls, ","), acc.adminCreds)
	})
	var stream jetstream.Stream
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() (err error) {
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		defer scancel()
		if stream, err = js.Stream(sctx, wire.StreamName); err != nil {
			return err
		}
		info, err := consumerInfo(ctx, js)
		if err != nil {
			return err
		}
		if info.NumWaiting < 1 {
			return errors.New("the relay has no pull request on the consumer yet")
		}
		return nil
	})
	sinfo, err := streamInfo(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if sinfo.Config.Replicas != 3 || sinfo.Cluster == nil || len(sinfo.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s: replicas %d, cluster %+v; want R3", wire.StreamName, sinfo.Config.Replicas, sinfo.Cluster)
	}

	// Each publisher is one agent: its table's records, version by version,
	// in order, as an agent polling a changing table sends them.
	const (
		keys     = 150
		versions = 4
		perBatch = 10
	)
	// Each publisher connects with its own agent's credentials, as
	// sei-agent does.
	pjs := make([]jetstream.JetStream, publishers)
	for p := range publishers {
		pnc, js := connectJS(t, strings.Join(urls, ","), nats.UserCredentials(acc.creds[agents[p]]),
			nats.CustomInboxPrefix(wire.InboxPrefix("acme", agents[p])))
		defer pnc.Close()
		pjs[p] = js
	}
	tables := []string{"incident", "change_request", "sys_user", "sys_user_group"}
	perAgent := make([][]testBatch, publishers)
	var all []testBatch
	for p := range publishers {
		recs := history("acme", tables[p], keys, func(int) int { return versions }, func(k, _ int) bool { return k%9 == 0 })
		slices.SortStableFunc(recs, func(a, b wire.Record) int { return int(a.SysModCount - b.SysModCount) })
		perAgent[p] = chunk("acme", "snow", tables[p], recs, func() int { return perBatch })
		for i := range perAgent[p] {
			perAgent[p][i].agent = agents[p]
		}
		all = append(all, perAgent[p]...)
	}
	want := newest(all)

	// The publishers stop at a third until the node's shutdown starts, so
	// that their next batches race it, and at two thirds until it is gone,
	// so that the last third goes to the degraded cluster.
	var firstThird sync.WaitGroup
	firstThird.Add(publishers)
	resume, killed := make(chan struct{}), make(chan struct{})
	var retries, published atomic.Int64
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			n := len(perAgent[p])
			for i, b := range perAgent[p] {
				var gate <-chan struct{}
				switch i {
				case n / 3:
					firstThird.Done()
					gate = resume
				case 2 * n / 3:
					gate = killed
				}
				if gate != nil {
					select {
					case <-gate:
					case <-ctx.Done():
						return
					}
				}
				_, failed, err := publishRetry(ctx, pjs[p], b, 45*time.Second)
				retries.Add(int64(failed))
				if err != nil {
					t.Errorf("publisher %d: %v", p, err)
					return
				}
				published.Add(1)
			}
		})
	}
	waitGroup(ctx, t, &firstThird)
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n := rly.metric(t, "sei_relay_ingest_batches_applied_total"); n == 0 {
			return errors.New("the relay applied no batch yet")
		}
		return nil
	})
	leader := streamLeader(ctx, t, stream, nodes)
	victim := victimOf(ctx, t, stream, nodes)
	cleader := "?"
	if cinfo, err := consumerInfo(ctx, js); err == nil && cinfo.Cluster != nil {
		cleader = cinfo.Cluster.Leader
	}
	t.Logf("stream leader %s, consumer leader %s, relay connected to %s: shutting down %s with %d/%d batches published",
		leader.Name(), cleader, connectedTo(nodes, "sei-relay"), victim.Name(), published.Load(), len(all))
	go func() {
		defer close(killed)
		victim.Shutdown()
		victim.WaitForShutdown()
	}()
	close(resume)
	<-killed
	t.Logf("%s is down with %d/%d batches published, %.0f applied", victim.Name(), published.Load(), len(all),
		rly.metric(t, "sei_relay_ingest_batches_applied_total"))
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("published %d batches (%d records), %d publish attempts retried", len(all), len(all)*perBatch, retries.Load())

	waitDrained(ctx, t, js, 60*time.Second)
	checkRecords(ctx, t, rly, want)
	if sinfo, err := streamInfo(ctx, stream); err == nil && sinfo.Cluster != nil {
		t.Logf("after the loss: stream leader %s, %d replicas known", sinfo.Cluster.Leader, len(sinfo.Cluster.Replicas))
	}
	rly.stop(t)
}
