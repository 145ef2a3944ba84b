package natsbox

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// freePorts reserves n TCP ports by listening on :0 (routes need their
// peers' ports up front, so Port -1 does not work for cluster listeners).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startCluster starts three nodes; with reg they run in operator mode,
// each with a directory resolver holding the system, relay and tenants'
// account JWTs, as relay/doc.go tells a cluster operator to set up.
func startCluster(t *testing.T, reg *enroll.Registry, tenants ...string) []*server.Server {
	t.Helper()
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var nodes []*server.Server
	for i, p := range ports {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(), JetStreamMaxStore: 256 << 20, JetStreamMaxMemory: 32 << 20,
			Cluster: server.ClusterOpts{Name: "sei", Host: "127.0.0.1", Port: p},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		if reg != nil {
			operatorMode(t, opts, reg, tenants)
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		ns.SetLoggerV2(serverLogger{testLogger(t)}, false, false, false)
		ns.Start()
		nodes = append(nodes, ns)
	}
	t.Cleanup(func() {
		for _, ns := range nodes {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	})
	for _, ns := range nodes {
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready", ns.Name())
		}
	}
	return nodes
}

// operatorMode sets opts up to trust reg's operator, with a resolver
// directory of its own holding every account JWT.
func operatorMode(t *testing.T, opts *server.Options, reg *enroll.Registry, tenants []string) {
	t.Helper()
	oc, _, err := reg.Keys().OperatorClaims()
	if err != nil {
		t.Fatal(err)
	}
	dr, err := server.NewDirAccResolver(t.TempDir(), 0, 0, server.NoDelete)
	if err != nil {
		t.Fatal(err)
	}
	toks := []string{}
	for _, f := range []func() (string, error){reg.Keys().SystemJWT, reg.Keys().RelayJWT} {
		tok, err := f()
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	for _, tenant := range tenants {
		tok, err := reg.AccountJWT(tenant)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	for _, tok := range toks {
		if err := storeJWT(dr, tok); err != nil {
			t.Fatal(err)
		}
	}
	opts.TrustedOperators, opts.SystemAccount, opts.AccountResolver = []*jwt.OperatorClaims{oc}, oc.SystemAccount, dr
}

// TestClusterR3NoAckedMessageLost publishes to an R3 SEI_INGEST on a
// three-node cluster (the stream exactly as ingest.EnsureStream makes it)
// through Dial, shuts the stream leader
// down mid-publish, and reads every acknowledged message back by msg id.
func TestClusterR3NoAckedMessageLost(t *testing.T) {
	nodes := startCluster(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := Dial(ctx, DialConfig{URL: clusterURLs(nodes), Name: "cluster-test", Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	r3NodeLoss(ctx, t, nodes, js, js)
}

// TestClusterR3AccountsNoAckedMessageLost is the node-loss test in the
// account model: the stream in the relay account, the publisher an agent of
// tenant ta publishing through its import and the relay's gateway (which
// reconnects to the surviving nodes like the relay does).
func TestClusterR3AccountsNoAckedMessageLost(t *testing.T) {
	dir := t.TempDir()
	reg, err := enroll.NewRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, creds, _, err := reg.Enroll("ta", "snow", "agent1", false)
	if err != nil {
		t.Fatal(err)
	}
	agentCreds := filepath.Join(dir, "agent1.creds")
	if err := enroll.WriteCredentials(agentCreds, creds); err != nil {
		t.Fatal(err)
	}
	adminCreds, err := enroll.AdminCreds(dir, reg.Keys())
	if err != nil {
		t.Fatal(err)
	}
	nodes := startCluster(t, reg, "ta")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	relayNC, err := Dial(ctx, DialConfig{URL: clusterURLs(nodes), Credentials: adminCreds, Name: "relay", Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer relayNC.Close()
	gctx, gcancel := context.WithCancel(ctx)
	gwDone := make(chan error, 1)
	go func() { gwDone <- ingest.NewGateway(relayNC, "gw", testLogger(t), nil).Run(gctx) }()
	defer func() { gcancel(); <-gwDone }()
	relayJS, err := jetstream.New(relayNC)
	if err != nil {
		t.Fatal(err)
	}
	agentNC, err := nats.Connect(clusterURLs(nodes), nats.UserCredentials(agentCreds), nats.CustomInboxPrefix(wire.InboxPrefix("ta", "agent1")),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer agentNC.Close()
	agentJS, err := jetstream.New(agentNC)
	if err != nil {
		t.Fatal(err)
	}
	r3NodeLoss(ctx, t, nodes, relayJS, agentJS)
}

func clusterURLs(nodes []*server.Server) string {
	var urls []string
	for _, ns := range nodes {
		urls = append(urls, ns.ClientURL())
	}
	return strings.Join(urls, ",")
}

// r3NodeLoss creates the R3 stream through js, publishes through pub while
// the stream leader shuts down, and reads every acknowledged batch back
// exactly once.
func r3NodeLoss(ctx context.Context, t *testing.T, nodes []*server.Server, js, pub jetstream.JetStream) {
	t.Helper()
	var st jetstream.Stream
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() (err error) {
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		defer scancel()
		st, err = ingest.EnsureStream(sctx, js, ingest.StreamConfig{MaxBytes: 64 << 20, Replicas: 3, Duplicates: 5 * time.Minute})
		return err
	})
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 {
		t.Fatalf("replicas = %d", info.Config.Replicas)
	}

	const total = 300
	acked := map[string]bool{}
	retries := 0
	shutDown := make(chan struct{})
	for i := range total {
		id := fmt.Sprintf("batch-%03d", i)
		if i == total/3 {
			// Shut the leader down while the next publishes are in flight.
			leader := streamLeader(ctx, t, st, nodes)
			go func() {
				defer close(shutDown)
				leader.Shutdown()
			}()
		}
		natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			defer pcancel()
			_, err := pub.Publish(pctx, wire.IngestSubject("ta", "snow", "incident"), []byte(id), jetstream.WithMsgID(id))
			if err != nil {
				retries++
			}
			return err
		})
		acked[id] = true
	}
	<-shutDown
	t.Logf("published %d, %d retried attempts", len(acked), retries)

	// Read every stored message back by sequence from the surviving nodes.
	got := map[string]int{}
	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		got = map[string]int{}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				return fmt.Errorf("get %d: %w", seq, err)
			}
			got[m.Header.Get(nats.MsgIdHdr)]++
		}
		if len(got) < len(acked) {
			return fmt.Errorf("read %d distinct ids, want %d", len(got), len(acked))
		}
		return nil
	})
	for id := range acked {
		if got[id] != 1 {
			t.Errorf("%s stored %d times", id, got[id])
		}
	}
}

func streamLeader(ctx context.Context, t *testing.T, st jetstream.Stream, nodes []*server.Server) *server.Server {
	t.Helper()
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %v", err)
	}
	for _, ns := range nodes {
		if ns.Name() == info.Cluster.Leader {
			t.Logf("shutting down stream leader %s", ns.Name())
			return ns
		}
	}
	t.Fatalf("leader %q not found", info.Cluster.Leader)
	return nil
}
