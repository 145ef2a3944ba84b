package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/api"
	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/ingest"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// relayProc is one `sei-relay run` running in-process on its own data_dir.
type relayProc struct {
	name    string
	httpURL string
	cancel  context.CancelFunc
	done    chan int
	stderr  *syncBuffer
	client  *http.Client

	stopOnce sync.Once
	code     int
	stopped  bool
}

// startRelayProc writes the configuration config(dir) returns into a fresh
// directory, runs the relay with it and waits for its relay.json. The relay
// is stopped at the end of the test if the test did not stop it.
func startRelayProc(t *testing.T, name string, config func(dir string) string) *relayProc {
	t.Helper()
	return startRelayProcAt(t, name, "", config)
}

// startRelayProcAt is startRelayProc for a configuration whose data_dir is
// dataDir ("": dir/data).
func startRelayProcAt(t *testing.T, name, dataDir string, config func(dir string) string) *relayProc {
	t.Helper()
	dir := t.TempDir()
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	cfgPath := writeConfig(t, dir, config(dir))
	ctx, cancel := context.WithCancel(context.Background())
	r := &relayProc{name: name, cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	go func() { r.done <- run(ctx, []string{"run", "-c", cfgPath}, io.Discard, r.stderr) }()
	t.Cleanup(func() { r.shutdown() })
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case code := <-r.done:
			r.done <- code
			t.Fatalf("%s exited with %d:\n%s", name, code, r.stderr)
		default:
		}
		ri, err := readRunInfo(dataDir)
		r.httpURL = ri.HTTPURL
		return err
	})
	return r
}

// shutdown cancels the relay and waits for it; it reports whether it
// stopped in time.
func (r *relayProc) shutdown() bool {
	r.stopOnce.Do(func() {
		r.cancel()
		select {
		case r.code = <-r.done:
			r.stopped = true
		case <-time.After(30 * time.Second):
		}
	})
	return r.stopped
}

// stop stops the relay and checks it exited cleanly.
func (r *relayProc) stop(t *testing.T) {
	t.Helper()
	if !r.shutdown() {
		t.Fatalf("%s did not stop within 30s", r.name)
	}
	if r.code != command.ExitOK {
		t.Errorf("%s exited %d:\n%s", r.name, r.code, r.stderr)
	}
}

// get fetches path from the relay's API with the token.
func (r *relayProc) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.httpURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+scaleToken)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return resp, nil
}

// metric returns the value of an unlabelled metric from the relay's /metrics.
func (r *relayProc) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := r.get(context.Background(), "/metrics")
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: metric %s: %v", r.name, name, err)
			}
			return f
		}
	}
	t.Fatalf("%s: metric %s not in /metrics (%v)", r.name, name, sc.Err())
	return 0
}

// testBatch is one batch as an agent publishes it.
type testBatch struct {
	id                         string
	tenant, integration, table string
	agent                      string
	records                    []wire.Record
}

// msg builds the batch's message with the headers of relay/wire.
func (b testBatch) msg() (*nats.Msg, error) {
	body, err := wire.Encode(b.records)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(wire.IngestSubject(b.tenant, b.integration, b.table))
	m.Data = body
	m.Header.Set(wire.HeaderMsgID, b.id)
	m.Header.Set(wire.HeaderSchema, wire.SchemaVersion)
	m.Header.Set(wire.HeaderAgent, b.agent)
	m.Header.Set(wire.HeaderRecords, strconv.Itoa(len(b.records)))
	m.Header.Set(wire.HeaderEncoding, wire.Encoding)
	return m, nil
}

// history returns every version of keys records of table: key k has
// versions(k) versions, the last one a delete when deleted(k, n). Versions
// of a key grow in (sys_updated_on, sys_mod_count); pairs share their
// sys_updated_on, so the mod count decides between them. Every tenant uses
// the same sys_ids, with fields naming the tenant.
func history(tenant, table string, keys int, versions func(k int) int, deleted func(k, n int) bool) []wire.Record {
	base := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var out []wire.Record
	for k := range keys {
		n := versions(k)
		del := deleted(k, n)
		for v := 1; v <= n; v++ {
			r := wire.Record{
				Op: wire.OpUpsert, Table: table, SysID: fmt.Sprintf("%032x", k),
				SysUpdatedOn: base.Add(time.Duration(k)*time.Minute + time.Duration(v/2)*time.Second).Format(wire.TimeLayout),
				SysModCount:  int64(v),
			}
			if v == n && del {
				r.Op = wire.OpDelete
			} else {
				r.Fields = map[string]json.RawMessage{
					"number": json.RawMessage(fmt.Sprintf(`"%s%05d"`, strings.ToUpper(table[:3]), k)),
					"tenant": json.RawMessage(strconv.Quote(tenant)),
					"v":      json.RawMessage(strconv.Itoa(v)),
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// chunk cuts recs into batches of size() records with stable ids.
func chunk(tenant, integration, table string, recs []wire.Record, size func() int) []testBatch {
	var out []testBatch
	for len(recs) > 0 {
		n := min(len(recs), size())
		out = append(out, testBatch{
			id:     fmt.Sprintf("%s-%s-%s-%04d", tenant, integration, table, len(out)),
			tenant: tenant, integration: integration, table: table, agent: "agent-0",
			records: recs[:n:n],
		})
		recs = recs[n:]
	}
	return out
}

// newest returns what the store must hold after batches: the newest version
// of every key as store.Record, in List order (tenant, integration, table,
// sys_id).
func newest(batches []testBatch) []store.Record {
	byKey := map[string]store.Record{}
	for _, b := range batches {
		for _, r := range b.records {
			sr := store.Record{Tenant: b.tenant, Integration: b.integration, Table: r.Table, SysID: r.SysID,
				SysUpdatedOn: r.SysUpdatedOn, SysModCount: r.SysModCount, Deleted: r.Op == wire.OpDelete}
			if !sr.Deleted {
				f, err := json.Marshal(r.Fields)
				if err != nil {
					panic(err)
				}
				sr.Fields = f
			}
			k := strings.Join([]string{sr.Tenant, sr.Integration, sr.Table, sr.SysID}, "/")
			if old, ok := byKey[k]; !ok || sr.Version().Newer(old.Version()) {
				byKey[k] = sr
			}
		}
	}
	out := make([]store.Record, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b store.Record) int { return store.CompareKeys(&a, &b) })
	return out
}

// publishRetry publishes b and waits for its PubAck, publishing again with
// the same Nats-Msg-Id after any error, as the agent's forwarder does, for
// at most total. It returns the ack and how many attempts failed.
func publishRetry(ctx context.Context, js jetstream.JetStream, b testBatch, total time.Duration) (*jetstream.PubAck, int, error) {
	deadline := time.Now().Add(total)
	for failed := 0; ; failed++ {
		m, err := b.msg()
		if err != nil {
			return nil, failed, fmt.Errorf("encode batch %s: %w", b.id, err)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := js.PublishMsg(pctx, m)
		cancel()
		if err == nil {
			return ack, failed, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, failed, fmt.Errorf("publish batch %s: %d attempts failed, last: %w", b.id, failed+1, err)
		}
		select { // back off: the cluster may be electing a leader
		case <-time.After(time.Duration(50+rand.IntN(100)) * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// listRecords reads every record of tenant from the relay's API, page by
// page, following Sei-Next-Cursor.
func (r *relayProc) listRecords(ctx context.Context, tenant string) ([]store.Record, error) {
	var out []store.Record
	after := ""
	for {
		q := url.Values{"tenant": {tenant}, "limit": {"250"}}
		if after != "" {
			q.Set("after", after)
		}
		resp, err := r.get(ctx, "/v1/records?"+q.Encode())
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(resp.Body)
		for {
			var rec store.Record
			if err := dec.Decode(&rec); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				resp.Body.Close()
				return nil, fmt.Errorf("decode records: %w", err)
			}
			out = append(out, rec)
		}
		resp.Body.Close()
		if after = resp.Header.Get(api.HeaderNextCursor); after == "" {
			return out, nil
		}
	}
}

// checkRecords compares every tenant's records in relay r with want, field
// by field (fields compared as JSON values).
func checkRecords(ctx context.Context, t *testing.T, r *relayProc, want []store.Record) {
	t.Helper()
	var tenants []string
	for _, w := range want {
		if !slices.Contains(tenants, w.Tenant) {
			tenants = append(tenants, w.Tenant)
		}
	}
	var got []store.Record
	for _, tn := range tenants {
		recs, err := r.listRecords(ctx, tn)
		if err != nil {
			t.Fatalf("list records of %s from %s: %v", tn, r.name, err)
		}
		got = append(got, recs...)
	}
	asJSON := cmp.Transformer("json", func(raw json.RawMessage) any {
		var v any // a tombstone's nil and the API's null are both nil
		if len(raw) == 0 {
			return v
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return string(raw)
		}
		return v
	})
	if diff := cmp.Diff(want, got, asJSON); diff != "" {
		t.Errorf("records in %s (-want +got), %d want, %d got:\n%s", r.name, len(want), len(got), diff)
	}
}

// checkRowCount counts the rows of the records table, straight from
// PostgreSQL: no duplicates or strays beyond what the API shows.
func checkRowCount(ctx context.Context, t *testing.T, dsn string, want int) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to postgres: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM records").Scan(&n); err != nil {
		t.Fatalf("count records: %v", err)
	}
	if n != want {
		t.Errorf("records table holds %d rows, want %d", n, want)
	}
}

// consumerInfo returns the relays' shared durable consumer's info.
func consumerInfo(ctx context.Context, js jetstream.JetStream) (*jetstream.ConsumerInfo, error) {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := js.Consumer(ictx, wire.StreamName, ingest.DefaultDurable)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ingest.DefaultDurable, err)
	}
	return c.Info(ictx)
}

// streamInfo returns st's info, waiting at most 2s: a request the cluster
// drops while it elects a leader must not block a polling loop.
func streamInfo(ctx context.Context, st jetstream.Stream) (*jetstream.StreamInfo, error) {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return st.Info(ictx)
}

// waitDrained waits until every batch was acknowledged: the work-queue
// stream is empty and the consumer has nothing pending. A relay acks only
// after its store commit, so the store is complete then.
func waitDrained(ctx context.Context, t *testing.T, js jetstream.JetStream, total time.Duration) {
	t.Helper()
	natstest.CheckFor(t, total, 100*time.Millisecond, func() error {
		info, err := consumerInfo(ctx, js)
		if err != nil {
			return err
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := js.Stream(ictx, wire.StreamName)
		if err != nil {
			return err
		}
		sinfo, err := st.Info(ictx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 || sinfo.State.Msgs != 0 {
			return fmt.Errorf("not drained: %d pending, %d awaiting ack, %d in the stream",
				info.NumPending, info.NumAckPending, sinfo.State.Msgs)
		}
		return nil
	})
}

// waitGroup waits for wg, failing the test when ctx ends first.
func waitGroup(ctx context.Context, t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("waiting for publishers: %v", ctx.Err())
	}
}

// connectJS connects to url (comma-separated for a cluster), reconnecting
// forever, with opts (credentials), and opens JetStream.
func connectJS(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("scale-test"), nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return nc, js
}

// startNATS starts a single external NATS server with JetStream.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	return natstest.Start(t, &server.Options{JetStreamMaxStore: 256 << 20, JetStreamMaxMemory: 32 << 20})
}

// startNATSCluster starts three JetStream nodes routed to each other, the
// approach of natsbox's cluster test. Route listeners need their peers'
// ports up front, so the ports are reserved by listening on :0 first.
func startNATSCluster(t *testing.T) []*server.Server {
	t.Helper()
	return startNATSClusterWith(t, nil)
}

// startNATSClusterWith is startNATSCluster with each node's options passed
// through edit (nil: none) before it starts.
func startNATSClusterWith(t *testing.T, edit func(*server.Options)) []*server.Server {
	t.Helper()
	var ports []int
	var routes []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ports = append(ports, p)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	// The store directories come first: cleanups run last-in first-out, so
	// the nodes stop before their directories are removed.
	var dirs []string
	for range ports {
		dirs = append(dirs, t.TempDir())
	}
	var nodes []*server.Server
	t.Cleanup(func() {
		for _, ns := range nodes {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	})
	for i, p := range ports {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
			JetStream: true, StoreDir: dirs[i], JetStreamMaxStore: 256 << 20, JetStreamMaxMemory: 32 << 20,
			Cluster: server.ClusterOpts{Name: "sei", Host: "127.0.0.1", Port: p},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		if edit != nil {
			edit(opts)
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		nodes = append(nodes, ns)
	}
	for _, ns := range nodes {
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready", ns.Name())
		}
	}
	return nodes
}

// clientNode returns the one node holding a client connection called name.
func clientNode(t *testing.T, nodes []*server.Server, name string) *server.Server {
	t.Helper()
	on := connectedTo(nodes, name)
	for _, ns := range nodes {
		if ns.Name() == on {
			return ns
		}
	}
	t.Fatalf("connection %s: on nodes %q, want exactly one", name, on)
	return nil
}

// connectedTo names the nodes holding a client connection called name.
func connectedTo(nodes []*server.Server, name string) string {
	var on []string
	for _, ns := range nodes {
		if cz, err := ns.Connz(&server.ConnzOptions{}); err == nil {
			for _, c := range cz.Conns {
				if c.Name == name {
					on = append(on, ns.Name())
				}
			}
		}
	}
	return strings.Join(on, ",")
}

// streamLeader returns the node leading st.
func streamLeader(ctx context.Context, t *testing.T, st jetstream.Stream, nodes []*server.Server) *server.Server {
	t.Helper()
	var leader *server.Server
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		info, err := streamInfo(ctx, st)
		if err != nil {
			return err
		}
		if info.Cluster == nil {
			return errors.New("stream info has no cluster")
		}
		for _, ns := range nodes {
			if ns.Name() == info.Cluster.Leader {
				leader = ns
				return nil
			}
		}
		return fmt.Errorf("stream leader %q is no node of the cluster", info.Cluster.Leader)
	})
	return leader
}
